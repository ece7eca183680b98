// limits.max_connections_per_ip and limits.handshake_rate_per_ip for one new
// client connection, over all workers (shm/ip_table.h). Checked at accept,
// before a byte of the request is read: a refused client costs one write.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "conf/config.h"
#include "shm/ip_table.h"
#include "worker/ws/http_error.h"

namespace wsgate::worker {

// One counted connection of a client address; released on destruction. It
// moves with the connection: from a Session to the Subscriber of a stream route.
class IpLease {
 public:
  IpLease() = default;
  IpLease(shm::IpTableLayout& table, uint32_t entry, uint32_t slot) : table_(&table), entry_(entry), slot_(slot) {}
  IpLease(IpLease&& o) noexcept { *this = std::move(o); }
  IpLease& operator=(IpLease&& o) noexcept;
  IpLease(const IpLease&) = delete;
  IpLease& operator=(const IpLease&) = delete;
  ~IpLease() { release(); }
  void release();

 private:
  shm::IpTableLayout* table_ = nullptr;
  uint32_t entry_ = 0;
  uint32_t slot_ = 0;
};

// Admits the connection from `peer` (its lease returned), or says what to
// answer: 503 over max_connections_per_ip, 429 over handshake_rate_per_ip,
// both with Retry-After.
struct IpVerdict {
  IpLease lease;
  std::optional<HttpError> refusal;
};
IpVerdict admit_client_ip(shm::IpTableLayout& table, uint32_t slot, const conf::Limits& limits, const sockaddr* peer);

}  // namespace wsgate::worker
