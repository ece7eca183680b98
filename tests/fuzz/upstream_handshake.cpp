// The backend's answer to wsgate's upgrade request
// (worker/ws/upstream_handshake.cpp), read in reads cut at points drawn from
// the input, then the backend's EOF. The verdict must not depend on the cuts,
// a 101 must be judged against what the client offered, and whatever is
// passed through to the client must be one well-formed response.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "worker/ws/upstream_handshake.h"

using namespace wsgate;
using namespace wsgate::worker;

namespace {

// RFC 6455's sample key: seeds answer it with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
constexpr std::string_view kSentKey = "dGhlIHNhbXBsZSBub25jZQ==";

const ClientRequest& client() {
  static const ClientRequest req = [] {
    ClientRequest r;
    r.target = "/chat?room=1";
    r.path = "/chat";
    r.host = "127.0.0.1:8080";
    r.key = "x3JJHMbDL1EzLkh9GBhXDw==";
    r.protocols = {"chat", "superchat"};
    return r;
  }();
  return req;
}

struct Outcome {
  ResponseReader::Status status = ResponseReader::Status::need_more;
  size_t consumed = 0;
  UpstreamVerdict verdict;
};

// Reads `all` in the given reads, then EOF if the answer is still open.
template <class NextRead>
Outcome read(std::string_view all, NextRead next_read) {
  ResponseReader reader;
  Outcome o;
  size_t received = 0;
  while (received < all.size() && o.status == ResponseReader::Status::need_more) {
    received += next_read(all.size() - received);
    o.status = reader.parse(all.substr(0, received));
  }
  if (o.status == ResponseReader::Status::need_more) {
    o.status = reader.on_eof();
  }
  if (o.status == ResponseReader::Status::done) {
    o.consumed = reader.consumed();
    FUZZ_CHECK(o.consumed <= received);
    o.verdict = reader.judge(client(), kSentKey);
  } else {
    FUZZ_CHECK(!reader.error().empty());
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all = fuzz::as_text(data, size);
  const Outcome at_once = read(all, [](size_t rest) { return rest; });
  fuzz::Splitter split(data, size);
  const Outcome in_reads = read(all, [&](size_t rest) { return split.next(rest); });

  FUZZ_CHECK(at_once.status == in_reads.status);
  if (at_once.status != ResponseReader::Status::done) {
    return 0;
  }
  FUZZ_CHECK(at_once.consumed == in_reads.consumed);
  const UpstreamVerdict& v = at_once.verdict;
  FUZZ_CHECK(v.kind == in_reads.verdict.kind && v.status == in_reads.verdict.status &&
             v.protocol == in_reads.verdict.protocol && v.client_response == in_reads.verdict.client_response);
  switch (v.kind) {
    case UpstreamVerdict::Kind::upgraded:
      FUZZ_CHECK(v.status == 101);
      FUZZ_CHECK(v.protocol.empty() || v.protocol == "chat" || v.protocol == "superchat");
      break;
    case UpstreamVerdict::Kind::pass_through: {
      FUZZ_CHECK(v.status != 101);
      // One response the client can read to its end: a status line, a head
      // ended by one blank line, Connection: close and a body of the length
      // the head announces.
      const std::string& r = v.client_response;
      FUZZ_CHECK(r.rfind("HTTP/1.1 ", 0) == 0);
      const size_t head_end = r.find("\r\n\r\n");
      FUZZ_CHECK(head_end != std::string::npos);
      const std::string_view head = std::string_view(r).substr(0, head_end + 2);
      FUZZ_CHECK(head.find("Connection: close\r\n") != std::string_view::npos);
      const size_t cl = head.find("\r\nContent-Length: ");
      FUZZ_CHECK(cl != std::string_view::npos);
      FUZZ_CHECK(std::stoull(std::string(head.substr(cl + 18))) == r.size() - head_end - 4);
      break;
    }
    case UpstreamVerdict::Kind::bad_gateway: FUZZ_CHECK(!v.why.empty()); break;
  }
  return 0;
}
