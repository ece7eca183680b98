#include "shm/ip_table.h"

#include <netinet/in.h>
#include <sched.h>
#include <sys/random.h>

#include <cassert>
#include <cstring>

#include "shm/gcra.h"
#include "shm/layout.h"

namespace wsgate::shm {

static_assert(kIpSlots == kMaxSlots, "one connection column per worker slot");

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr uint32_t kMask = kIpEntries - 1;
// A claim or an eviction is a handful of stores; a reader waits this many
// looks for one to end before taking its entry as someone else's and
// moving on (its process may have died inside: the master undoes that).
constexpr int kSettleSpins = 4096;
// Admissions that lost every race for their entry this often fail open.
constexpr int kAdmitRounds = 4;

IpPhase phase(uint32_t s) { return static_cast<IpPhase>(s & 7u); }
uint32_t owner(uint32_t s) { return (s >> 3) & 0xffu; }
uint32_t generation(uint32_t s) { return s >> 11; }
uint32_t make_state(IpPhase p, uint32_t slot, uint32_t gen) {
  return static_cast<uint32_t>(p) | (slot & 0xffu) << 3 | gen << 11;
}

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// seq_cst: an admission adds to its column and then re-reads the state; an
// eviction sets the state and then re-reads the columns. In one total order
// at least one of the two sees the other, so no count lands on a freed entry.
int64_t open_connections(const IpEntry& e) {
  int64_t sum = 0;
  for (const auto& c : e.conns) {
    sum += c.load(std::memory_order_seq_cst);
  }
  return sum;
}

bool key_matches(const IpEntry& e, const IpKey& key) {
  return e.key[0].load(kRelaxed) == key.hi && e.key[1].load(kRelaxed) == key.lo;
}

uint32_t settle(const IpEntry& e, uint32_t s) {
  for (int i = 0; i < kSettleSpins && (phase(s) == IpPhase::writing || phase(s) == IpPhase::evicting); ++i) {
    if (i % 64 == 63) {
      sched_yield();
    }
    s = e.state.load(std::memory_order_acquire);
  }
  return s;
}

uint64_t fresh_seed() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed)) {
    seed = mix(static_cast<uint64_t>(monotonic_ns()));  // early boot: weaker, still per instance
  }
  return seed | 1;  // 0 means "not seeded yet"
}

}  // namespace

std::optional<IpKey> ip_key_of(const sockaddr* addr) {
  IpKey k;
  if (addr->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
    k.lo = 0xffff00000000ULL | ntohl(a->sin_addr.s_addr);
    return k;
  }
  if (addr->sa_family != AF_INET6) {
    return std::nullopt;
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
  const uint8_t* b = a->sin6_addr.s6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
    k.lo = 0xffff00000000ULL | uint64_t{b[12]} << 24 | uint64_t{b[13]} << 16 | uint64_t{b[14]} << 8 | b[15];
    return k;
  }
  for (int i = 0; i < 8; ++i) {
    k.hi = k.hi << 8 | b[i];
  }
  k.lo = 1;  // an IPv6 /64: never equal to a mapped IPv4 key, whose lo has 0xffff in it
  return k;
}

uint32_t IpTable::home(const IpKey& key) {
  uint64_t seed = t_->seed.load(kRelaxed);
  if (seed == 0) {
    uint64_t mine = fresh_seed();
    seed = t_->seed.compare_exchange_strong(seed, mine, kRelaxed, kRelaxed) ? mine : seed;
  }
  return static_cast<uint32_t>(mix(mix(key.hi ^ seed) ^ key.lo)) & kMask;
}

std::optional<IpTable::Found> IpTable::find(const IpKey& key) const {
  const uint64_t seed = t_->seed.load(kRelaxed);
  if (seed == 0) {
    return std::nullopt;  // nobody has used the table yet
  }
  const uint32_t h = static_cast<uint32_t>(mix(mix(key.hi ^ seed) ^ key.lo)) & kMask;
  for (uint32_t i = 0; i < kIpMaxProbe; ++i) {
    const uint32_t idx = (h + i) & kMask;
    const IpEntry& e = t_->entries[idx];
    const uint32_t s = settle(e, e.state.load(std::memory_order_acquire));
    if (phase(s) == IpPhase::empty) {
      break;
    }
    if (phase(s) == IpPhase::live && key_matches(e, key)) {
      return Found{idx, s};
    }
  }
  return std::nullopt;
}

bool IpTable::try_evict(IpEntry& e, uint32_t live_state, uint32_t slot, int64_t now_ns) {
  if (e.tat_ns.load(kRelaxed) > now_ns || open_connections(e) != 0) {
    return false;
  }
  uint32_t expected = live_state;
  const uint32_t gen = generation(live_state);
  if (!e.state.compare_exchange_strong(expected, make_state(IpPhase::evicting, slot, gen), std::memory_order_seq_cst)) {
    return false;
  }
  if (e.tat_ns.load(kRelaxed) > now_ns || open_connections(e) != 0) {
    e.state.store(live_state, std::memory_order_seq_cst);  // an admission got in first
    return false;
  }
  e.state.store(make_state(IpPhase::free, slot, gen), std::memory_order_release);
  t_->evictions.fetch_add(1, kRelaxed);
  return true;
}

