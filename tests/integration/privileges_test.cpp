// `user`/`group` in the config: the master (root) binds and creates the
// shared memory, every child — proxy workers and the prober — runs as the
// configured user, and proxying, health checks and a SIGHUP that re-reads a
// keys file still work after the switch. Most tests need root; the config
// errors do not.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";
const char* kSetpriv = "/usr/bin/setpriv";

// The unprivileged account the tests switch to, as the system has it.
struct Account {
  std::string user, group;
  uid_t uid = 0;
  gid_t gid = 0;
  std::set<gid_t> groups;  // what initgroups() would give it
};

std::optional<Account> nobody_account() {
  const passwd* pw = getpwnam("nobody");
  const group* gr = getgrnam("nogroup");
  if (pw == nullptr || gr == nullptr) {
    return std::nullopt;
  }
  Account a{"nobody", "nogroup", pw->pw_uid, gr->gr_gid, {}};
  std::vector<gid_t> list(64);
  int n = static_cast<int>(list.size());
  if (getgrouplist("nobody", a.gid, list.data(), &n) < 0) {
    return std::nullopt;
  }
  a.groups.insert(list.begin(), list.begin() + n);
  return a;
}

// "Uid:", "Gid:", "Groups:", "CapEff:" ... of /proc/PID/status, values as written.
std::map<std::string, std::string> proc_status(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      const auto value = line.find_first_not_of(" \t", colon + 1);
      fields[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
    }
  }
  return fields;
}

// "65534\t65534\t65534\t65534": real, effective, saved and filesystem ids.
std::string all_four(unsigned id) {
  const std::string s = std::to_string(id);
  return s + "\t" + s + "\t" + s + "\t" + s;
}

std::set<gid_t> parse_groups(const std::string& text) {
  std::set<gid_t> groups;
  std::istringstream in(text);
  unsigned g = 0;
  while (in >> g) {
    groups.insert(g);
  }
  return groups;
}

#define REQUIRE_ROOT_AND_NOBODY(account)                                               \
  if (geteuid() != 0) {                                                                \
    GTEST_SKIP() << "switching users needs root (running as uid " << geteuid() << ")"; \
  }                                                                                    \
  const std::optional<Account> account = nobody_account();                             \
  if (!account) {                                                                      \
    GTEST_SKIP() << "this system has no nobody user or nogroup group";                 \
  }

std::string echo_round_trip(WsClient& c, const std::string& text) {
  c.send_text(text);
  return c.recv_message().payload;
}

TEST(Privileges, WorkersAndProberRunAsTheUserWhileTheMasterStaysRoot) {
  REQUIRE_ROOT_AND_NOBODY(nobody);
  EchoBackend a{"a"}, b{"b"};
  Gateway gw("user: nobody\ngroup: nogroup\n" +
                 pool_yaml("chat", {a.port(), b.port()}, "    health: {interval: 200ms, timeout: 200ms}\n") + kRoute,
             2);

  // The prober checks backends as nobody: both come up.
  Status s = gw.wait_status([](const Status& st) {
    return st.backends.size() == 2 && st.backends[0].state == "up" && st.backends[1].state == "up" &&
           st.pid_of("prober") > 0;
  });
  ASSERT_EQ(s.worker_pids.size(), 3u) << "2 proxy workers and the prober";
  for (int pid : s.worker_pids) {
    ASSERT_GT(pid, 0);
    auto st = proc_status(pid);
    EXPECT_EQ(st["Uid"], all_four(nobody->uid)) << "pid " << pid;
    EXPECT_EQ(st["Gid"], all_four(nobody->gid)) << "pid " << pid;
    EXPECT_EQ(parse_groups(st["Groups"]), nobody->groups) << "pid " << pid << ": " << st["Groups"];
    // No capability left: root cannot be regained.
    EXPECT_EQ(st["CapPrm"], "0000000000000000") << "pid " << pid;
    EXPECT_EQ(st["CapEff"], "0000000000000000") << "pid " << pid;
    // Not dumpable: the kernel then keeps the files in /proc/PID owned by
    // root, and other processes of `nobody` cannot ptrace the worker and
    // take its sockets.
    struct stat fd_dir {};
    ASSERT_EQ(stat(("/proc/" + std::to_string(pid) + "/fd").c_str(), &fd_dir), 0);
    EXPECT_EQ(fd_dir.st_uid, 0u) << "pid " << pid << " is dumpable";
  }
  auto master = proc_status(gw.process().pid());
  EXPECT_EQ(master["Uid"], all_four(0));
  EXPECT_EQ(master["Gid"], all_four(0));

  // Proxying through both workers (the kernel spreads connections over the
  // reuseport sockets).
  std::vector<WsClient> clients;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(gw.open("/chat"));
    ASSERT_TRUE(clients.back().handshake_ok()) << clients.back().handshake_error();
    EXPECT_EQ(echo_round_trip(clients.back(), "hello " + std::to_string(i)), "hello " + std::to_string(i));
  }
  Status loaded = gw.wait_status([](const Status& st) { return st.total_sessions() == 16; });
  EXPECT_EQ(loaded.total_sessions(), 16);
}

