// The client's upgrade request: parse (Boost.Beast, kept out of this header)
// and validate against checklist rows H1-H4, H6-H8.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/ws/http_error.h"

namespace wsgate::worker {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ClientRequest {
  std::string target;                  // path and query exactly as sent ("/chat?room=1")
  std::string path;                    // target up to '?'
  std::string host;                    // Host header (required by HTTP/1.1)
  std::string origin;                  // empty when absent
  std::string key;                     // Sec-WebSocket-Key, validated
  std::vector<std::string> protocols;  // offered subprotocols in order (trimmed tokens)
  std::string x_forwarded_for;         // the client's own X-Forwarded-For, if any
  // End-to-end headers to pass to the backend, as sent (name case kept), in
  // order. Excluded: hop-by-hop headers (Connection, Keep-Alive,
  // Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
  // Proxy-Authorization, Proxy-Authenticate), every header named in
  // Connection, HTTP2-Settings, Host, Content-Length, all Sec-WebSocket-*
  // (wsgate sets its own), X-Forwarded-For/-Proto and X-Real-IP (rewritten),
  // X-Client-Cert-Subject/-Sha256 (only wsgate vouches for a certificate).
  HeaderList forward_headers;
  // Not from the request: what the transport knows, set by whoever read it.
  struct Tls {
    bool on = false;           // the client came over TLS: X-Forwarded-Proto https
    std::string cert_subject;  // a verified client certificate's subject (RFC 2253), else empty
    std::string cert_sha256;   // its SHA-256 fingerprint, lower-case hex
  } tls;
};

// Incremental reader. The caller keeps every byte received so far in one
// buffer and passes all of it to each parse() call; the reader remembers how
// far it looked, so a byte-by-byte trickle costs O(n) overall.
class RequestReader {
 public:
  enum class Status { need_more, done, error };

  explicit RequestReader(uint64_t max_header);
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // need_more: header incomplete (and under the limit).
  // done: request() and header_size() are valid; bytes past header_size()
  //       are the client's first frames (H9), not part of the request.
  // error: error() holds the answer: 400 malformed/H1/H2/H3, 426 H4
  //        (with Sec-WebSocket-Version: 13), 431 over max_header.
  Status parse(std::string_view received);

  const ClientRequest& request() const;
  ClientRequest& request();
  size_t header_size() const;
  const HttpError& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// H5: `allowed` empty means any origin; otherwise an exact, ASCII
// case-insensitive match. An absent Origin (non-browser client) is allowed.
bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin);

// The 101 wsgate sends the client once the backend accepted:
// Upgrade, Connection, Sec-WebSocket-Accept (from the client's key) and, when
// non-empty, Sec-WebSocket-Protocol.
std::string format_switching_protocols(const ClientRequest& req, std::string_view protocol);

}  // namespace wsgate::worker
