#include "shm/backend_table.h"

#include <sched.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <stdexcept>
#include <string>

namespace wsgate::shm {

// Counters are read approximately by other processes; no ordering with other
// memory is needed, so relaxed atomics suffice, except where a comment says
// what a stronger order publishes (health transitions, the error seqlock).
constexpr auto kRelaxed = std::memory_order_relaxed;

namespace {

constexpr auto kUp = static_cast<uint32_t>(BackendState::up);
constexpr auto kDown = static_cast<uint32_t>(BackendState::down);
// A reader gives up after this many torn reads rather than spin behind a
// writer that died inside its copy (the text then stays frozen; nothing
// else depends on it).
constexpr int kErrorReadAttempts = 1000;

// Moves `health` from one state to another, once: of two processes racing
// to take a backend down, only one counts the transition. Release, so a
// worker that sees "up" also sees the up_since_ms stored before it.
bool transition(BackendEntry& b, uint32_t from, uint32_t to) {
  if (!b.health.compare_exchange_strong(from, to, std::memory_order_release, kRelaxed)) {
    return false;
  }
  b.state_changes.fetch_add(1, kRelaxed);
  return true;
}

// The text as status may print it anywhere: printable ASCII only, so a
// backend's reason phrase cannot smuggle control bytes into a terminal or
// invalid UTF-8 into JSON.
void sanitize_error(std::string_view text, char (&out)[kErrorLen]) {
  std::memset(out, 0, sizeof out);
  size_t n = std::min(text.size(), kErrorLen - 1);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    out[i] = c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
}

void copy_name(char (&dst)[kNameLen], std::string_view src) {
  if (src.size() >= kNameLen) {
    throw std::length_error("name too long for shared memory: " + std::string(src));
  }
  std::memcpy(dst, src.data(), src.size());
  dst[src.size()] = '\0';
}

}  // namespace

uint32_t BackendTable::pool_index_for(std::string_view pool) {
  uint32_t n = t_->header.pool_count.load(kRelaxed);
  for (uint32_t i = 0; i < n; ++i) {
    if (pool == t_->pools[i].name) {
      return i;
    }
  }
  if (n >= kMaxPools) {
    throw std::length_error("more than " + std::to_string(kMaxPools) + " pools");
  }
  copy_name(t_->pools[n].name, pool);
  t_->pools[n].tat_ns.store(0, kRelaxed);
  t_->header.pool_count.store(n + 1, std::memory_order_release);
  return n;
}

uint32_t BackendTable::add_backend(std::string_view pool, std::string_view address, uint32_t weight,
                                   HealthPolicy policy) {
  uint32_t i = t_->header.backend_count.load(kRelaxed);
  if (i >= kMaxBackends) {
    throw std::length_error("more than " + std::to_string(kMaxBackends) + " backends");
  }
  BackendEntry& b = t_->backends[i];
  copy_name(b.pool, pool);
  copy_name(b.address, address);
  b.pool_index = pool_index_for(pool);
  b.rise = policy.fall > 0 ? std::max<uint32_t>(policy.rise, 1) : 0;
  b.fall = policy.fall;
  b.weight.store(weight, kRelaxed);
  b.admin_state.store(kUp, kRelaxed);
  b.health.store(kUp, kRelaxed);
  b.rtt_us.store(-1, kRelaxed);
  t_->header.backend_count.store(i + 1, std::memory_order_release);
  return i;
}

std::optional<uint32_t> BackendTable::find_backend(std::string_view pool, std::string_view address) const {
  const uint32_t n = backend_count();
  for (uint32_t i = 0; i < n; ++i) {
    const BackendEntry& b = t_->backends[i];
    if (pool == b.pool && address == b.address) {
      return i;
    }
  }
  return std::nullopt;
}

void BackendTable::update_backend(uint32_t backend, uint32_t weight, HealthPolicy policy) {
  BackendEntry& b = t_->backends[backend];
  b.weight.store(weight, kRelaxed);
  b.rise.store(policy.fall > 0 ? std::max<uint32_t>(policy.rise, 1) : 0, kRelaxed);
  b.fall.store(policy.fall, kRelaxed);
}

void BackendTable::set_admin_state(uint32_t backend, BackendState state) {
  t_->backends[backend].admin_state.store(static_cast<uint32_t>(state), std::memory_order_release);
}

bool BackendTable::record_failure(uint32_t backend, int64_t now_ms, int64_t fail_timeout_ms, std::string_view why) {
  BackendEntry& b = t_->backends[backend];
  uint32_t failures = b.consecutive_failures.fetch_add(1, kRelaxed) + 1;
  b.failures_total.fetch_add(1, kRelaxed);
  if (!why.empty()) {
    set_last_error(backend, why);
  }
  if (b.fall == 0) {
    if (fail_timeout_ms > 0) {
      b.down_until_ms.store(now_ms + fail_timeout_ms, kRelaxed);
    }
    return false;
  }
  // With active checks, only the prober's `rise` good checks bring it back;
  // a fail_timeout window would let traffic in before they did.
  b.consecutive_ok.store(0, kRelaxed);
  if (failures < b.fall || !transition(b, kUp, kDown)) {
    return false;
  }
  if (why.empty()) {
    set_last_error(backend, std::to_string(failures) + " failed dials or upgrades in a row");
  }
  return true;
}

void BackendTable::record_success(uint32_t backend) {
  BackendEntry& b = t_->backends[backend];
  if (b.consecutive_failures.load(kRelaxed) != 0) {
    b.consecutive_failures.store(0, kRelaxed);
  }
}

Transition BackendTable::record_check(uint32_t backend, const CheckResult& result, int64_t now_ms) {
  BackendEntry& b = t_->backends[backend];
  b.last_check_ms.store(now_ms, kRelaxed);
  if (result.ok) {
    b.rtt_us.store(result.rtt_us, kRelaxed);
    b.consecutive_failures.store(0, kRelaxed);
    uint32_t good = b.consecutive_ok.fetch_add(1, kRelaxed) + 1;
    if (good < std::max<uint32_t>(b.rise, 1) || b.health.load(kRelaxed) != kDown) {
      return Transition::none;
    }
    b.up_since_ms.store(now_ms, kRelaxed);  // published by the release in transition()
    return transition(b, kDown, kUp) ? Transition::went_up : Transition::none;
  }
  set_last_error(backend, result.error);
  b.consecutive_ok.store(0, kRelaxed);
  uint32_t failures = b.consecutive_failures.fetch_add(1, kRelaxed) + 1;
  if (failures < std::max<uint32_t>(b.fall, 1)) {
    return Transition::none;
  }
  return transition(b, kUp, kDown) ? Transition::went_down : Transition::none;
}

// A seqlock (Boehm, "Can seqlocks get along with programming language memory
// models?"): the sequence is odd while the text changes. Writers take it with
// a CAS and never wait for each other, since the one holding it may be a
// process that just died.
bool BackendTable::set_last_error(uint32_t backend, std::string_view text) {
  BackendEntry& b = t_->backends[backend];
  uint32_t seq = b.error_seq.load(kRelaxed);
  if ((seq & 1) != 0 || !b.error_seq.compare_exchange_strong(seq, seq + 1, kRelaxed, kRelaxed)) {
    return false;
  }
  std::atomic_thread_fence(std::memory_order_release);  // the odd sequence before any word
  char bytes[kErrorLen];
  sanitize_error(text, bytes);
  for (size_t w = 0; w < kErrorWords; ++w) {
    uint64_t word = 0;
    std::memcpy(&word, bytes + w * sizeof word, sizeof word);
    b.last_error[w].store(word, kRelaxed);
  }
  b.error_seq.store(seq + 2, std::memory_order_release);
  return true;
}

std::string BackendTable::last_error(uint32_t backend) const {
  const BackendEntry& b = t_->backends[backend];
  for (int attempt = 0; attempt < kErrorReadAttempts; ++attempt) {
    uint32_t before = b.error_seq.load(std::memory_order_acquire);
    if ((before & 1) != 0) {
      sched_yield();
      continue;
    }
    char bytes[kErrorLen];
    for (size_t w = 0; w < kErrorWords; ++w) {
      uint64_t word = b.last_error[w].load(kRelaxed);
      std::memcpy(bytes + w * sizeof word, &word, sizeof word);
    }
    std::atomic_thread_fence(std::memory_order_acquire);  // the words before the re-check
    if (b.error_seq.load(kRelaxed) == before) {
      bytes[kErrorLen - 1] = '\0';
      return std::string(bytes, strnlen(bytes, kErrorLen));
    }
  }
  return {};
}

uint32_t BackendTable::backend_count() const {
  return std::min(t_->header.backend_count.load(std::memory_order_acquire), kMaxBackends);
}

uint32_t BackendTable::pool_count() const {
  return std::min(t_->header.pool_count.load(std::memory_order_acquire), kMaxPools);
}

bool BackendTable::available(uint32_t backend, int64_t now_ms) const {
  const BackendEntry& b = t_->backends[backend];
  return b.admin_state.load(kRelaxed) == kUp && b.health.load(std::memory_order_acquire) == kUp &&
         b.down_until_ms.load(kRelaxed) <= now_ms;
}

BackendState BackendTable::health(uint32_t backend) const {
  return static_cast<BackendState>(t_->backends[backend].health.load(std::memory_order_acquire));
}

int64_t BackendTable::down_for_ms(uint32_t backend, int64_t now_ms) const {
  return std::max<int64_t>(0, t_->backends[backend].down_until_ms.load(kRelaxed) - now_ms);
}

}  // namespace wsgate::shm
