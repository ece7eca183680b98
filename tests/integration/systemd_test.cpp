// systemd integration through the real binary: the test plays the service
// manager by binding the AF_UNIX datagram socket it names in NOTIFY_SOCKET,
// and checks what the master tells it (README "Deployment with systemd"):
// READY=1 once every proxy worker holds its slot, STATUS=, WATCHDOG=1 only
// while the master's loop turns, RELOADING=1 then READY=1 around SIGHUP,
// STOPPING=1 on SIGTERM. Also runs `systemd-analyze verify` on the shipped
// unit when the tool is installed.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";

int64_t monotonic_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// One datagram: "KEY=VALUE" lines, when it came and who sent it.
struct Notification {
  Clock::time_point at;
  pid_t sender = 0;  // from SCM_CREDENTIALS
  std::string raw;
  std::map<std::string, std::string> fields;
  bool has(const std::string& key) const { return fields.count(key) != 0; }
  const std::string& operator[](const std::string& key) const { return fields.at(key); }
};

Notification parse(std::string raw, pid_t sender) {
  Notification n{Clock::now(), sender, std::move(raw), {}};
  size_t at = 0;
  while (at < n.raw.size()) {
    size_t end = n.raw.find('\n', at);
    if (end == std::string::npos) {
      end = n.raw.size();
    }
    std::string line = n.raw.substr(at, end - at);
    size_t eq = line.find('=');
    if (eq != std::string::npos) {
      n.fields[line.substr(0, eq)] = line.substr(eq + 1);
    }
    at = end + 1;
  }
  return n;
}

// The service manager's end of NOTIFY_SOCKET. Everything received is kept in
// order; next() hands out notifications after the last one it returned, so a
// test can say "RELOADING, and after it READY".
class NotifySocket {
 public:
  NotifySocket() : path_((dir_ / "notify").string()) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    int on = 1;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
      throw TestIoError("cannot bind the notify socket " + path_ + ": " + std::strerror(errno));
    }
  }
  ~NotifySocket() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::string env() const { return "NOTIFY_SOCKET=" + path_; }

  // The next notification carrying `key` after the last one returned;
  // nullopt if none comes within `timeout`.
  std::optional<Notification> next(const std::string& key, milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      for (; cursor_ < seen_.size(); ++cursor_) {
        if (seen_[cursor_].has(key)) {
          return seen_[cursor_++];
        }
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0 || !receive(left)) {
        return std::nullopt;
      }
    }
  }

  Notification expect(const std::string& key, milliseconds timeout = milliseconds(5000)) {
    auto n = next(key, timeout);
    if (!n) {
      throw TestIoError("no " + key + " within " + std::to_string(timeout.count()) + " ms; got:\n" + transcript());
    }
    return *n;
  }

  // Everything not handed out yet plus what arrives within `span`.
  std::vector<Notification> collect(milliseconds span) {
    const size_t first = cursor_;
    const auto deadline = Clock::now() + span;
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        break;
      }
      receive(left);
    }
    cursor_ = seen_.size();
    return {seen_.begin() + static_cast<long>(first), seen_.end()};
  }

  const std::vector<Notification>& seen() const { return seen_; }

  std::string transcript() const {
    std::string out;
    for (const auto& n : seen_) {
      std::string one = n.raw;
      for (char& c : one) {
        c = c == '\n' ? '|' : c;
      }
      out += "  [pid " + std::to_string(n.sender) + "] " + one + "\n";
    }
    return out;
  }

 private:
  // One datagram within `timeout_ms`; false if none came.
  bool receive(long timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout_ms)) <= 0) {
      return false;
    }
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      return false;
    }
    pid_t sender = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender = cred.pid;
      }
    }
    seen_.push_back(parse(std::string(buf, static_cast<size_t>(n)), sender));
    return true;
  }

  TempDir dir_{"wsgate-notify"};
  std::string path_;
  int fd_ = -1;
  std::vector<Notification> seen_;
  size_t cursor_ = 0;
};

pid_t parent_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // pid (comm) state ppid ...; comm may hold spaces, so start after its ')'.
  std::smatch m;
  std::regex ppid(R"(\) \S (\d+))");
  return std::regex_search(stat, m, ppid) ? std::stoi(m[1]) : -1;
}

// Undoes a SIGSTOP even when an assertion returns early.
struct Resume {
  pid_t pid;
  ~Resume() { kill(pid, SIGCONT); }
};

