// Generations: the proxy workers forked for one config. A reload that
// changes what workers are built around (listen, workers, routes, streams,
// auth rules) starts a new generation on the same listening sockets; once all
// of its workers are ready it is promoted to active and the old one retires:
// it stops accepting, and its sessions may finish until a deadline, after
// which what is left gets 1001 (spread over a few seconds) and, later still,
// SIGKILL. At most `max_generations` retire at once.
//
// This is the plan alone — states, deadlines and the limit — with no
// processes and no shared memory, so it can be tested as it is; the
// Supervisor signals the slots of what the plan retires.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "master/admin_socket.h"

namespace wsgate::master {

class StreamSet;

enum class GenState { starting, active, retiring };

struct Generation {
  uint32_t id = 0;
  std::shared_ptr<const conf::Config> config;
  std::string text;  // the file content, published once it is active
  std::vector<uint32_t> slots;
  GenState state = GenState::starting;
  int64_t started_ms = 0;
  int64_t deadline_ms = 0;  // retiring: what is left gets 1001 from this time on
  int64_t kill_at_ms = 0;   // retiring: SIGKILL what is left at this time
  std::string changes;      // what the reload changed, for the log
  std::shared_ptr<StreamSet> streams;
  std::optional<AdminSocket> admin_socket;  // bound for it, taken over at the switch
};

// What a reload to `fresh` needs besides its workers: whether the active
// generation's stream set (and feeder) can be kept, and the slots to take.
struct NewGenerationNeeds {
  bool same_streams = false;
  uint32_t slots = 0;  // its workers, and a feeder for a new stream set
};
NewGenerationNeeds plan_new_generation(const Generation* active, const conf::Config& fresh);

class Generations {
 public:
  // A new generation in `state` (ids count up from 1), newest last.
  Generation& add(std::shared_ptr<const conf::Config> config, std::string text, GenState state, int64_t now_ms);

  Generation* find(GenState state);
  const Generation* find(GenState state) const;
  Generation* by_id(uint32_t id);
  const Generation* by_id(uint32_t id) const;

  // `g` (starting) accepts now; the generation that was active, returned,
  // retires with `g`'s drain_timeout from now.
  Generation* promote(Generation& g, int64_t now_ms);
  // `g` retires: sessions may finish until `deadline_ms`; it is killed once
  // its own config's spread and close_timeout (and 2 s) have passed after.
  static void retire(Generation& g, int64_t deadline_ms);
  // A starting generation given up: it served no one, so it gets no time to
  // finish — only its close_timeout (and 2 s) before SIGKILL.
  static void abandon(Generation& g, int64_t now_ms);
  // The max_generations rule: the retiring generations still within their
  // deadline beyond the newest `max`, newest first; each must end now.
  std::vector<Generation*> over_limit(int64_t now_ms, uint32_t max);
  uint32_t retiring_count() const;
  // Retiring generations whose kill_at_ms has come: the caller SIGKILLs
  // what is left of each, then calls kill_again_later.
  std::vector<Generation*> kill_due(int64_t now_ms);
  static void kill_again_later(Generation& g, int64_t now_ms) { g.kill_at_ms = now_ms + 1000; }

  // Forgets `g` (retiring, with no process left).
  void erase(const Generation& g);
  bool empty() const { return list_.empty(); }
  auto begin() { return list_.begin(); }
  auto end() { return list_.end(); }
  auto begin() const { return list_.begin(); }
  auto end() const { return list_.end(); }

 private:
  std::vector<std::unique_ptr<Generation>> list_;  // oldest first
  uint32_t last_id_ = 0;
};

}  // namespace wsgate::master
