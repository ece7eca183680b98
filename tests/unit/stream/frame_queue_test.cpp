// A subscriber's output queue (worker/stream/frame_queue.h) on a real libuv loop:
// one end of a Unix socketpair is a uv_pipe_t, the test reads the other end.
// A small send buffer makes uv_try_write stop part way, so a uv_write is
// left in flight.
#include "worker/stream/frame_queue.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace wsgate::worker {
namespace {

FrameRef frame(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

// `n` bytes that say which frame they belong to.
FrameRef big(char tag, size_t n) {
  std::string s(n, tag);
  for (size_t i = 0; i < n; i += 997) s[i] = static_cast<char>('a' + (i / 997) % 26);
  return frame(std::move(s));
}

struct Events {
  std::vector<int> statuses;
  static void on_event(void* user, int status) { static_cast<Events*>(user)->statuses.push_back(status); }
};

class FrameQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    peer_ = fds_[1];
    ASSERT_EQ(fcntl(peer_, F_SETFL, fcntl(peer_, F_GETFL) | O_NONBLOCK), 0);
    ASSERT_EQ(uv_pipe_init(&loop_, &pipe_, 0), 0);
    ASSERT_EQ(uv_pipe_open(&pipe_, fds_[0]), 0);
  }
  void TearDown() override {
    queue_.reset();  // before the pipe: a write still in flight is cancelled with no owner
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    if (peer_ >= 0) close(peer_);
  }

  void small_send_buffer() {
    int n = 4096;  // the kernel doubles it and has a floor; a few KiB in all
    ASSERT_EQ(setsockopt(fds_[0], SOL_SOCKET, SO_SNDBUF, &n, sizeof n), 0);
  }
  FrameQueue& make(uint64_t limit) {
    queue_ = std::make_unique<FrameQueue>(reinterpret_cast<uv_stream_t*>(&pipe_), limit, &Events::on_event, &events_);
    return *queue_;
  }
  // Reads what the peer has; runs the loop without blocking.
  void pump_once() {
    uv_run(&loop_, UV_RUN_NOWAIT);
    if (peer_ < 0) return;
    char buf[65536];
    for (;;) {
      ssize_t r = read(peer_, buf, sizeof buf);
      if (r <= 0) break;
      received_.append(buf, static_cast<size_t>(r));
    }
  }
  // Pumps until `done` (true) or 900 ms (false).
  bool pump_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(900);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pump_once();
    }
    return true;
  }
  // Runs the loop a little without reading.
  void spin_loop(int times = 5) {
    for (int i = 0; i < times; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  }

  uv_loop_t loop_{};
  uv_pipe_t pipe_{};
  int fds_[2] = {-1, -1};
  int peer_ = -1;
  Events events_;
  std::unique_ptr<FrameQueue> queue_;
  std::string received_;
};

TEST_F(FrameQueueTest, FramesArriveInOrder) {
  FrameQueue& q = make(1 << 20);
  std::string expect;
  for (int i = 0; i < 200; ++i) {  // more than one system call's worth of buffers
    std::string s = "frame-" + std::to_string(i) + std::string(static_cast<size_t>(i % 17), '.');
    expect += s;
    ASSERT_TRUE(q.push(frame(s)));
  }
  EXPECT_EQ(q.queued_bytes(), expect.size());
  EXPECT_EQ(q.flush(), 0);
  ASSERT_TRUE(pump_until([&] { return received_.size() >= expect.size(); }));
  EXPECT_EQ(received_, expect);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.queued_bytes(), 0u);
  EXPECT_FALSE(q.failed());
  // All of it went by uv_try_write: no write completed, so no event.
  EXPECT_TRUE(events_.statuses.empty());
}

TEST_F(FrameQueueTest, AFrameSharedByTwoQueuesIsOneAllocation) {
  FrameQueue& q = make(1 << 20);
  FrameRef f = frame("shared");
  ASSERT_TRUE(q.push(f));
  EXPECT_EQ(f.use_count(), 2);
  EXPECT_EQ(q.flush(), 0);
  ASSERT_TRUE(pump_until([&] { return received_.size() >= 6; }));
  EXPECT_EQ(f.use_count(), 1);  // released once written
}

