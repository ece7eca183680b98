#include "worker/net/random_bytes.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace wsgate::worker {
namespace {

TEST(RandomBytes, ConsecutiveDrawsDiffer) {
  std::array<uint8_t, 16> a{}, b{};
  fill_random(a.data(), a.size());
  fill_random(b.data(), b.size());
  EXPECT_NE(a, b);
}

// Workers are forked from the master: a child must not replay the bytes its
// parent still had pooled, or two workers would mask frames with the same keys.
TEST(RandomBytes, AForkedChildDoesNotRepeatItsParentsBytes) {
  std::array<uint8_t, 4> warm{};
  fill_random(warm.data(), warm.size());  // the pool now holds bytes a child would inherit
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  if (child == 0) {
    std::array<uint8_t, 64> mine{};
    fill_random(mine.data(), mine.size());
    ssize_t w = write(fds[1], mine.data(), mine.size());
    _exit(w == static_cast<ssize_t>(mine.size()) ? 0 : 1);
  }
  std::array<uint8_t, 64> parent{}, from_child{};
  fill_random(parent.data(), parent.size());
  ASSERT_EQ(read(fds[0], from_child.data(), from_child.size()), static_cast<ssize_t>(from_child.size()));
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(parent, from_child);
}

}  // namespace
}  // namespace wsgate::worker
