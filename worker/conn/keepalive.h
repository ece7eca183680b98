// Keep-alive toward a client (routes[].ping_interval and pong_timeout):
// wsgate pings a client that has sent nothing for ping_interval, and takes it
// for half-open (cable pulled, machine gone) when nothing at all comes back
// within pong_timeout. Only state and arithmetic live here: the owner (a
// relaying Session, a Subscriber) runs it on the one uv timer it already has,
// so keep-alive adds no handle and no bytes to an idle connection.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace wsgate::worker {

class Keepalive {
 public:
  // The client sent something: any bytes, a pong or not, prove it alive.
  void heard(uint64_t now_ms) {
    heard_ms_ = static_cast<uint32_t>(now_ms) & kMask;
    awaiting_pong_ = 0;
  }
  // Milliseconds until a ping is due after the client's silence; 0 = now.
  uint64_t until_ping(uint64_t now_ms, conf::Duration interval) const;
  // A ping went out: the client has to send something before pong_timeout.
  void ping_sent() { awaiting_pong_ = 1; }
  // Asked pong_timeout after ping_sent(): nothing was heard since.
  bool half_open() const { return awaiting_pong_ != 0; }

 private:
  // uv_now() in ms, modulo 2^31: differences stay exact for silences under
  // 24 days, far above the longest ping_interval (1h). 4 bytes in all, so
  // the field fits in padding the owners already had.
  static constexpr uint32_t kMask = 0x7fffffff;
  uint32_t heard_ms_ : 31 = 0;
  uint32_t awaiting_pong_ : 1 = 0;
};

// What wsgate's own pings carry ("wsgate keepalive 17"), so that their pongs
// are told apart from pongs a client sends its backend, which are relayed.
inline constexpr std::string_view kKeepalivePrefix = "wsgate keepalive ";
std::string keepalive_ping_payload(uint64_t n);
bool is_keepalive_pong(std::span<const uint8_t> payload);

}  // namespace wsgate::worker