// A respawned worker drops its privileges too: the switch is part of every
// fork, not of the first start.
TEST(Privileges, ARespawnedWorkerRunsAsTheUserToo) {
  REQUIRE_ROOT_AND_NOBODY(nobody);
  EchoBackend a{"a"};
  Gateway gw("user: nobody\n" + pool_yaml("chat", {a.port()}) + kRoute, 1);
  const int first = gw.status().worker_pids.at(0);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  Status s = gw.wait_status([&](const Status& st) { return st.worker_pids.at(0) > 0 && st.worker_pids.at(0) != first; },
                            3000ms);
  const int second = s.worker_pids.at(0);
  ASSERT_NE(second, first);
  EXPECT_EQ(proc_status(second)["Uid"], all_four(nobody->uid));
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
  EXPECT_EQ(echo_round_trip(c, "after respawn"), "after respawn");
}

// Workers re-read keys files on SIGHUP as the user they became: a keys file
// that user can read is rotated without a restart.
TEST(Privileges, WorkersReReadAKeysFileTheUserCanRead) {
  REQUIRE_ROOT_AND_NOBODY(nobody);
  TempDir keys_dir{"wsgate-priv-keys"};
  ASSERT_EQ(chmod(keys_dir.path().c_str(), 0755), 0);  // mkdtemp made it 0700
  const std::string keys = (keys_dir / "keys.txt").string();
  write_file(keys, "first-key\n");
  ASSERT_EQ(chmod(keys.c_str(), 0644), 0);
  EchoBackend a{"a"};
  Gateway gw("user: nobody\n" + pool_yaml("chat", {a.port()}) + "auth:\n  keys:\n    keys_file: " + keys +
                 "\n"
                 "routes:\n  - { path: /chat, pool: chat, auth: keys }\n",
             2);
  WsClient before = gw.open("/chat", {{"Authorization", "Bearer first-key"}});
  ASSERT_TRUE(before.handshake_ok()) << before.handshake_error();

  write_file(keys, "second-key\n");
  gw.process().send_signal(SIGHUP);
  // Both workers must take the new key; the kernel picks the worker, so a
  // run of handshakes in a row has to succeed.
  int in_a_row = 0;
  const auto deadline = Clock::now() + 5s;
  while (in_a_row < 8 && Clock::now() < deadline) {
    WsClient c = gw.open("/chat", {{"Authorization", "Bearer second-key"}});
    in_a_row = c.handshake_ok() ? in_a_row + 1 : 0;
    if (in_a_row == 0) {
      ::usleep(50 * 1000);
    }
  }
  EXPECT_EQ(in_a_row, 8) << "the rotated key is not accepted by every worker\n" << gw.process().stderr_text();
  WsClient old_key = gw.open("/chat", {{"Authorization", "Bearer first-key"}});
  EXPECT_EQ(old_key.status(), 401);
  EXPECT_EQ(echo_round_trip(before, "still in"), "still in");
}