// Probes from the key's home: its live entry if there is one; else claims
// the first reusable entry on the way (evicting an idle one if none is free).
// The probe goes on past a reusable entry up to an empty one, so the key is
// not claimed twice while an older entry for it lies further on.
std::optional<IpTable::Found> IpTable::find_or_claim(const IpKey& key, uint32_t slot, int64_t now_ns) {
  for (int round = 0; round < kAdmitRounds; ++round) {
    const uint32_t h = home(key);
    std::optional<uint32_t> spot;
    uint32_t spot_state = 0;
    for (uint32_t i = 0; i < kIpMaxProbe; ++i) {
      const uint32_t idx = (h + i) & kMask;
      IpEntry& e = t_->entries[idx];
      const uint32_t s = settle(e, e.state.load(std::memory_order_acquire));
      const IpPhase p = phase(s);
      if (p == IpPhase::live && key_matches(e, key)) {
        return Found{idx, s};
      }
      if ((p == IpPhase::empty || p == IpPhase::free) && !spot) {
        spot = idx;
        spot_state = s;
      } else if (p == IpPhase::live && !spot && try_evict(e, s, slot, now_ns)) {
        spot = idx;
        spot_state = e.state.load(std::memory_order_acquire);
      }
      if (p == IpPhase::empty) {
        break;
      }
    }
    if (!spot) {
      return std::nullopt;
    }
    IpEntry& e = t_->entries[*spot];
    if (phase(spot_state) != IpPhase::empty && phase(spot_state) != IpPhase::free) {
      continue;  // taken again right after our eviction
    }
    const uint32_t gen = generation(spot_state) + 1;
    if (!e.state.compare_exchange_strong(spot_state, make_state(IpPhase::writing, slot, gen),
                                         std::memory_order_acq_rel)) {
      continue;  // another worker claimed it: look again, it may be for this key
    }
    e.key[0].store(key.hi, kRelaxed);
    e.key[1].store(key.lo, kRelaxed);
    e.tat_ns.store(0, kRelaxed);
    const uint32_t live = make_state(IpPhase::live, slot, gen);
    e.state.store(live, std::memory_order_release);
    return Found{*spot, live};
  }
  return std::nullopt;
}

IpAdmission IpTable::admit(const IpKey& key, uint32_t slot, const IpLimits& limits, int64_t now_ns) {
  assert(slot < kIpSlots);
  IpAdmission out;
  if (limits.max_connections == 0 && limits.rate_per_s == 0) {
    return out;
  }
  std::optional<Found> found;
  for (int round = 0; round < kAdmitRounds; ++round) {
    found = find_or_claim(key, slot, now_ns);
    if (!found) {
      break;
    }
    IpEntry& e = t_->entries[found->index];
    // Held from here: an eviction that checks the columns now sees this.
    e.conns[slot].fetch_add(1, std::memory_order_seq_cst);
    if (e.state.load(std::memory_order_seq_cst) == found->state) {
      break;
    }
    e.conns[slot].fetch_sub(1, kRelaxed);  // evicted or reused meanwhile
    found.reset();
  }
  if (!found) {
    t_->full_total.fetch_add(1, kRelaxed);
    out.untracked = true;
    return out;
  }
  IpEntry& e = t_->entries[found->index];
  if (limits.max_connections != 0 && open_connections(e) > limits.max_connections) {
    release(found->index, slot);
    t_->refused_connections.fetch_add(1, kRelaxed);
    out.verdict = IpAdmission::Verdict::over_connections;
    return out;
  }
  if (limits.rate_per_s != 0 &&
      !gcra_admit(e.tat_ns, Gcra::per_second(limits.rate_per_s, limits.rate_per_s), now_ns, &out.retry_after_ns)) {
    release(found->index, slot);
    t_->refused_rate.fetch_add(1, kRelaxed);
    out.verdict = IpAdmission::Verdict::over_rate;
    return out;
  }
  if (limits.max_connections == 0) {
    release(found->index, slot);  // held only while the rate was checked
    return out;
  }
  out.entry = found->index;
  return out;
}

void IpTable::release(uint32_t entry, uint32_t slot) {
  assert(entry < kIpEntries && slot < kIpSlots);
  [[maybe_unused]] uint16_t before = t_->entries[entry].conns[slot].fetch_sub(1, std::memory_order_release);
  assert(before > 0 && "per-IP connection released twice");
}

void IpTable::clear_slot(uint32_t slot) {
  assert(slot < kIpSlots);
  for (IpEntry& e : t_->entries) {
    e.conns[slot].store(0, kRelaxed);
    uint32_t s = e.state.load(std::memory_order_acquire);
    if (owner(s) != slot) {
      continue;
    }
    if (phase(s) == IpPhase::writing) {
      e.state.compare_exchange_strong(s, make_state(IpPhase::free, slot, generation(s)));
    } else if (phase(s) == IpPhase::evicting) {
      e.state.compare_exchange_strong(s, make_state(IpPhase::live, slot, generation(s)));
    }
  }
}

int64_t IpTable::connections(const IpKey& key) const {
  std::optional<Found> f = find(key);
  return f ? open_connections(t_->entries[f->index]) : 0;
}

uint32_t IpTable::live_entries() const {
  uint32_t n = 0;
  for (const IpEntry& e : t_->entries) {
    n += phase(e.state.load(kRelaxed)) == IpPhase::live ? 1 : 0;
  }
  return n;
}

}  // namespace wsgate::shm