TEST(SystemdNotify, ReadyCarriesMainPidOnceEveryWorkerHoldsItsSlot) {
  EchoBackend a{"a"};
  NotifySocket systemd;
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2, {systemd.env()});
  const pid_t master = gw.process().pid();

  Notification ready = systemd.expect("READY");
  EXPECT_EQ(ready["READY"], "1");
  ASSERT_TRUE(ready.has("MAINPID")) << ready.raw;
  EXPECT_EQ(ready["MAINPID"], std::to_string(master));
  // STATUS in the same datagram is the master's view when it said READY:
  // both slots already held by their workers.
  EXPECT_EQ(ready["STATUS"], "2 workers, 0 connections, generation 1");
  // Anything said before READY was a progress report, never readiness.
  for (const auto& n : systemd.seen()) {
    if (n.has("READY")) {
      break;
    }
    ASSERT_TRUE(n.has("STATUS")) << n.raw;
    EXPECT_EQ(n["STATUS"].rfind("starting: ", 0), 0u) << n.raw;
  }
  for (int slot = 0; slot < 2; ++slot) {
    gw.process().wait_for_output("worker for slot " + std::to_string(slot) + " ready", milliseconds(1000));
  }
  EXPECT_TRUE(gw.process().has_output("all 2 workers ready; told systemd"));
  Status st = gw.status();
  ASSERT_EQ(st.roles.size(), 2u);
  for (int pid : st.worker_pids) {
    EXPECT_GT(pid, 0);
    EXPECT_EQ(parent_of(pid), master) << "slot pid " << pid << " is not a child of the master";
  }
  // Only the master talks to systemd (the unit says NotifyAccess=main).
  for (const auto& n : systemd.seen()) {
    EXPECT_EQ(n.sender, master) << n.raw;
  }
  EXPECT_FALSE(systemd.next("READY", milliseconds(300))) << "a second READY without a reload";
}

TEST(SystemdNotify, StatusFollowsConnectionsAtMostEveryTwoSeconds) {
  EchoBackend a{"a"};
  NotifySocket systemd;
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2, {systemd.env()});
  systemd.expect("READY");
  std::vector<WsClient> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(gw.open("/chat"));
    ASSERT_TRUE(clients.back().handshake_ok()) << clients.back().handshake_error();
  }
  Notification status = systemd.expect("STATUS", milliseconds(4000));
  EXPECT_EQ(status["STATUS"], "2 workers, 3 connections, generation 1");
  // Nothing changed since: nothing more to say.
  EXPECT_FALSE(systemd.next("STATUS", milliseconds(2500))) << systemd.transcript();
  // Updates are spaced by at least ~2 s.
  Clock::time_point last = status.at;
  for (int round = 0; round < 2; ++round) {
    clients.push_back(gw.open("/chat"));
    ASSERT_TRUE(clients.back().handshake_ok());
    Notification next = systemd.expect("STATUS", milliseconds(4000));
    EXPECT_GE(std::chrono::duration_cast<milliseconds>(next.at - last).count(), 1800) << systemd.transcript();
    EXPECT_EQ(next["STATUS"], "2 workers, " + std::to_string(4 + round) + " connections, generation 1");
    last = next.at;
  }
}

TEST(SystemdNotify, WatchdogIsPettedOnlyWhileTheMasterLoopRuns) {
  EchoBackend a{"a"};
  NotifySocket systemd;
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2, {systemd.env(), "WATCHDOG_USEC=400000"});
  systemd.expect("READY");
  auto pets = [](const std::vector<Notification>& ns) {
    long n = 0;
    for (const auto& x : ns) {
      n += x.has("WATCHDOG") && x["WATCHDOG"] == "1";
    }
    return n;
  };
  long in_a_second = pets(systemd.collect(milliseconds(1000)));
  EXPECT_GE(in_a_second, 3) << systemd.transcript();
  EXPECT_LE(in_a_second, 7) << systemd.transcript();

  // A wedged master (here: stopped) must stop petting, so systemd can act.
  {
    Resume resume{gw.process().pid()};
    gw.process().send_signal(SIGSTOP);
    systemd.collect(milliseconds(100));  // a pet already in flight
    EXPECT_EQ(pets(systemd.collect(milliseconds(800))), 0) << systemd.transcript();
  }
  EXPECT_GE(pets(systemd.collect(milliseconds(1000))), 3) << systemd.transcript();
  EXPECT_TRUE(gw.process().stop().ok());
}

TEST(SystemdNotify, WatchdogMeantForAnotherPidIsIgnored) {
  EchoBackend a{"a"};
  NotifySocket systemd;
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 1, {systemd.env(), "WATCHDOG_USEC=400000", "WATCHDOG_PID=1"});
  systemd.expect("READY");
  systemd.collect(milliseconds(800));
  for (const auto& n : systemd.seen()) {
    EXPECT_FALSE(n.has("WATCHDOG")) << n.raw;
  }
}

