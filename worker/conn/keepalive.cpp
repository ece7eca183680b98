#include "worker/conn/keepalive.h"

namespace wsgate::worker {

uint64_t Keepalive::until_ping(uint64_t now_ms, conf::Duration interval) const {
  const uint64_t silent = (static_cast<uint32_t>(now_ms) - heard_ms_) & kMask;
  const auto want = static_cast<uint64_t>(interval.count());
  return silent >= want ? 0 : want - silent;
}

std::string keepalive_ping_payload(uint64_t n) { return std::string(kKeepalivePrefix) + std::to_string(n); }

bool is_keepalive_pong(std::span<const uint8_t> payload) {
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  return text.starts_with(kKeepalivePrefix);
}

}  // namespace wsgate::worker
