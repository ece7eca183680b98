// The command line: a contract other tools rely on (systemd units, scripts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wsgate::master {

struct Command {
  enum class Kind { run, test_config, status, drain, undrain, rebalance, version, help, usage_error };
  Kind kind = Kind::usage_error;
  std::string config_path;
  bool json = false;
  std::string error;  // for usage_error
  // drain, undrain, rebalance (master/control_command.h)
  std::string backend;  // "POOL/HOST:PORT" or "HOST:PORT"
  uint32_t rate = 0;    // sessions/s; 0 = the default
  bool cancel = false;  // drain --cancel (= undrain), rebalance --cancel
};

Command parse_command_line(const std::vector<std::string>& args);
const char* usage_text();

}  // namespace wsgate::master
