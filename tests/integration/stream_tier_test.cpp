// Tiered fan-out through two real wsgates: feed source -> wsgate B (stream
// `core`) -> wsgate A (stream `edge`, whose source is B's /core route) -> 500
// subscribers on A. However many subscribers A has, B sees one (A's feeder)
// and the feed sees one (B's feeder); every subscriber gets every message in
// order. A killed feeder in the middle tier is respawned, and A's
// subscribers carry on without noticing more than a gap.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/feed_message.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kSubscribers = 500;

std::string stream_config(const std::string& name, const std::string& source, const std::string& route) {
  return "streams:\n"
         "  " +
         name +
         ":\n"
         "    source: " +
         source +
         "\n"
         "    channels: single\n"
         "    history: 0\n"
         "    subscriber_queue: 1MiB\n"
         "    slow_subscriber: drop_oldest\n"
         "    linger: 30s\n"
         "routes:\n"
         "  - { path: " +
         route + ", stream: " + name + " }\n";
}

struct Sub {
  WsClient ws;
  std::uint64_t first = 0;  // first seq received
  std::uint64_t last = 0;   // last seq received
  int gaps = 0;             // jumps of more than +1
  std::string error;        // the first thing that went wrong; not read again after it
};

// One frame from wsgate: a feed message of /live with seq last+1 (or, with
// allow_gap, anything above last). Sets s.error otherwise.
void take(Sub& s, const Frame& f, bool allow_gap) {
  if (f.opcode != kText || !f.fin) {
    std::string what = "opcode " + std::to_string(f.opcode) + (f.fin ? "" : " (not final)");
    if (f.opcode == kClose && f.payload.size() >= 2) {
      what +=
          " (close " +
          std::to_string((static_cast<unsigned char>(f.payload[0]) << 8) | static_cast<unsigned char>(f.payload[1])) +
          " \"" + f.payload.substr(2) + "\")";
    }
    s.error = "after seq " + std::to_string(s.last) + ": got " + what;
    return;
  }
  const auto fm = parse_feed_message(f.payload);
  if (!fm) {
    s.error = "not a feed message: " + f.payload;
  } else if (fm->path != "/live") {
    s.error = "path " + fm->path + " in " + f.payload;
  } else if (s.first != 0 && fm->seq <= s.last) {
    s.error = "seq " + std::to_string(fm->seq) + " after " + std::to_string(s.last) + " (duplicate or reordered)";
  } else if (s.first != 0 && fm->seq != s.last + 1 && !allow_gap) {
    s.error = "seq " + std::to_string(fm->seq) + " after " + std::to_string(s.last) + " (gap)";
  } else {
    if (s.first == 0) {
      s.first = fm->seq;
    } else if (fm->seq != s.last + 1) {
      ++s.gaps;
    }
    s.last = fm->seq;
  }
}

// Reads every subscriber until it has a seq >= target, round-robin: each
// turn takes what is already buffered, so all subscribers keep pace with the
// feed instead of the last ones piling up a backlog while the first are read.
// Reports the first few failures; returns how many failed.
int read_all_until(std::vector<Sub>& subs, std::uint64_t target, bool allow_gap, Clock::time_point deadline) {
  std::vector<pollfd> fds;
  for (;;) {
    bool progress = false, waiting = false;
    for (Sub& s : subs) {
      // Up to 64 frames a turn: enough to keep up, fair to the others.
      for (int n = 0; n < 64 && s.error.empty() && s.last < target; ++n) {
        std::optional<Frame> f;
        try {
          f = s.ws.try_recv_frame(0ms);
        } catch (const TestIoError& e) {
          s.error = std::string("after seq ") + std::to_string(s.last) + ": " + e.what();
          break;
        }
        if (!f) break;
        take(s, *f, allow_gap);
        progress = true;
      }
      waiting |= s.error.empty() && s.last < target;
    }
    if (!waiting) break;
    if (Clock::now() >= deadline) {
      for (Sub& s : subs) {
        if (s.error.empty() && s.last < target) {
          s.error = "timed out at seq " + std::to_string(s.last) + " waiting for " + std::to_string(target);
        }
      }
      break;
    }
    if (!progress) {
      fds.clear();
      for (Sub& s : subs) {
        if (s.error.empty() && s.last < target) fds.push_back(pollfd{s.ws.fd(), POLLIN, 0});
      }
      ::poll(fds.data(), fds.size(), 50);
    }
  }
  int failed = 0;
  for (std::size_t i = 0; i < subs.size(); ++i) {
    if (!subs[i].error.empty() && ++failed <= 5) {
      ADD_FAILURE() << "subscriber " << i << ": " << subs[i].error;
    }
  }
  return failed;
}

