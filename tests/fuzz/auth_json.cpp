// The key a subscriber sends in its first message (worker/stream/
// stream_auth.cpp: a JSON object read by Boost.PropertyTree) and a key in a
// query string. At most 16 KiB reach the JSON reader (the subscriber's
// bound, kMaxKeyMessage); run with -max_len=16384. A key accepted must be in
// the text, and no input may crash or exhaust the stack.
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_support.h"
#include "worker/stream/stream_auth.h"

using namespace wsgate;
using namespace wsgate::worker;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const conf::Auth auth = [] {
    conf::Auth a;
    a.name = "api";
    a.from = conf::AuthFrom::first_message;
    a.field = "key";
    a.keys = {"k1-secret", "k2"};
    return a;
  }();
  const std::string_view text = fuzz::as_text(data, size);
  if (check_first_message(text, auth) == FirstMessageAuth::ok) {
    FUZZ_CHECK(text.find("k1-secret") != std::string_view::npos || text.find("k2") != std::string_view::npos ||
               text.find('\\') != std::string_view::npos);  // JSON escapes spell a key differently
  }
  const std::optional<std::string> q = key_from_query(text, "key");
  if (q && key_matches(auth.keys, *q)) {
    FUZZ_CHECK(text.find("key") != std::string_view::npos);
  }
  return 0;
}
