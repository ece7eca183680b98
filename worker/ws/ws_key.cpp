#include "worker/ws/ws_key.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <system_error>

// SHA-1 and base64 come from Boost.Beast's detail namespace (the same code
// Beast's own websocket handshake uses). They are not a documented public API,
// so a Boost upgrade may move them; the RFC 6455 test vector in
// tests/unit/worker/ws_key_test.cpp will catch that. Beast is header-only by
// default (BOOST_BEAST_HEADER_ONLY), so the .hpp pulls in the .ipp.
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/detail/sha1.hpp>

namespace wsgate::worker {

namespace {

namespace base64 = boost::beast::detail::base64;

constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kKeyBytes = 16;
constexpr size_t kKeyChars = 24;  // base64::encoded_size(16): 22 data chars + "=="

// Fills `out` from the kernel CSPRNG. getrandom() may be interrupted by a
// signal or return fewer bytes than asked; anything else means the kernel has
// no usable entropy source, which wsgate cannot work around: throw.
void fill_random(void* out, size_t size) {
  auto* p = static_cast<unsigned char*>(out);
  while (size > 0) {
    const ssize_t n = ::getrandom(p, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom() failed");
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

std::string base64_encode(const void* data, size_t size) {
  std::string out(base64::encoded_size(size), '\0');
  out.resize(base64::encode(out.data(), data, size));
  return out;
}

}  // namespace

std::string make_ws_key() {
  uint8_t bytes[kKeyBytes];
  fill_random(bytes, sizeof bytes);
  return ws_key_from_bytes(bytes);
}

std::string ws_key_from_bytes(const uint8_t (&random)[kKeyBytes]) { return base64_encode(random, kKeyBytes); }

std::string ws_accept_for(std::string_view key) {
  boost::beast::detail::sha1_context ctx;
  boost::beast::detail::init(ctx);
  boost::beast::detail::update(ctx, key.data(), key.size());
  boost::beast::detail::update(ctx, kAcceptGuid.data(), kAcceptGuid.size());
  std::array<unsigned char, boost::beast::detail::sha1_context::digest_size> digest{};
  boost::beast::detail::finish(ctx, digest.data());
  return base64_encode(digest.data(), digest.size());
}

bool is_valid_ws_key(std::string_view key) {
  // 16 bytes encode to 22 significant characters and "==" padding; anything
  // else (other lengths, missing padding, "=" inside, non-alphabet bytes,
  // whitespace) is not "base64 of exactly 16 bytes". The four low bits of the
  // last data character are padding bits; non-zero ones still decode to 16
  // bytes, so they are accepted, as most servers do.
  constexpr size_t kDataChars = kKeyChars - 2;
  if (key.size() != kKeyChars || key.substr(kDataChars) != "==") return false;
  std::array<unsigned char, base64::decoded_size(kKeyChars)> decoded{};
  const auto [written, read] = base64::decode(decoded.data(), key.data(), kDataChars);
  return read == kDataChars && written == kKeyBytes;
}

}  // namespace wsgate::worker
