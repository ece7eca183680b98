// Who may read wsgate's shared memory and whose segment it trusts (issue 15,
// findings 5 and 6): every segment is its creator's alone (0600), plus read
// for the `user:` group when a root master switches its workers to it, so
// `wsgate status` works as root or as the service user and as nobody else;
// a segment another local user made first under our name is replaced by a
// root master, never read. Needs root to switch users; skipped otherwise.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "shm/layout.h"
#include "shm/segment.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;

const char* kSetpriv = "/usr/bin/setpriv";
// A source nothing listens on: the rings exist from the start all the same.
const std::string kStreams =
    "streams:\n  fx:\n    source: ws://127.0.0.1:1/live\n"
    "routes:\n  - { path: /fx, stream: fx }\n";

std::string segment_of(const std::string& config_path) {
  char buf[PATH_MAX];
  return shm::segment_name_for(realpath(config_path.c_str(), buf));
}

struct stat stat_shm(const std::string& name) {
  struct stat st {};
  EXPECT_EQ(stat(("/dev/shm/" + name).c_str(), &st), 0) << "/dev/shm/" << name;
  return st;
}

#define REQUIRE_ROOT_AND_NOBODY()                                                     \
  if (geteuid() != 0) {                                                               \
    GTEST_SKIP() << "needs root to switch users (running as uid " << geteuid() << ")"; \
  }                                                                                   \
  if (getpwnam("nobody") == nullptr || getgrnam("nogroup") == nullptr) {              \
    GTEST_SKIP() << "this system has no nobody user or nogroup group";                \
  }                                                                                   \
  if (access(kSetpriv, X_OK) != 0) {                                                  \
    GTEST_SKIP() << kSetpriv << " is not installed";                                  \
  }

// `wsgate status` as another uid and gid, without supplementary groups.
ExitStatus status_as(const std::string& uid, const std::string& gid, const std::string& config, std::string* err) {
  ChildProcess p({kSetpriv, "--reuid=" + uid, "--regid=" + gid, "--clear-groups", wsgate_path(), "status", "-c",
                  config});
  ExitStatus st = p.wait_exit(10000ms);
  *err = p.stderr_text();
  return st;
}

