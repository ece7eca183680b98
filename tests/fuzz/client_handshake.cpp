// The client's upgrade request (worker/ws/client_handshake.cpp), read as a
// worker reads it: every byte so far passed again after each read, the reads
// cut at points drawn from the input. Whatever the cuts, the verdict must be
// the one the whole input gets at once. An accepted request then goes through
// what the worker does with it next: the origin and auth checks, the 101 and
// the request written to the backend, which must stay one request.
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_support.h"
#include "worker/stream/stream_auth.h"
#include "worker/ws/client_handshake.h"
#include "worker/ws/upstream_handshake.h"

using namespace wsgate;
using namespace wsgate::worker;

namespace {

constexpr uint64_t kMaxHeader = 4096;

bool same_request(const ClientRequest& a, const ClientRequest& b) {
  return a.target == b.target && a.path == b.path && a.host == b.host && a.origin == b.origin && a.key == b.key &&
         a.protocols == b.protocols && a.x_forwarded_for == b.x_forwarded_for && a.forward_headers == b.forward_headers;
}

// One HTTP head: the only blank line is the one at its end, and no line
// carries a bare CR or LF.
void check_one_head(const std::string& head) {
  const size_t end = head.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos && end + 4 == head.size());
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r') FUZZ_CHECK(i + 1 < head.size() && head[i + 1] == '\n');
    if (head[i] == '\n') FUZZ_CHECK(i > 0 && head[i - 1] == '\r');
  }
}

void use_request(const ClientRequest& req) {
  FUZZ_CHECK(req.path == req.target.substr(0, req.target.find('?')));
  FUZZ_CHECK(!req.key.empty());
  (void)origin_allowed({"https://app.example"}, req.origin);
  check_one_head(format_switching_protocols(req, req.protocols.empty() ? "" : req.protocols.front()));
  check_one_head(build_upstream_request(req, "127.0.0.1", "dGhlIHNhbXBsZSBub25jZQ=="));

  conf::Auth auth;
  auth.keys = {"k1-secret", "k2"};
  std::string why;
  for (conf::AuthFrom from : {conf::AuthFrom::header, conf::AuthFrom::query}) {
    auth.from = from;
    auth.field = "key";
    (void)handshake_auth_ok(auth, req, why);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all = fuzz::as_text(data, size);

  RequestReader whole(kMaxHeader);
  const RequestReader::Status at_once = whole.parse(all);

  RequestReader pieces(kMaxHeader);
  fuzz::Splitter split(data, size);
  RequestReader::Status in_reads = RequestReader::Status::need_more;
  size_t received = 0;
  while (received < size && in_reads == RequestReader::Status::need_more) {
    received += split.next(size - received);
    in_reads = pieces.parse(all.substr(0, received));
  }
  if (at_once == RequestReader::Status::error && in_reads == RequestReader::Status::need_more) {
    // Beast looks at a start line again only once the whole head is there:
    // a malformed start line cut short waits for the blank line (or the size
    // limit, or the timeout). Completing the head must give the same refusal.
    in_reads = pieces.parse(std::string(all) + "\r\n\r\n");
    received = size;
  }
  FUZZ_CHECK(at_once == in_reads);

  if (at_once == RequestReader::Status::done) {
    FUZZ_CHECK(whole.header_size() == pieces.header_size());
    FUZZ_CHECK(whole.header_size() <= received);
    FUZZ_CHECK(same_request(whole.request(), pieces.request()));
    use_request(whole.request());
  } else if (at_once == RequestReader::Status::error) {
    FUZZ_CHECK(whole.error().status == pieces.error().status);
    FUZZ_CHECK(whole.error().status >= 400 && whole.error().status < 500);
  }
  return 0;
}
