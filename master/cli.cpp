#include "master/cli.h"

#include "conf/units.h"

namespace wsgate::master {

namespace {
constexpr uint64_t kMaxRate = 100000;  // shm/backend_control.h kMaxMoveRate
}  // namespace

const char* usage_text() {
  return "usage: wsgate -c FILE            run in the foreground, logging to stderr\n"
         "       wsgate -t -c FILE         check the configuration and exit (0 valid, 1 not)\n"
         "       wsgate status -c FILE [--json]\n"
         "                                 show the running instance's workers and backends\n"
         "       wsgate drain -c FILE BACKEND [--rate N/s] [--cancel]\n"
         "                                 stop new sessions to BACKEND (POOL/HOST:PORT) and move\n"
         "                                 its sessions off at N/s (default 50/s); --cancel undoes it\n"
         "       wsgate undrain -c FILE BACKEND\n"
         "                                 make a drained BACKEND routable again\n"
         "       wsgate rebalance -c FILE [--rate N/s] [--cancel]\n"
         "                                 move sessions off over-loaded backends at N/s (default\n"
         "                                 50/s) until each is within 10% of its fair share\n"
         "       wsgate --version | --help\n";
}

Command parse_command_line(const std::vector<std::string>& args) {
  Command cmd;
  bool test = false, status = false, version = false, help = false;
  std::string control;  // drain, undrain or rebalance
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-c" || a == "--config") {
      if (i + 1 >= args.size()) {
        cmd.error = a + " needs a file name";
        return cmd;
      }
      cmd.config_path = args[++i];
    } else if (a == "-t" || a == "--test") {
      test = true;
    } else if (a == "status" && i == 0) {
      status = true;
    } else if (a == "--json" && status) {
      cmd.json = true;
    } else if ((a == "drain" || a == "undrain" || a == "rebalance") && i == 0) {
      control = a;
    } else if (a == "--rate" && (control == "drain" || control == "rebalance")) {
      const auto rate = i + 1 < args.size() ? conf::parse_rate(args[i + 1]) : std::nullopt;
      if (!rate || *rate == 0 || *rate > kMaxRate) {
        cmd.error = "--rate needs a rate from 1/s to " + std::to_string(kMaxRate) + "/s, like 50/s";
        return cmd;
      }
      cmd.rate = static_cast<uint32_t>(*rate);
      ++i;
    } else if (a == "--cancel" && (control == "drain" || control == "rebalance")) {
      cmd.cancel = true;
    } else if ((control == "drain" || control == "undrain") && cmd.backend.empty() && !a.starts_with("-")) {
      cmd.backend = a;
    } else if (a == "-v" || a == "--version") {
      version = true;
    } else if (a == "-h" || a == "--help") {
      help = true;
    } else {
      cmd.error = "unknown argument: " + a;
      return cmd;
    }
  }
  if (help) {
    cmd.kind = Command::Kind::help;
  } else if (version) {
    cmd.kind = Command::Kind::version;
  } else if (cmd.config_path.empty()) {
    cmd.error = "no configuration file given (-c FILE)";
  } else if (status && test) {
    cmd.error = "status and -t do not go together";
  } else if (!control.empty() && test) {
    cmd.error = control + " and -t do not go together";
  } else if (!control.empty() && control != "rebalance" && cmd.backend.empty()) {
    cmd.error = control + " needs a backend: POOL/HOST:PORT as wsgate status shows it";
  } else if (!control.empty()) {
    cmd.kind = control == "drain"     ? Command::Kind::drain
               : control == "undrain" ? Command::Kind::undrain
                                      : Command::Kind::rebalance;
  } else {
    cmd.kind = status ? Command::Kind::status : test ? Command::Kind::test_config : Command::Kind::run;
  }
  return cmd;
}

}  // namespace wsgate::master
