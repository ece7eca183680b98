#include "worker/proxy/routing.h"

namespace wsgate::worker {

namespace {
// a is less loaded than b when a.sessions/a.weight < b.sessions/b.weight.
bool less_loaded(const Candidate& a, const Candidate& b) {
  return a.sessions * static_cast<int64_t>(b.weight) < b.sessions * static_cast<int64_t>(a.weight);
}
}  // namespace

std::optional<size_t> pick_least_conn(std::span<const Candidate> c, uint32_t& cursor) {
  const size_t n = c.size();
  std::optional<size_t> best;
  for (size_t k = 0; k < n; ++k) {
    size_t i = (cursor + k) % n;
    if (c[i].available && c[i].weight > 0 && (!best || less_loaded(c[i], c[*best]))) {
      best = i;
    }
  }
  if (best) {
    cursor = static_cast<uint32_t>((*best + 1) % n);
  }
  return best;
}

std::optional<size_t> pick_round_robin(std::span<const Candidate> c, std::vector<int64_t>& scores) {
  scores.resize(c.size(), 0);
  std::optional<size_t> best;
  int64_t total = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c[i].available || c[i].weight == 0) {
      continue;
    }
    scores[i] += c[i].weight;
    total += c[i].weight;
    if (!best || scores[i] > scores[*best]) {
      best = i;
    }
  }
  if (best) {
    scores[*best] -= total;
  }
  return best;
}

}  // namespace wsgate::worker