TEST_F(FrameQueueTest, WhatTheSocketDidNotTakeIsWrittenByOneUvWrite) {
  small_send_buffer();
  FrameQueue& q = make(1 << 20);
  std::string expect;
  for (char tag : {'A', 'B', 'C', 'D'}) {
    FrameRef f = big(tag, 64 * 1024);
    expect += *f;
    ASSERT_TRUE(q.push(f));
  }
  EXPECT_EQ(q.flush(), 0);
  EXPECT_FALSE(q.empty()) << "the send buffer took everything: the test needs a smaller one";
  EXPECT_EQ(q.flush(), 0);  // no-op while a write is in flight
  EXPECT_TRUE(events_.statuses.empty()) << "no event from inside flush()";
  // More pushed while writing is written after.
  FrameRef tail = frame("the end");
  expect += *tail;
  ASSERT_TRUE(q.push(tail));
  ASSERT_TRUE(pump_until([&] { return !events_.statuses.empty(); }));
  ASSERT_TRUE(pump_until([&] { return received_.size() >= expect.size(); }));
  EXPECT_EQ(received_, expect);
  EXPECT_TRUE(q.empty());
  ASSERT_EQ(events_.statuses.size(), 1u);
  EXPECT_EQ(events_.statuses[0], 0);
}

// bytes_ is "unwritten bytes queued": what uv_try_write took of the first
// frame must come off it too, or an idle subscriber's queue looks fuller and
// fuller until push() refuses everything.
TEST_F(FrameQueueTest, QueuedBytesAreZeroOnceAPartlyTriedFrameIsWritten) {
  small_send_buffer();
  FrameQueue& q = make(1 << 20);
  ASSERT_TRUE(q.push(big('A', 200 * 1024)));
  EXPECT_EQ(q.flush(), 0);
  ASSERT_FALSE(q.empty()) << "the send buffer took everything: the test needs a smaller one";
  EXPECT_LT(q.queued_bytes(), 200u * 1024u) << "the bytes already written still count as queued";
  ASSERT_TRUE(pump_until([&] { return !events_.statuses.empty(); }));
  EXPECT_EQ(events_.statuses, std::vector<int>{0});
  EXPECT_EQ(received_.size(), 200u * 1024u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.queued_bytes(), 0u);
}

TEST_F(FrameQueueTest, PushRespectsTheLimitUnlessMust) {
  FrameQueue& q = make(100);
  EXPECT_EQ(q.limit(), 100u);
  EXPECT_TRUE(q.push(frame(std::string(60, 'a'))));
  EXPECT_FALSE(q.push(frame(std::string(41, 'b'))));
  EXPECT_EQ(q.queued_bytes(), 60u);
  EXPECT_TRUE(q.push(frame(std::string(40, 'c'))));  // exactly the limit
  EXPECT_FALSE(q.push(frame("d")));
  EXPECT_TRUE(q.push(frame(std::string(500, 'm')), true));
  EXPECT_TRUE(q.push(frame("n"), true));
  EXPECT_EQ(q.queued_bytes(), 601u);
  EXPECT_FALSE(q.push(frame("e")));
  EXPECT_EQ(q.flush(), 0);
  ASSERT_TRUE(pump_until([&] { return received_.size() >= 601; }));
  EXPECT_EQ(received_, std::string(60, 'a') + std::string(40, 'c') + std::string(500, 'm') + "n");
  EXPECT_EQ(q.queued_bytes(), 0u);
  EXPECT_TRUE(q.push(frame(std::string(100, 'f'))));
}

