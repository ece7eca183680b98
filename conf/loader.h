// Loads and validates a YAML config file into conf::Config.
#pragma once

#include <stdexcept>
#include <string>

#include "conf/config.h"

namespace wsgate::conf {

// What went wrong, where: "FILE:LINE: KEY: WHY".
// LINE is 1-based; KEY is the dotted path ("pools.chat.retries",
// "pools.chat.backends[1].weight", "routes[0].pool").
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, std::string key, std::string why);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }
  const std::string& why() const { return why_; }

 private:
  std::string file_;
  int line_;
  std::string key_;
  std::string why_;
};

// Reads and validates the file, and the keys files of its auth blocks.
// Expands ${NAME} in on_connect_send from the environment. Throws
// ConfigError (also for an unreadable file or a YAML syntax error, with
// line 0 when no line applies).
Config load_config(const std::string& path);

// The file's whole text, or ConfigError with the errno text: for a caller
// that keeps the text it validated (the master publishes it to workers).
std::string read_config_file(const std::string& path);

// Same, from text already in memory; `file` is used in messages and to
// resolve relative keys_file paths (against its directory).
Config load_config_text(const std::string& text, const std::string& file);

}  // namespace wsgate::conf