std::string per_worker_text(const ChannelStatus& c) {
  std::ostringstream o;
  for (long n : c.per_worker) o << n << ' ';
  return o.str();
}

class StreamTier : public ::testing::Test {
 protected:
  void SetUp() override {
    b_ = std::make_unique<Gateway>(stream_config("core", feed_.url("/live"), "/core"), 2);
    a_ = std::make_unique<Gateway>(
        stream_config("edge", "ws://127.0.0.1:" + std::to_string(b_->port()) + "/core", "/edge"), 2);
  }

  void TearDown() override {
    subs_.clear();  // disconnect first: A need not close 500 subscribers
    for (auto* gw : {a_.get(), b_.get()}) {
      if (!gw) continue;
      const ExitStatus st = gw->process().stop(10s);
      EXPECT_TRUE(st.ok()) << st.describe() << "\n" << gw->process().stderr_text();
    }
  }

  // What both gateways and the feed say, for a failure message.
  std::string diagnostics() {
    std::ostringstream o;
    for (auto [name, gw] : {std::pair{"A", a_.get()}, std::pair{"B", b_.get()}}) {
      const CommandResult r = run_wsgate({"status", "-c", gw->config_path(), "--json"});
      const std::string log = gw->process().stdout_text() + gw->process().stderr_text();
      o << "---- wsgate " << name << " status: " << r.out << "\n---- wsgate " << name << " log (tail):\n"
        << log.substr(log.size() > 6000 ? log.size() - 6000 : 0) << "\n";
    }
    try {
      const FeedStats f = feed_.stats();
      o << "---- feed: total " << f.connections_total << " open " << f.connections_open << " seq "
        << f.channel("/live").seq << "\n";
    } catch (const TestIoError& e) {
      o << "---- feed stats failed: " << e.what() << "\n";
    }
    const std::string flog = feed_.process().stdout_text() + feed_.process().stderr_text();
    o << "---- feed log (tail):\n" << flog.substr(flog.size() > 3000 ? flog.size() - 3000 : 0) << "\n";
    return o.str();
  }

  // kSubscribers subscribers on A, the whole chain up, counted everywhere.
  void subscribe_all() {
    subs_.reserve(kSubscribers);
    for (int i = 0; i < kSubscribers; ++i) {
      Sub s;
      s.ws = a_->open("/edge");
      ASSERT_TRUE(s.ws.handshake_ok()) << "subscriber " << i << ": " << s.ws.status() << " " << s.ws.handshake_error();
      subs_.push_back(std::move(s));
    }
    const Status as = a_->wait_status(
        [](const Status& s) {
          const ChannelStatus* c = s.channel("edge");
          return c && c->subscribers == kSubscribers && c->upstream == "up";
        },
        10s);
    const ChannelStatus* edge = as.channel("edge");
    ASSERT_NE(edge, nullptr) << a_->process().stderr_text();
    EXPECT_EQ(edge->subscribers, kSubscribers);
    EXPECT_EQ(edge->upstream, "up");
    // per_worker has one entry per slot: both proxy workers serve some, the
    // feeder's slot none.
    ASSERT_EQ(edge->per_worker.size(), as.roles.size()) << per_worker_text(*edge);
    long proxies = 0, sum = 0;
    for (std::size_t slot = 0; slot < as.roles.size(); ++slot) {
      if (as.roles[slot] == "proxy") {
        ++proxies;
        EXPECT_GT(edge->per_worker[slot], 0) << "slot " << slot << ": " << per_worker_text(*edge);
      } else {
        EXPECT_EQ(edge->per_worker[slot], 0)
            << "slot " << slot << " (" << as.roles[slot] << "): " << per_worker_text(*edge);
      }
      sum += edge->per_worker[slot];
    }
    EXPECT_EQ(proxies, 2);
    EXPECT_EQ(sum, kSubscribers) << per_worker_text(*edge);
    EXPECT_EQ(edge->connects, 1);

    // B serves one subscriber: A's feeder.
    const Status bs = b_->wait_status([](const Status& s) {
      const ChannelStatus* c = s.channel("core");
      return c && c->subscribers == 1 && c->upstream == "up";
    });
    const ChannelStatus* core = bs.channel("core");
    ASSERT_NE(core, nullptr) << b_->process().stderr_text();
    EXPECT_EQ(core->subscribers, 1);
    EXPECT_EQ(core->upstream, "up");
    EXPECT_EQ(core->connects, 1);

    // The feed serves one connection: B's feeder.
    const FeedStats fs = feed_.wait_stats([](const FeedStats& s) { return s.connections_open == 1; });
    EXPECT_EQ(fs.connections_total, 1u);
    EXPECT_EQ(fs.connections_open, 1u);
    EXPECT_EQ(fs.channel("/live").open, 1u);
  }