TEST(SystemdNotify, SighupSaysReloadingThenReadyAgain) {
  EchoBackend a{"a"};
  NotifySocket systemd;
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2, {systemd.env()});
  systemd.expect("READY");

  const int64_t before = monotonic_us();
  gw.process().send_signal(SIGHUP);
  Notification reloading = systemd.expect("RELOADING");
  const int64_t after = monotonic_us();
  EXPECT_EQ(reloading["RELOADING"], "1");
  ASSERT_TRUE(reloading.has("MONOTONIC_USEC")) << reloading.raw;
  const int64_t stamp = std::stoll(reloading["MONOTONIC_USEC"]);
  EXPECT_GE(stamp, before);
  EXPECT_LE(stamp, after);
  Notification ready = systemd.expect("READY");  // after RELOADING: next() keeps the order
  EXPECT_EQ(ready["MAINPID"], std::to_string(gw.process().pid()));
  EXPECT_EQ(ready["STATUS"], "2 workers, 0 connections, generation 1");
  gw.process().wait_for_output("SIGHUP: " + gw.config_path() + ": applied in place (no change)");

  // A broken file: the running configuration stays, and so does readiness.
  write_file(gw.config_path(), "listen: [\n");
  gw.process().send_signal(SIGHUP);
  systemd.expect("RELOADING");
  systemd.expect("READY");
  gw.process().wait_for_output("the running configuration is unchanged");
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
}

TEST(SystemdNotify, SigtermSaysStoppingAndExitsZero) {
  EchoBackend a{"a"};
  NotifySocket systemd;
  Gateway gw("limits:\n  close_timeout: 1s\n" + pool_yaml("chat", {a.port()}) + kRoute, 2, {systemd.env()});
  systemd.expect("READY");
  // This client never answers the 1001 close, so the stop lasts close_timeout.
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();

  gw.process().send_signal(SIGTERM);
  Notification stopping = systemd.expect("STOPPING");
  EXPECT_EQ(stopping["STOPPING"], "1");
  EXPECT_EQ(stopping["STATUS"], "stopping: 1 connection left") << stopping.raw;
  // A SIGHUP while stopping is no reload: no RELOADING, and never READY again.
  gw.process().send_signal(SIGHUP);
  ExitStatus st = gw.process().wait_exit(milliseconds(10000));
  EXPECT_TRUE(st.ok()) << st.describe();
  for (const Notification& n : systemd.collect(milliseconds(100))) {
    EXPECT_FALSE(n.has("READY") || n.has("RELOADING")) << systemd.transcript();
  }
}

TEST(SystemdNotify, UnreachableNotifySocketDoesNotStopTheProxy) {
  EchoBackend a{"a"};
  TempDir nowhere{"wsgate-no-notify"};
  Gateway gw("limits:\n  close_timeout: 1s\n" + pool_yaml("chat", {a.port()}) + kRoute, 2,
             {"NOTIFY_SOCKET=" + (nowhere / "missing").string(), "WATCHDOG_USEC=400000"});
  gw.process().wait_for_output("going on without systemd");
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
  c.send_text("still here?");
  EXPECT_EQ(c.recv_message().payload, "still here?");
  std::this_thread::sleep_for(milliseconds(600));  // several failed pets
  std::string log = gw.process().stderr_text();
  size_t first = log.find("going on without systemd");
  EXPECT_EQ(log.find("going on without systemd", first + 1), std::string::npos) << "warned more than once:\n" << log;
  ExitStatus st = gw.process().stop(milliseconds(10000));
  EXPECT_TRUE(st.ok()) << st.describe();
}

// ------------------------------------------------------------ the unit file

std::optional<std::string> find_in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  dirs += ":/usr/bin:/bin";
  size_t at = 0;
  while (at <= dirs.size()) {
    size_t end = dirs.find(':', at);
    if (end == std::string::npos) {
      end = dirs.size();
    }
    std::string candidate = dirs.substr(at, end - at) + "/" + program;
    if (end > at && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// `systemd-analyze verify` refuses a unit whose ExecStart binary is missing,
// so it checks a copy that runs the wsgate built here instead of
// /usr/sbin/wsgate; every other line is the shipped unit's.
TEST(SystemdUnit, PassesSystemdAnalyzeVerify) {
  auto analyze = find_in_path("systemd-analyze");
  if (!analyze) {
    GTEST_SKIP() << "systemd-analyze is not installed";
  }
  const std::string unit = read_file(std::filesystem::path(WSGATE_SOURCE_DIR) / "scripts/wsgate.service");
  ASSERT_NE(unit.find("ExecStart=/usr/sbin/wsgate "), std::string::npos);
  TempDir dir{"wsgate-unit"};
  write_file(dir / "wsgate.service", replace_all(unit, "/usr/sbin/wsgate", wsgate_path()));
  ChildProcess verify({*analyze, "verify", (dir / "wsgate.service").string()});
  ExitStatus st = verify.wait_exit(milliseconds(30000));
  const std::string said = verify.stdout_text() + verify.stderr_text();
  EXPECT_TRUE(st.ok()) << st.describe() << "\n" << said;
  // Warnings (unknown keys, bad values) come with exit 0 too: none allowed.
  EXPECT_EQ(said.find("wsgate.service"), std::string::npos) << said;
}

}  // namespace
}  // namespace wsgate::test
