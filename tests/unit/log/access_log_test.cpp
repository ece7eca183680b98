#include "worker/log/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "worker/log/log.h"

namespace wsgate::log {
namespace {

AccessRecord sample() {
  AccessRecord r;
  r.client = "127.0.0.1:50312";
  r.path = "/chat";
  r.status = 101;
  r.pool = "chat";
  r.backend = "127.0.0.1:9001";
  r.duration_ms = 1530;
  r.up_messages = 3;
  r.up_bytes = 15;
  r.down_messages = 4;
  r.down_bytes = 20;
  r.close_from_client = 1000;
  r.close_to_backend = 1000;
  r.close_from_backend = 1000;
  r.close_to_client = 1000;
  r.closed_by = Closer::client;
  return r;
}

TEST(AccessText, OneLineOfFixedFields) {
  EXPECT_EQ(access_text(sample()),
            "127.0.0.1:50312 \"/chat\" 101 pool=chat backend=127.0.0.1:9001 stream=- duration_ms=1530 up_msgs=3 "
            "up_bytes=15 down_msgs=4 down_bytes=20 close_from_client=1000 close_to_client=1000 "
            "close_from_backend=1000 close_to_backend=1000 closed_by=client tls=- cipher=- resumed=-");
}

TEST(AccessText, RefusalAndOddPath) {
  AccessRecord r;
  r.client = "[::1]:4000";
  r.path = "/a\"b\n";
  r.status = 404;
  r.closed_by = Closer::wsgate;
  EXPECT_EQ(access_text(r),
            "[::1]:4000 \"/a\\\"b\\u000a\" 404 pool=- backend=- stream=- duration_ms=0 up_msgs=0 up_bytes=0 "
            "down_msgs=0 down_bytes=0 close_from_client=- close_to_client=- close_from_backend=- "
            "close_to_backend=- closed_by=wsgate tls=- cipher=- resumed=-");
}

TEST(AccessJson, MembersWithNullsForWhatDoesNotApply) {
  AccessRecord r = sample();
  r.pool = {};
  r.backend = {};
  r.stream = "ticker";
  r.close_from_backend = 0;
  r.close_to_backend = 0;
  EXPECT_EQ(access_json(r),
            "\"client\":\"127.0.0.1:50312\",\"path\":\"/chat\",\"status\":101,\"pool\":null,\"backend\":null,"
            "\"stream\":\"ticker\",\"duration_ms\":1530,\"up_msgs\":3,\"up_bytes\":15,\"down_msgs\":4,"
            "\"down_bytes\":20,\"close_from_client\":1000,\"close_to_client\":1000,\"close_from_backend\":null,"
            "\"close_to_backend\":null,\"closed_by\":\"client\"");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The file is written with the time first, buffered until flush(); after a
// rename, reopen() sends the next lines to a new file (logrotate's create
// mode followed by SIGUSR1).
TEST(AccessLogFile, BuffersFlushesAndReopensAfterRename) {
  char dir[] = "/tmp/wsgate-access-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/access.log";
  std::string why;
  ASSERT_TRUE(open_access_log(path, conf::LogFormat::json, &why)) << why;
  write_access(sample());
  EXPECT_EQ(slurp(path), "");  // buffered
  flush();
  const std::string first = slurp(path);
  EXPECT_TRUE(std::regex_match(
      first,
      std::regex(
          R"(\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","client":"127\.0\.0\.1:50312",.*"closed_by":"client"\}\n)")))
      << first;
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  write_access(sample());
  reopen();
  write_access(sample());
  flush();
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 1);
  const std::string rotated = slurp(path + ".1"), fresh = slurp(path);
  EXPECT_EQ(std::count(rotated.begin(), rotated.end(), '\n'), 2) << rotated;  // the buffered line went to the old file
  EXPECT_EQ(std::count(fresh.begin(), fresh.end(), '\n'), 1) << fresh;
  std::remove((path + ".1").c_str());
  std::remove(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace wsgate::log