// The other side of the same rule: the master read the file as root at
// start, but the workers cannot re-read it, so a reload logs why and the
// running keys stay.
TEST(Privileges, AKeysFileOnlyRootCanReadIsNotReReadAndTheOldKeysStay) {
  REQUIRE_ROOT_AND_NOBODY(nobody);
  TempDir keys_dir{"wsgate-priv-keys"};
  ASSERT_EQ(chmod(keys_dir.path().c_str(), 0755), 0);
  const std::string keys = (keys_dir / "keys.txt").string();
  write_file(keys, "first-key\n");
  ASSERT_EQ(chmod(keys.c_str(), 0600), 0);
  EchoBackend a{"a"};
  Gateway gw("user: nobody\n" + pool_yaml("chat", {a.port()}) + "auth:\n  keys:\n    keys_file: " + keys +
                 "\n"
                 "routes:\n  - { path: /chat, pool: chat, auth: keys }\n",
             1);
  write_file(keys, "second-key\n");
  gw.process().send_signal(SIGHUP);
  gw.process().wait_for_output("cannot read keys file " + keys + ": Permission denied", 5000ms);
  WsClient old_key = gw.open("/chat", {{"Authorization", "Bearer first-key"}});
  EXPECT_TRUE(old_key.handshake_ok()) << old_key.handshake_error();
  WsClient new_key = gw.open("/chat", {{"Authorization", "Bearer second-key"}});
  EXPECT_EQ(new_key.status(), 401);
}

TEST(Privileges, UnknownUserOrGroupIsAConfigErrorNamingFileLineAndKey) {
  TempDir dir{"wsgate-priv-conf"};
  const std::string file = (dir / "wsgate.yaml").string();
  write_file(file,
             "listen: 127.0.0.1:8080\nuser: wsgate-no-such-user\npools: {p: {backends: [127.0.0.1:2]}}\n"
             "routes: [{path: /, pool: p}]\n");
  CommandResult t = run_wsgate({"-t", "-c", file});
  EXPECT_EQ(t.code, 1);
  EXPECT_NE(t.err.find(file + ":2: user: no such user \"wsgate-no-such-user\""), std::string::npos) << t.err;
  CommandResult run = run_wsgate({"-c", file});
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find(file + ":2: user: no such user"), std::string::npos) << run.err;

  write_file(file,
             "listen: 127.0.0.1:8080\nuser: root\ngroup: wsgate-no-such-group\n"
             "pools: {p: {backends: [127.0.0.1:2]}}\nroutes: [{path: /, pool: p}]\n");
  CommandResult g = run_wsgate({"-t", "-c", file});
  EXPECT_EQ(g.code, 1);
  EXPECT_NE(g.err.find(file + ":3: group: no such group \"wsgate-no-such-group\""), std::string::npos) << g.err;
}

// Started as nobody: asking for another user is refused at start, before
// anything is bound, with the file, line and key; asking for nobody itself
// is no switch at all and runs.
TEST(Privileges, WithoutRootOnlyTheUserItAlreadyIsWorks) {
  REQUIRE_ROOT_AND_NOBODY(nobody);
  if (access(kSetpriv, X_OK) != 0) {
    GTEST_SKIP() << kSetpriv << " is not installed";
  }
  TempDir dir{"wsgate-priv-start"};
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  const std::string file = (dir / "wsgate.yaml").string();
  const std::uint16_t port = free_port();
  const std::string tail = "listen: 127.0.0.1:" + std::to_string(port) + "\nworkers: 1\n";
  EchoBackend a{"a"};
  const std::string pool = pool_yaml("chat", {a.port()}) + kRoute;
  const std::vector<std::string> as_nobody{
      kSetpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", wsgate_path(), "-c", file};

  write_file(file, "user: root\n" + tail + pool);
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);
  ChildProcess refused(as_nobody);
  ExitStatus st = refused.wait_exit(10000ms);
  EXPECT_TRUE(st.exited && st.code == 1) << st.describe() << "\n" << refused.stderr_text();
  EXPECT_NE(refused.stderr_text().find(file + ":1: user: wsgate runs as uid " + std::to_string(nobody->uid)),
            std::string::npos)
      << refused.stderr_text();
  EXPECT_NE(refused.stderr_text().find("not as root"), std::string::npos) << refused.stderr_text();

  write_file(file, "user: nobody\n" + tail + pool);
  ChildProcess same(as_nobody);
  same.wait_for_output("worker for slot 0 ready", 10000ms);
  WsClient c = WsClient::open(port, "/chat");
  ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
  EXPECT_EQ(echo_round_trip(c, "as nobody"), "as nobody");
  c.disconnect();  // else the stop waits close_timeout for its close reply
  EXPECT_TRUE(same.stop(10000ms).ok());
}

}  // namespace
}  // namespace wsgate::test
