// The admin endpoint's HTTP reader (worker/admin/admin_http.cpp), as its
// connection feeds it: everything received and not yet consumed, one request
// after another on a keep-alive connection, reads cut at points drawn from
// the input. The requests read and the final verdict must not depend on the
// cuts, and each request consumes bytes it was given.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "worker/admin/admin_http.h"

using namespace wsgate;
using namespace wsgate::worker;

namespace {

constexpr size_t kMaxRequest = 8192;

struct Outcome {
  std::vector<std::string> requests;  // method, target, path, keep-alive of each
  AdminRequestReader::Status last = AdminRequestReader::Status::need_more;
  int error_status = 0;
  bool completed = false;  // the head was completed to settle the verdict
};

template <class NextRead>
Outcome read(std::string_view all, NextRead next_read, bool complete_head) {
  Outcome o;
  AdminRequestReader reader(kMaxRequest);
  size_t received = 0, consumed = 0;
  while (received < all.size() && o.last != AdminRequestReader::Status::error) {
    received += next_read(all.size() - received);
    for (;;) {
      o.last = reader.parse(all.substr(consumed, received - consumed));
      if (o.last != AdminRequestReader::Status::done) break;
      const AdminRequest& r = reader.request();
      FUZZ_CHECK(reader.consumed() > 0 && reader.consumed() <= received - consumed);
      FUZZ_CHECK(r.path == r.target.substr(0, r.target.find('?')));
      o.requests.push_back(r.method + " " + r.target + " " + r.path + (r.keep_alive ? " ka" : " close"));
      const std::string answer =
          format_admin_response(AdminResponse{200, "text/plain", r.path, ""}, r.keep_alive, r.method == "HEAD");
      FUZZ_CHECK(answer.find("\r\n\r\n") != std::string::npos);
      consumed += reader.consumed();
      reader.reset();
      if (!r.keep_alive) {
        return o;  // the connection closes after its answer
      }
    }
  }
  if (o.last == AdminRequestReader::Status::need_more && complete_head) {
    // Beast looks at a start line again only once the whole head is there
    // (see client_handshake.cpp): completing the head must settle it.
    const std::string completed = std::string(all.substr(consumed)) + "\r\n\r\n";
    o.last = reader.parse(completed);
    o.completed = true;
  }
  if (o.last == AdminRequestReader::Status::error) {
    o.error_status = reader.error_status();
    FUZZ_CHECK(o.error_status >= 400 && o.error_status < 500);
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all = fuzz::as_text(data, size);
  const Outcome at_once = read(
      all, [](size_t rest) { return rest; }, false);
  fuzz::Splitter split(data, size);
  const bool waiting_for_head = at_once.last == AdminRequestReader::Status::error;
  const Outcome in_reads = read(
      all, [&](size_t rest) { return split.next(rest); }, waiting_for_head);
  FUZZ_CHECK(at_once.requests == in_reads.requests);
  FUZZ_CHECK(at_once.last == in_reads.last);
  FUZZ_CHECK(at_once.error_status == in_reads.error_status);
  return 0;
}
