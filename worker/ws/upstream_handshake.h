// The upgrade request wsgate sends a backend and the judgement of its answer
// (checklist rows B1-B3). Boost.Beast stays inside the .cpp.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/ws/client_handshake.h"

namespace wsgate::worker {

// Every upgrade request wsgate sends as a WebSocket client: to a pool's
// backend, in a health check, to a stream source. One writer for all of them,
// and it refuses CR/LF in every line, so nothing can split a request.
// Nothing is copied on the way: every session dials with one, so it only
// points at what the caller holds.
struct UpgradeRequest {
  std::string_view target;
  std::string_view host;
  std::string_view key;
  const std::vector<std::string>* protocols = nullptr;  // Sec-WebSocket-Protocol offer, in order
  const HeaderList* headers = nullptr;                  // further lines, in order
};
using HeaderLine = std::pair<std::string_view, std::string_view>;
// GET <target> HTTP/1.1, Host, Upgrade: websocket, Connection: Upgrade,
// Sec-WebSocket-Key, Sec-WebSocket-Version: 13, the protocol offer, then
// `headers`, then `more`.
std::string build_upgrade_request(const UpgradeRequest& r, std::initializer_list<HeaderLine> more = {});

// A client's request as wsgate passes it to a backend: GET <target> HTTP/1.1 with Host, Upgrade: websocket, Connection:
// Upgrade, Sec-WebSocket-Key: <key>, Sec-WebSocket-Version: 13, the client's Sec-WebSocket-Protocol offer (no
// extensions: permessage-deflate is never offered upstream), the forward_headers, and X-Forwarded-For: <client's XFF,
// >client_ip, X-Forwarded-Proto: http (https for a TLS client), X-Real-IP: client_ip, and for a verified client
// certificate X-Client-Cert-Subject and X-Client-Cert-Sha256.
std::string build_upstream_request(const ClientRequest& req, std::string_view client_ip, std::string_view key);

// What to do with the backend's answer.
struct UpstreamVerdict {
  enum class Kind {
    upgraded,      // a valid 101: relay; `protocol` is the chosen subprotocol or empty
    pass_through,  // a non-101 status: `client_response` is sent to the client as is (B1)
    bad_gateway,   // an invalid 101 or unparseable answer: 502 (B2, B3); `why` says what
  };
  Kind kind = Kind::bad_gateway;
  int status = 0;  // the backend's status code, when it sent one
  std::string protocol;
  std::string client_response;  // for pass_through: a complete HTTP/1.1 response
                                // with Connection: close and Content-Length
  std::string why;
};

// Incremental reader of the backend's response, as RequestReader. For a 101
// it stops at the end of the header (later bytes are frames). For any other
// status it also reads the body (at most 64 KiB; Content-Length, chunked, or
// until EOF) so it can be passed to the client.
class ResponseReader {
 public:
  enum class Status { need_more, done, error };

  ResponseReader();
  ~ResponseReader();
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  Status parse(std::string_view received);
  // The backend closed its side: completes a close-delimited body (done), or
  // is an error when the header was not complete.
  Status on_eof();

  // Valid after done: bytes of `received` taken by the response header (101)
  // or by header and body (others).
  size_t consumed() const;
  // After done: the verdict, given what the client offered and the key wsgate sent.
  UpstreamVerdict judge(const ClientRequest& req, std::string_view sent_key) const;
  // After error: why it could not be parsed.
  const std::string& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsgate::worker
