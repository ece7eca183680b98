// wsgate: parse the command line and hand over to the piece that does the work.
#include <climits>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "conf/loader.h"
#include "master/cli.h"
#include "worker/net/tls_material.h"
#include "master/control_command.h"
#include "master/privileges.h"
#include "master/status_command.h"
#include "master/supervisor.h"
#include "shm/segment.h"
#include "worker/log/log.h"

namespace {

using wsgate::master::Command;

// The shared-memory name comes from the config file's real path, so every
// command given the same file finds the same instance.
std::string instance_name(const std::string& config_path) {
  char buf[PATH_MAX];
  const char* real = realpath(config_path.c_str(), buf);
  return wsgate::shm::segment_name_for(real != nullptr ? real : config_path);
}

int run_proxy(const std::string& path) {
  wsgate::log::set_process_label("master");
  try {
    // Parsed from the text kept here, so the master publishes to its
    // workers exactly what it validated.
    const std::string text = wsgate::conf::read_config_file(path);
    wsgate::conf::Config config = wsgate::conf::load_config_text(text, path);
    wsgate::master::check_can_run_as(config);  // before anything is bound or created
    // `log.error`: from here on errors go to that file (children inherit it).
    std::string why;
    if (!config.log.error.empty() && !wsgate::log::open_error_log(config.log.error, &why)) {
      LOG_ERROR("cannot start: %s", why.c_str());
      return 1;
    }
    std::string name = instance_name(path);
    wsgate::master::Supervisor supervisor(std::move(config), text, name);
    return supervisor.run();
  } catch (const wsgate::conf::ConfigError& e) {
    LOG_ERROR("%s", e.what());
  } catch (const std::exception& e) {
    LOG_ERROR("cannot start: %s", e.what());
  }
  return 1;
}

int test_config(const std::string& path) {
  try {
    const wsgate::conf::Config config = wsgate::conf::load_config(path);
    std::vector<std::string> warnings;
    (void)wsgate::worker::load_tls_material(config, &warnings);
    for (const std::string& w : warnings) {
      std::cerr << "wsgate: warning: " << w << "\n";
    }
    std::cout << "wsgate: the configuration file " << path << " is valid\n";
    return 0;
  } catch (const wsgate::conf::ConfigError& e) {
    std::cerr << "wsgate: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Command cmd = wsgate::master::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
  switch (cmd.kind) {
    case Command::Kind::help: std::cout << wsgate::master::usage_text(); return 0;
    case Command::Kind::version: std::cout << "wsgate " << WSGATE_VERSION << "\n"; return 0;
    case Command::Kind::test_config: return test_config(cmd.config_path);
    case Command::Kind::status:
      return wsgate::master::run_status_command(instance_name(cmd.config_path), cmd.json, std::cout, std::cerr);
    case Command::Kind::drain:
    case Command::Kind::undrain:
    case Command::Kind::rebalance:
      return wsgate::master::run_control_command(instance_name(cmd.config_path), cmd, std::cout, std::cerr);
    case Command::Kind::run: return run_proxy(cmd.config_path);
    case Command::Kind::usage_error: break;
  }
  std::cerr << "wsgate: " << cmd.error << "\n" << wsgate::master::usage_text();
  return 2;
}
