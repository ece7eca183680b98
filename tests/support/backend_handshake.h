// The echo backend's answer to an upgrade request: a pure function of the
// request head and the backend's name, so every mode is easy to read in one
// place. The query parameter `mode=` picks a misbehaviour; the path is free.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tests/support/http_head.h"

namespace wsgate::test {

inline constexpr std::size_t kMaxRequestHead = 16 * 1024;

struct HandshakeDecision {
  enum class Action {
    kReject,   // send `response`, then close (HTTP error)
    kUpgrade,  // send `response` after `delay_ms`, then speak WebSocket
    kHang,     // never answer; keep the connection open
  };
  Action action = Action::kReject;
  std::string response;
  std::uint32_t delay_ms = 0;
  bool allow_rsv1 = false;  // the 101 named an extension, so RSV1 is legal
  std::string problem;      // why a request was refused with 400 (for the log)
};

HandshakeDecision decide_handshake(const HttpHead& request, std::string_view backend_name);

// 431 for a head over kMaxRequestHead.
std::string head_too_large_response(std::string_view backend_name);

// The value of `key` in the target's query string, or "" if absent.
std::string query_param(std::string_view target, std::string_view key);

}  // namespace wsgate::test
