#include "tests/support/gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

namespace wsgate::test {

std::string wsgate_path() {
  // Another build's binary under the same tests: a regression test is
  // checked against main's wsgate this way.
  if (const char* env = std::getenv("WSGATE_BIN")) return env;
#ifdef WSGATE_BIN
  return WSGATE_BIN;
#else
  throw TestIoError("this test binary was built without WSGATE_BIN");
#endif
}

std::uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw TestIoError("cannot find a free port");
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::string pool_yaml(const std::string& name, const std::vector<std::uint16_t>& ports, const std::string& extra) {
  std::string y = "pools:\n  " + name + ":\n    backends:\n";
  for (auto p : ports) {
    y += "      - 127.0.0.1:" + std::to_string(p) + "\n";
  }
  return y + extra;
}

Gateway::Gateway(const std::string& body, unsigned workers, const std::vector<std::string>& env_add) {
  port_ = free_port();
  config_path_ = (dir_ / "wsgate.yaml").string();
  if (body.rfind("listen:", 0) == 0) {
    // The body brings its own listen entries: {PORT} and {TLSPORT} become
    // two free ports (a TLS listener's entry is a map, see issue 13).
    tls_port_ = free_port();
    write_file(config_path_, "workers: " + std::to_string(workers) + "\n" + with_ports(body));
  } else {
    write_file(config_path_,
               "listen: 127.0.0.1:" + std::to_string(port_) + "\nworkers: " + std::to_string(workers) + "\n" + body);
  }
  process_ = std::make_unique<ChildProcess>(std::vector<std::string>{wsgate_path(), "-c", config_path_}, env_add);
  for (unsigned s = 0; s < workers; ++s) {
    process_->wait_for_output("worker for slot " + std::to_string(s) + " ready", milliseconds(10000));
  }
  if (body.find("streams:") != std::string::npos) {
    process_->wait_for_output("feeder for slot", milliseconds(10000));
  }
}

std::string Gateway::with_ports(std::string text) const {
  const std::pair<std::string, std::uint16_t> marks[] = {{"{PORT}", port_}, {"{TLSPORT}", tls_port_}};
  for (const auto& [mark, port] : marks) {
    for (size_t at = text.find(mark); at != std::string::npos; at = text.find(mark, at)) {
      text.replace(at, mark.size(), std::to_string(port));
    }
  }
  return text;
}

Gateway::~Gateway() {
  if (process_ && process_->running()) {
    ::kill(process_->pid(), SIGTERM);
    process_->try_wait_exit(milliseconds(8000));
  }
}

WsClient Gateway::open(const std::string& path, const std::vector<Header>& extra_headers,
                       const std::vector<std::string>& protocols, milliseconds timeout) const {
  return WsClient::open(port_, path, extra_headers, protocols, timeout);
}

Status Gateway::status() const {
  CommandResult r = run_wsgate({"status", "-c", config_path_, "--json"});
  if (r.code != 0) {
    throw TestIoError("wsgate status failed (" + std::to_string(r.code) + "): " + r.err);
  }
  return parse_status_json(r.out);
}

CommandResult run_wsgate(const std::vector<std::string>& args) {
  std::vector<std::string> argv{wsgate_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess p(argv);
  CommandResult r;
  ExitStatus st = p.wait_exit(milliseconds(10000));
  r.code = st.exited ? st.code : 128 + st.signal;
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  return r;
}

// The status JSON has a fixed shape (master/status_command.cpp), so a few
// regular expressions read it without a JSON library.
Status parse_status_json(const std::string& json) {
  Status s;
  std::regex worker(
      R"re(\{"slot":(\d+),"pid":(-?\d+),[^}]*"role":"([a-z]+)"(,"generation":(\d+),"draining":(true|false))?)re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), worker); it != std::sregex_iterator(); ++it) {
    s.worker_pids.push_back(std::stoi((*it)[2]));
    s.roles.push_back((*it)[3]);
    s.generations.push_back((*it)[5].matched ? std::stoi((*it)[5]) : 0);
    s.draining.push_back((*it)[6] == "true");
  }
  std::smatch m;
  if (std::regex_search(
          json, m,
          std::regex(
              R"re("generation":(\d+),"draining_generations":(\d+),"reloads":\{"ok":(\d+),"failed":(\d+)\})re"))) {
    s.generation = std::stoi(m[1]);
    s.draining_generations = std::stoi(m[2]);
    s.reloads_ok = std::stol(m[3]);
    s.reloads_failed = std::stol(m[4]);
  }
  std::regex channel(
      R"re(\{"stream":"([^"]*)","path":"([^"]*)","upstream":"([a-z]+)","subscribers":(-?\d+),"per_worker":\[([^\]]*)\],"messages":(\d+),"bytes":\d+,"connects":(\d+))re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), channel); it != std::sregex_iterator(); ++it) {
    ChannelStatus c{(*it)[1], (*it)[2], (*it)[3], std::stol((*it)[4]), {}, std::stol((*it)[6]), std::stol((*it)[7])};
    std::string list = (*it)[5];
    std::regex num(R"(-?\d+)");
    for (auto n = std::sregex_iterator(list.begin(), list.end(), num); n != std::sregex_iterator(); ++n) {
      c.per_worker.push_back(std::stol(n->str()));
    }
    s.channels.push_back(std::move(c));
  }
  std::regex backend(
      R"re(\{"pool":"([^"]*)","address":"([^"]*)","state":"([^"]*)","weight":\d+,"sessions":(-?\d+),"failures":\d+,"per_worker":\[([^\]]*)\])re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), backend); it != std::sregex_iterator(); ++it) {
    BackendStatus b{(*it)[1], (*it)[2], (*it)[3], std::stol((*it)[4]), {}};
    std::string list = (*it)[5];
    std::regex num(R"(-?\d+)");
    for (auto n = std::sregex_iterator(list.begin(), list.end(), num); n != std::sregex_iterator(); ++n) {
      b.per_worker.push_back(std::stol(n->str()));
    }
    s.backends.push_back(std::move(b));
  }
  if (s.worker_pids.empty() && s.backends.empty()) {
    throw TestIoError("cannot read status JSON: " + json);
  }
  return s;
}

const BackendStatus* Status::find(const std::string& address) const {
  for (const auto& b : backends) {
    if (b.address == address) {
      return &b;
    }
  }
  return nullptr;
}

std::vector<int> Status::proxies(int g) const {
  std::vector<int> pids;
  for (size_t i = 0; i < roles.size() && i < worker_pids.size(); ++i) {
    if (roles[i] == "proxy" && worker_pids[i] > 0 && (g == 0 || (i < generations.size() && generations[i] == g))) {
      pids.push_back(worker_pids[i]);
    }
  }
  return pids;
}

int Status::pid_of(const std::string& role) const {
  for (size_t i = 0; i < roles.size() && i < worker_pids.size(); ++i) {
    if (roles[i] == role) {
      return worker_pids[i];
    }
  }
  return 0;
}

const ChannelStatus* Status::channel(const std::string& stream, const std::string& path) const {
  for (const auto& c : channels) {
    if (c.stream == stream && c.path == path) {
      return &c;
    }
  }
  return nullptr;
}

long Status::total_sessions() const {
  long n = 0;
  for (const auto& b : backends) {
    n += b.sessions;
  }
  return n;
}

}  // namespace wsgate::test
