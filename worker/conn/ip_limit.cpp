#include "worker/conn/ip_limit.h"

#include <algorithm>
#include <string>

#include "shm/gcra.h"

namespace wsgate::worker {

namespace {
// The connection limit frees up whenever one of the address's connections
// closes, which nothing here can predict: a short wait, as for max_connections.
constexpr const char* kConnectionsRetryAfter = "1";
}  // namespace

IpLease& IpLease::operator=(IpLease&& o) noexcept {
  if (this != &o) {
    release();
    table_ = std::exchange(o.table_, nullptr);
    entry_ = o.entry_;
    slot_ = o.slot_;
  }
  return *this;
}

void IpLease::release() {
  if (table_ != nullptr) {
    shm::IpTable(*table_).release(entry_, slot_);
    table_ = nullptr;
  }
}

IpVerdict admit_client_ip(shm::IpTableLayout& table, uint32_t slot, const conf::Limits& limits, const sockaddr* peer) {
  IpVerdict v;
  if (limits.max_connections_per_ip == 0 && limits.handshake_rate_per_ip == 0) {
    return v;
  }
  std::optional<shm::IpKey> key = shm::ip_key_of(peer);
  if (!key) {
    return v;  // not an IP peer: nothing to count it by
  }
  shm::IpTable t(table);
  shm::IpAdmission a =
      t.admit(*key, slot, {limits.max_connections_per_ip, limits.handshake_rate_per_ip}, shm::monotonic_ns());
  switch (a.verdict) {
    case shm::IpAdmission::Verdict::admitted:
      if (a.entry) {
        v.lease = IpLease(table, *a.entry, slot);
      }
      return v;
    case shm::IpAdmission::Verdict::over_connections:
      v.refusal = HttpError{503,
                            "too many connections from this address (max_connections_per_ip)",
                            {{"Retry-After", kConnectionsRetryAfter}}};
      return v;
    case shm::IpAdmission::Verdict::over_rate: {
      const int64_t secs = std::max<int64_t>(1, (a.retry_after_ns + 999999999) / 1000000000);
      v.refusal = HttpError{429,
                            "too many new connections from this address (handshake_rate_per_ip)",
                            {{"Retry-After", std::to_string(secs)}}};
      return v;
    }
  }
  return v;
}

}  // namespace wsgate::worker