  // Every subscriber reads, in order and without a gap, to 50 past the
  // feed's seq now.
  void expect_contiguous_to_target() {
    const std::uint64_t target = feed_.stats().channel("/live").seq + 50;
    const int failed = read_all_until(subs_, target, false, Clock::now() + 15s);
    EXPECT_EQ(failed, 0) << failed << " of " << subs_.size() << " subscribers failed\n"
                         << (failed ? diagnostics() : "");
  }

  FeedSource feed_{"feed", 100};
  std::unique_ptr<Gateway> b_, a_;
  std::vector<Sub> subs_;
};

// Lower-case suite name so `ctest -R 'tier'` selects these tests.
using tier = StreamTier;

TEST_F(tier, FiveHundredSubscribersOnOneFeedConnectionGetEveryMessageInOrder) {
  const auto t0 = Clock::now();
  subscribe_all();
  if (HasFatalFailure()) return;
  expect_contiguous_to_target();
  for (const Sub& s : subs_) EXPECT_EQ(s.gaps, 0);
  // Still one connection at each tier afterwards.
  const FeedStats fs = feed_.stats();
  EXPECT_EQ(fs.connections_total, 1u);
  EXPECT_EQ(fs.connections_open, 1u);
  EXPECT_EQ(b_->status().channel("core")->subscribers, 1);
  std::cout << "[ measured ] " << kSubscribers << " subscribers, "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count() << " ms\n";
}

TEST_F(tier, KilledMiddleFeederIsRespawnedAndTheEdgeCarriesOn) {
  subscribe_all();
  if (HasFatalFailure()) return;
  expect_contiguous_to_target();

  const int victim = b_->status().pid_of("feeder");
  ASSERT_GT(victim, 0);
  const auto killed_at = Clock::now();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);

  // B's master starts a new feeder, which connects to the feed again.
  const Status bs = b_->wait_status(
      [victim](const Status& s) { return s.pid_of("feeder") > 0 && s.pid_of("feeder") != victim; }, 10s);
  EXPECT_GT(bs.pid_of("feeder"), 0);
  EXPECT_NE(bs.pid_of("feeder"), victim) << b_->process().stderr_text();
  const FeedStats reconnected =
      feed_.wait_stats([](const FeedStats& s) { return s.connections_total == 2 && s.connections_open == 1; }, 10s);
  const auto reconnect_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - killed_at).count();
  EXPECT_EQ(reconnected.connections_total, 2u) << diagnostics();
  EXPECT_EQ(reconnected.connections_open, 1u);
  std::cout << "[ measured ] feed saw the new feeder " << reconnect_ms << " ms after the kill\n";

  // Every subscriber of A receives messages sent after the reconnect, within
  // 10 s of the kill: seq goes on, at most one gap, nothing twice, no close.
  const std::uint64_t after = reconnected.channel("/live").seq + 1;
  int failed = read_all_until(subs_, after, true, killed_at + 10s);
  EXPECT_EQ(failed, 0) << failed << " of " << subs_.size() << " subscribers got nothing new within 10 s of the kill\n"
                       << (failed ? diagnostics() : "");
  std::cout << "[ measured ] all " << subs_.size() << " subscribers past seq " << after << " "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - killed_at).count() << " ms after the kill\n";
  // And on, contiguous again, past a later point.
  const std::uint64_t later = feed_.stats().channel("/live").seq + 30;
  failed = read_all_until(subs_, later, true, Clock::now() + 15s);
  EXPECT_EQ(failed, 0);
  for (std::size_t i = 0; i < subs_.size(); ++i) {
    EXPECT_LE(subs_[i].gaps, 1) << "subscriber " << i;
  }

  // Nobody downstream noticed: A still has them all on its one upstream,
  // B still has A's feeder; the feed has exactly one connection.
  const Status as = a_->status();
  ASSERT_NE(as.channel("edge"), nullptr);
  EXPECT_EQ(as.channel("edge")->subscribers, kSubscribers);
  EXPECT_EQ(as.channel("edge")->connects, 1) << "A's feeder lost B";
  const Status bs2 = b_->status();
  ASSERT_NE(bs2.channel("core"), nullptr);
  EXPECT_EQ(bs2.channel("core")->subscribers, 1);
  EXPECT_EQ(bs2.channel("core")->upstream, "up");
  ::usleep(500 * 1000);
  const FeedStats fs = feed_.stats();
  EXPECT_EQ(fs.connections_open, 1u);
  EXPECT_EQ(fs.connections_total, 2u);
  EXPECT_TRUE(b_->process().has_output(std::to_string(victim))) << b_->process().stderr_text();
}

}  // namespace
}  // namespace wsgate::test
