// Sec-WebSocket-Key / Sec-WebSocket-Accept (RFC 6455 section 4.2.2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wsgate::worker {

// A fresh key: base64 of 16 bytes from getrandom().
std::string make_ws_key();

// The key for 16 random bytes the caller drew: a worker takes them from its
// pooled CSPRNG bytes (worker/net/random_bytes.h), saving a system call per session.
std::string ws_key_from_bytes(const uint8_t (&random)[16]);

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string ws_accept_for(std::string_view key);

// True when `key` is base64 of exactly 16 bytes (24 chars, "==" padding).
bool is_valid_ws_key(std::string_view key);

}  // namespace wsgate::worker