TEST_F(FrameQueueTest, DropOldestDropsDataFramesOldestFirstButNotMustFrames) {
  FrameQueue& q = make(40);
  ASSERT_TRUE(q.push(frame("aaaaaaaaaa")));
  ASSERT_TRUE(q.push(frame("MMMMMMMMMM"), true));
  ASSERT_TRUE(q.push(frame("bbbbbbbbbb")));
  ASSERT_TRUE(q.push(frame("cccccccccc")));
  EXPECT_EQ(q.drop_oldest(0), 0u);   // fits already
  EXPECT_EQ(q.drop_oldest(15), 2u);  // a, then b: 20 + 15 <= 40
  EXPECT_EQ(q.queued_bytes(), 20u);
  EXPECT_EQ(q.drop_oldest(1000), 1u);  // only c is left to drop
  EXPECT_EQ(q.queued_bytes(), 10u);
  EXPECT_TRUE(q.push(frame("dddddddddd")));
  EXPECT_EQ(q.flush(), 0);
  ASSERT_TRUE(pump_until([&] { return received_.size() >= 20; }));
  EXPECT_EQ(received_, "MMMMMMMMMMdddddddddd");
}

TEST_F(FrameQueueTest, DropOldestKeepsTheFramesAWriteHasStartedOn) {
  small_send_buffer();
  FrameQueue& q = make(1 << 20);
  FrameRef x1 = big('X', 64 * 1024), x2 = big('Y', 64 * 1024);
  ASSERT_TRUE(q.push(x1));
  ASSERT_TRUE(q.push(x2));
  EXPECT_EQ(q.flush(), 0);
  ASSERT_FALSE(q.empty()) << "the send buffer took everything: the test needs a smaller one";
  ASSERT_TRUE(q.push(frame("drop-1")));
  ASSERT_TRUE(q.push(frame("MUST"), true));
  ASSERT_TRUE(q.push(frame("drop-2")));
  EXPECT_EQ(q.drop_oldest(1 << 30), 2u);  // whatever is asked, only drop-1 and drop-2 go
  EXPECT_EQ(q.drop_oldest(1 << 30), 0u);
  ASSERT_TRUE(pump_until([&] { return !events_.statuses.empty(); }));
  EXPECT_EQ(events_.statuses, std::vector<int>{0});
  EXPECT_EQ(received_, *x1 + *x2 + "MUST");
  EXPECT_TRUE(q.empty());
}

TEST_F(FrameQueueTest, AWriteErrorAfterThePeerClosesIsReportedOnceAndSticks) {
  small_send_buffer();
  FrameQueue& q = make(1 << 20);
  ASSERT_TRUE(q.push(big('A', 256 * 1024)));
  EXPECT_EQ(q.flush(), 0);
  ASSERT_FALSE(q.empty());
  close(peer_);
  peer_ = -1;
  ASSERT_TRUE(pump_until([&] { return !events_.statuses.empty(); }));
  ASSERT_EQ(events_.statuses.size(), 1u);
  const int status = events_.statuses[0];
  EXPECT_LT(status, 0);
  EXPECT_TRUE(status == UV_EPIPE || status == UV_ECONNRESET) << uv_err_name(status);
  EXPECT_TRUE(q.failed());
  EXPECT_EQ(q.error(), status);
  EXPECT_TRUE(q.push(frame("more")));
  EXPECT_EQ(q.flush(), status);
  spin_loop();
  EXPECT_EQ(events_.statuses.size(), 1u);
}

TEST_F(FrameQueueTest, AWriteErrorInsideFlushIsReturnedNotCalledBack) {
  FrameQueue& q = make(1 << 20);
  close(peer_);
  peer_ = -1;
  ASSERT_TRUE(q.push(frame("hello")));
  const int r = q.flush();
  EXPECT_LT(r, 0);
  EXPECT_TRUE(q.failed());
  EXPECT_EQ(q.error(), r);
  spin_loop();
  EXPECT_TRUE(events_.statuses.empty());
}

TEST_F(FrameQueueTest, DestroyingTheQueueWithAWriteInFlightIsSafe) {
  small_send_buffer();
  FrameQueue& q = make(1 << 20);
  FrameRef f = big('A', 256 * 1024);
  ASSERT_TRUE(q.push(f));
  EXPECT_EQ(q.flush(), 0);
  ASSERT_FALSE(q.empty());
  queue_.reset();
  EXPECT_GE(f.use_count(), 2) << "the write holds the frame it points into";
  // Let some of it through, then TearDown closes the pipe and cancels the rest.
  pump_once();
  spin_loop();
  EXPECT_TRUE(events_.statuses.empty());
}

}  // namespace
}  // namespace wsgate::worker
