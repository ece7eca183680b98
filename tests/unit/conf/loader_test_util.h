// Helpers shared by the loader tests.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "conf/loader.h"

namespace wsgate::conf::testing {

inline constexpr const char* kFile = "test.yaml";

// One string per line, so a test can see which line an error must name:
// the n-th string is line n.
inline std::string yaml(std::initializer_list<std::string> lines) {
  std::string text;
  for (const std::string& line : lines) {
    text += line + "\n";
  }
  return text;
}

// Succeeds when loading `text` throws a ConfigError with this line and key
// and a why() containing `why`, and what() reads "FILE:LINE: KEY: WHY".
inline ::testing::AssertionResult Fails(const std::string& text, int line, const std::string& key,
                                        const std::string& why) {
  try {
    load_config_text(text, kFile);
  } catch (const ConfigError& e) {
    const std::string expected_what =
        std::string(kFile) + ":" + std::to_string(line) + ": " + (key.empty() ? "" : key + ": ") + e.why();
    if (e.file() != kFile || e.line() != line || e.key() != key || e.why().find(why) == std::string::npos ||
        e.what() != expected_what) {
      return ::testing::AssertionFailure() << "got      " << e.what() << "\nexpected " << kFile << ":" << line << ": "
                                           << key << ": ..." << why << "...";
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "loaded without an error";
}

// The common valid tail (a pool and a route) after the given lines, so an
// error test only spells out what it is about. Lines 1..n are `head`.
inline std::string with_pools_and_routes(std::initializer_list<std::string> head) {
  return yaml(head) + yaml({
                          "pools:",
                          "  chat:",
                          "    backends: [127.0.0.1:9001]",
                          "routes:",
                          "  - { path: /chat, pool: chat }",
                      });
}

}  // namespace wsgate::conf::testing
