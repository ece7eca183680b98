// A keys file (conf/auth_loader.cpp), as the loader reads it from a config
// that names it. Loaded: every key is what a line held, trimmed, printable
// ASCII, at most 256 bytes, and each is kept once. Refused: the error never
// shows a key (errors reach logs and terminals).
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "conf/loader.h"
#include "tests/fuzz/fuzz_dir.h"
#include "tests/fuzz/fuzz_support.h"

using namespace wsgate;

namespace {

constexpr const char* kConfig =
    "pools:\n"
    "  chat:\n"
    "    backends: [127.0.0.1:9001]\n"
    "auth:\n"
    "  api:\n"
    "    keys_file: fuzz.keys\n"
    "routes:\n"
    "  - { path: /chat, pool: chat, auth: api }\n";

std::string_view trim(std::string_view s) {
  const size_t a = s.find_first_not_of(" \t\r\v\f");
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r\v\f") - a + 1);
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    out.push_back(trim(text.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::FuzzDir dir;
  const std::string_view text = fuzz::as_text(data, size);
  dir.write("fuzz.keys", text);
  const std::vector<std::string_view> all = lines(text);
  try {
    const conf::Config config = conf::load_config_text(kConfig, dir.file("wsgate.yaml"));
    FUZZ_CHECK(config.auths.size() == 1);
    const std::vector<std::string>& keys = config.auths[0].keys;
    FUZZ_CHECK(!keys.empty());
    const std::set<std::string> unique(keys.begin(), keys.end());
    FUZZ_CHECK(unique.size() == keys.size());
    for (const std::string& k : keys) {
      FUZZ_CHECK(!k.empty() && k.size() <= 256 && k.front() != '#');
      FUZZ_CHECK(std::all_of(k.begin(), k.end(), [](char c) { return c > 0x20 && c < 0x7f; }));
      FUZZ_CHECK(std::find(all.begin(), all.end(), std::string_view(k)) != all.end());
    }
    // And every key line is among the keys.
    for (std::string_view line : all) {
      if (!line.empty() && line.front() != '#') {
        FUZZ_CHECK(unique.count(std::string(line)) == 1);
      }
    }
  } catch (const conf::ConfigError& e) {
    // Long plain words are keys, not message text: none may show.
    const std::string_view what = e.what();
    for (std::string_view line : all) {
      const bool word = line.size() >= 12 && std::all_of(line.begin(), line.end(), [](char c) {
                          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                        });
      if (word) {
        FUZZ_CHECK(what.find(line) == std::string_view::npos);
      }
    }
  }
  return 0;
}