TEST(SharedMemoryAccess, EverySegmentIsItsCreatorsAlone) {
  Gateway gw(kStreams, 1);
  const std::string name = segment_of(gw.config_path());
  for (const std::string& segment : {name, name + "-streams", name + "-config"}) {
    const struct stat st = stat_shm(segment);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << segment;
    EXPECT_EQ(st.st_uid, geteuid()) << segment;
  }
  CommandResult r = run_wsgate({"status", "-c", gw.config_path()});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(SharedMemoryAccess, TheServiceUsersGroupMayReadAndStatusWorksForItAndNoOtherUser) {
  REQUIRE_ROOT_AND_NOBODY();
  Gateway gw("user: nobody\ngroup: nogroup\n" + kStreams, 1);
  ASSERT_EQ(chmod(std::filesystem::path(gw.config_path()).parent_path().c_str(), 0755), 0);
  ASSERT_EQ(chmod(gw.config_path().c_str(), 0644), 0);
  const std::string name = segment_of(gw.config_path());
  const gid_t nogroup = getgrnam("nogroup")->gr_gid;
  for (const std::string& segment : {name, name + "-streams"}) {
    const struct stat st = stat_shm(segment);
    EXPECT_EQ(st.st_mode & 07777, 0640u) << segment;
    EXPECT_EQ(st.st_uid, 0u) << segment;
    EXPECT_EQ(st.st_gid, nogroup) << segment;
  }
  EXPECT_EQ(stat_shm(name + "-config").st_mode & 07777, 0600u);  // status does not need the config
  std::string err;
  ExitStatus service = status_as("nobody", "nogroup", gw.config_path(), &err);
  EXPECT_TRUE(service.exited && service.code == 0) << service.describe() << "\n" << err;
  // Any other local user: not the table, not the rings.
  ExitStatus other = status_as("12345", "12345", gw.config_path(), &err);
  EXPECT_TRUE(other.exited && other.code == 1) << other.describe() << "\n" << err;
  EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
  for (const std::string& segment : {name, name + "-streams"}) {
    ChildProcess cat({kSetpriv, "--reuid=12345", "--regid=12345", "--clear-groups", "/bin/cat", "/dev/shm/" + segment});
    ExitStatus st = cat.wait_exit(5000ms);
    EXPECT_FALSE(st.exited && st.code == 0) << segment << " is readable by another user";
  }
}

// The squatter's segment: made before wsgate starts, owned by nobody, with
// our magic and layout and a live wsgate's pid as its master, the way an
// unprivileged user would keep a root wsgate from starting.
void plant_squat(const std::string& name, int live_master_pid) {
  const std::string file = "/dev/shm/" + name;
  unlink(file.c_str());
  const int fd = open(file.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << file;
  shm::Prefix p{};
  p.magic = shm::kMagic;
  p.version = shm::kLayoutVersion;
  p.prefix_size = sizeof(shm::Prefix);
  p.total_size = sizeof(shm::Table);
  p.master_pid.store(live_master_pid);
  EXPECT_EQ(ftruncate(fd, sizeof(shm::Table)), 0);
  EXPECT_EQ(pwrite(fd, &p, sizeof p, 0), static_cast<ssize_t>(sizeof p));
  EXPECT_EQ(fchown(fd, 65534, 65534), 0);
  close(fd);
}

TEST(SharedMemoryAccess, ASegmentAnotherUserMadeFirstIsReplacedNotTrusted) {
  REQUIRE_ROOT_AND_NOBODY();
  EchoBackend a{"a"};
  Gateway live(pool_yaml("chat", {a.port()}) + "routes:\n  - { path: /chat, pool: chat }\n", 1);
  TempDir dir;
  const std::string config = (dir / "wsgate.yaml").string();
  const std::uint16_t port = free_port();
  write_file(config, "listen: 127.0.0.1:" + std::to_string(port) + "\nworkers: 1\n" + pool_yaml("chat", {a.port()}) +
                         "routes:\n  - { path: /chat, pool: chat }\n");
  const std::string name = segment_of(config);
  plant_squat(name, live.process().pid());
  ASSERT_EQ(stat_shm(name).st_uid, 65534u);

  ChildProcess gw({wsgate_path(), "-c", config});
  gw.wait_for_output("worker for slot 0 ready", 10000ms);
  const struct stat st = stat_shm(name);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  WsClient c = WsClient::open(port, "/chat");
  EXPECT_TRUE(c.handshake_ok()) << c.handshake_error() << gw.stderr_text();
  CommandResult r = run_wsgate({"status", "-c", config, "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parse_status_json(r.out).worker_pids.size(), 1u);
  c.disconnect();
  EXPECT_TRUE(gw.stop(10000ms).ok());
}

TEST(SharedMemoryAccess, AnUnprivilegedWsgateRefusesASegmentItCannotReplaceNamingItsOwner) {
  REQUIRE_ROOT_AND_NOBODY();
  TempDir dir{"wsgate-squat"};
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  const std::string config = (dir / "wsgate.yaml").string();
  write_file(config, "listen: 127.0.0.1:" + std::to_string(free_port()) +
                         "\nworkers: 1\npools: {p: {backends: [127.0.0.1:2]}}\nroutes: [{path: /, pool: p}]\n");
  ASSERT_EQ(chmod(config.c_str(), 0644), 0);
  const std::string name = segment_of(config);
  const std::string file = "/dev/shm/" + name;
  unlink(file.c_str());
  const int fd = open(file.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);  // root's: nobody cannot unlink it
  ASSERT_GE(fd, 0);
  close(fd);
  ChildProcess gw({kSetpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", wsgate_path(), "-c", config});
  ExitStatus st = gw.wait_exit(10000ms);
  unlink(file.c_str());
  EXPECT_TRUE(st.exited && st.code == 1) << st.describe();
  EXPECT_NE(gw.stderr_text().find(file + " already exists, owned by uid 0 (root)"), std::string::npos)
      << gw.stderr_text();
}

}  // namespace
}  // namespace wsgate::test
