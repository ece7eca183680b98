#include "master/cli.h"

namespace wsgate::master {

const char* usage_text() {
  return "usage: wsgate -c FILE            run in the foreground, logging to stderr\n"
         "       wsgate -t -c FILE         check the configuration and exit (0 valid, 1 not)\n"
         "       wsgate status -c FILE [--json]\n"
         "                                 show the running instance's workers and backends\n"
         "       wsgate --version | --help\n";
}

Command parse_command_line(const std::vector<std::string>& args) {
  Command cmd;
  bool test = false, status = false, version = false, help = false;
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
  } else {
    cmd.kind = status ? Command::Kind::status : test ? Command::Kind::test_config : Command::Kind::run;
  }
  return cmd;
}

}  // namespace wsgate::master
