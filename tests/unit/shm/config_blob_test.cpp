// The published config text (shm/config_blob.h): one writer, readers that
// never see a torn copy.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "shm/config_blob.h"

namespace wsgate::shm {
namespace {

std::string blob_name() { return "wsgate-test-blob-" + std::to_string(getpid()); }

TEST(ConfigBlob, NothingPublishedReadsAsNothing) {
  ConfigBlob blob = ConfigBlob::create(blob_name());
  EXPECT_EQ(blob.sequence(), 0u);
  EXPECT_FALSE(blob.read().has_value());
}

TEST(ConfigBlob, ReadsWhatWasPublishedLastWithItsSequence) {
  ConfigBlob blob = ConfigBlob::create(blob_name());
  ASSERT_TRUE(blob.publish("listen: 127.0.0.1:8080\n"));
  ASSERT_TRUE(blob.publish(std::string("odd length \0 with a NUL", 23)));
  auto got = blob.read();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->first, std::string("odd length \0 with a NUL", 23));
  EXPECT_EQ(got->second, 4u);
  EXPECT_EQ(blob.sequence(), 4u);
  ASSERT_TRUE(blob.publish(""));
  EXPECT_EQ(blob.read()->first, "");
}

TEST(ConfigBlob, RefusesTextOverItsCapacity) {
  ConfigBlob blob = ConfigBlob::create(blob_name());
  EXPECT_FALSE(blob.publish(std::string(ConfigBlob::kCapacity + 1, 'x')));
  EXPECT_TRUE(blob.publish(std::string(ConfigBlob::kCapacity, 'x')));
  EXPECT_EQ(blob.read()->first.size(), ConfigBlob::kCapacity);
}

TEST(ConfigBlob, AReaderNeverSeesAMixOfTwoTexts) {
  ConfigBlob blob = ConfigBlob::create(blob_name());
  const std::string a(100000, 'a'), b(60000, 'b');
  ASSERT_TRUE(blob.publish(a));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      blob.publish(i % 2 ? a : b);
    }
    done = true;
  });
  long reads = 0;
  while (!done) {
    if (auto got = blob.read()) {
      ASSERT_TRUE(got->first == a || got->first == b) << "torn read of " << got->first.size() << " bytes";
      ++reads;
    }
  }
  writer.join();
  EXPECT_GT(reads, 0);
}

TEST(ConfigBlob, TheCreatorUnlinksItsName) {
  const std::string name = blob_name();
  { ConfigBlob blob = ConfigBlob::create(name); }
  EXPECT_NE(access(("/dev/shm/" + name).c_str(), F_OK), 0);
}

}  // namespace
}  // namespace wsgate::shm
