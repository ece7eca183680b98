// The command line: a contract other tools rely on (systemd units, scripts).
#pragma once

#include <string>
#include <vector>

namespace wsgate::master {

struct Command {
  enum class Kind { run, test_config, status, version, help, usage_error };
  Kind kind = Kind::usage_error;
  std::string config_path;
  bool json = false;
  std::string error;  // for usage_error
};

Command parse_command_line(const std::vector<std::string>& args);
const char* usage_text();

}  // namespace wsgate::master
