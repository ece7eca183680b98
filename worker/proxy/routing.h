// Backend choice: a pure function over a snapshot of the shared table, so it
// is tested without sockets (h2o's balancer selector, nginx's least_conn).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace wsgate::worker {

struct Candidate {
  int64_t sessions = 0;  // sum over every worker's row, incl. sessions still dialing
  uint32_t weight = 1;
  bool available = true;  // up, not passively down, not already tried for this client
};

// Least loaded = smallest sessions/weight (compared as s1*w2 < s2*w1, no
// division); among equals the first at or after `cursor`, which then moves
// past the winner, so ties rotate. nullopt when nothing is available.
std::optional<size_t> pick_least_conn(std::span<const Candidate> c, uint32_t& cursor);

// Smooth weighted round robin (nginx's): each pick adds every available
// candidate's weight to its running score, takes the highest, and subtracts
// the total from the winner. `scores` is per-worker state sized like `c`.
std::optional<size_t> pick_round_robin(std::span<const Candidate> c, std::vector<int64_t>& scores);

}  // namespace wsgate::worker
