// Reloads under load: 20 SIGHUPs, alternating changes applied in
// place and changes that start a new generation, with a broken file in the
// middle, while RELOAD_SESSIONS (1000) sessions echo and RELOAD_NEW_PER_S
// (100) new sessions per second arrive; then the worker count shrinks and
// grows by reload under the same load. What must hold: no handshake fails,
// no steady session is lost or misses an answer, every replaced generation
// exits once its sessions are done.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "tests/chaos/chaos_support.h"
#include "tests/chaos/load_driver.h"

namespace wsgate::chaos {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

struct ReloadSizes {
  int sessions = env_int("RELOAD_SESSIONS", 1000);
  int new_per_s = env_int("RELOAD_NEW_PER_S", 100);
  int reloads = env_int("RELOAD_COUNT", 20);
};

class ReloadUnderLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    a.start();
    b.start();
  }

  // The config body for step `k`: the weight of b and max_message move with
  // k (in place); the route set moves with `routes` (a new generation).
  std::string body(unsigned workers, int weight, bool extra_route, int max_message_kib) const {
    std::string text = "workers: " + std::to_string(workers) +
                       "\n"
                       // Generations pile up faster than the steady sessions end:
                       // let them all drain for the whole test.
                       "max_generations: 8\n"
                       "drain_timeout: 10m\n"
                       "limits:\n  max_message: " +
                       std::to_string(max_message_kib) +
                       "KiB\n"
                       "pools:\n  chat:\n    backends:\n"
                       "      - " +
                       a.address() +
                       "\n"
                       "      - { address: " +
                       b.address() + ", weight: " + std::to_string(weight) +
                       " }\n"
                       "routes:\n  - { path: /chat, pool: chat }\n";
    if (extra_route) {
      text += "  - { path: /other, pool: chat }\n";
    }
    return text;
  }

  void write(const std::string& text) {
    test::write_file(gw->config_path(), "listen: 127.0.0.1:" + std::to_string(gw->port()) + "\n" + text);
  }

  // SIGHUP, then wait until the master counted it (ok or failed).
  void hup_and_wait(long ok_before, long failed_before, bool expect_ok) {
    gw->process().send_signal(SIGHUP);
    const test::Status st = gw->wait_status(
        [&](const test::Status& s) { return s.reloads_ok > ok_before || s.reloads_failed > failed_before; },
        milliseconds(20000));
    if (expect_ok) {
      ASSERT_EQ(st.reloads_ok, ok_before + 1) << gw->process().stderr_text();
      ASSERT_EQ(st.reloads_failed, failed_before);
    } else {
      ASSERT_EQ(st.reloads_failed, failed_before + 1);
      ASSERT_EQ(st.reloads_ok, ok_before);
    }
  }

  Backend a{"a"}, b{"b"};
  ReloadSizes sizes;
  std::unique_ptr<Gateway> gw;
};

TEST_F(ReloadUnderLoad, TwentyReloadsLoseNothing) {
  // Gateway writes listen + workers itself; its body must not repeat them.
  std::string first = body(2, 1, false, 1024);
  gw = std::make_unique<Gateway>(first.substr(first.find('\n') + 1), 2);
  LoadOptions opt;
  opt.port = gw->port();
  opt.sessions = sizes.sessions;
  opt.threads = 8;
  opt.period = milliseconds(1000);
  opt.reply_timeout = milliseconds(3000);
  LoadDriver load(opt);
  load.start();
  NewSessionStream fresh(gw->port(), sizes.new_per_s);
  fresh.start();

  long ok = 0, failed = 0;
  int generations_started = 0;
  bool extra_route = false;
  const auto t0 = Clock::now();
  for (int k = 1; k <= sizes.reloads; ++k) {
    if (k == sizes.reloads / 2) {
      // A broken file in the middle: nothing changes.
      write("workers: 2\npools: {chat: {backends: [" + a.address() +
            "]}}\nroutes:\n  - { path: /chat, pool: nowhere }\n");
      hup_and_wait(ok, failed, false);
      ++failed;
    }
    if (k % 2 == 1) {
      write(body(2, 1 + k % 3, extra_route, 1024 + k));  // in place: a weight and a limit
    } else {
      extra_route = !extra_route;
      write(body(2, 1 + k % 3, extra_route, 1024 + k));  // a new generation: the routes
      ++generations_started;
    }
    hup_and_wait(ok, failed, true);
    ++ok;
    std::this_thread::sleep_for(milliseconds(500));
  }
  const long reload_ms = ms_since(t0);
  std::this_thread::sleep_for(milliseconds(1000));
  fresh.stop();

  // Every generation but the first and the last had only short sessions: gone.
  const test::Status st = gw->wait_status(
      [&](const test::Status& s) {
        for (size_t i = 0; i < s.roles.size(); ++i) {
          if (s.roles[i] == "proxy" && s.worker_pids[i] > 0 && s.generations[i] != 1 &&
              s.generations[i] != s.generation) {
            return false;
          }
        }
        return true;
      },
      milliseconds(10000));
  EXPECT_EQ(st.generation, 1 + generations_started);
  EXPECT_EQ(st.proxies(st.generation).size(), 2u);
  for (size_t i = 0; i < st.roles.size(); ++i) {
    if (st.roles[i] == "proxy" && st.worker_pids[i] > 0) {
      EXPECT_TRUE(st.generations[i] == 1 || st.generations[i] == st.generation)
          << "generation " << st.generations[i] << " still runs in slot " << i;
    }
  }

  const std::vector<SessionRecord> recs = load.finish();
  long lost = 0, replies_lost = 0, bad = 0;
  for (const SessionRecord& r : recs) {
    lost += r.alive() ? 0 : 1;
    replies_lost += r.replies_lost;
    bad += r.bad_replies;
    if (!r.alive() && lost <= 5) {
      ADD_FAILURE() << "session " << r.id << " " << fate_name(r.fate) << " (" << r.close_code << " " << r.detail << ")";
    }
  }
  const std::vector<Attempt> attempts = fresh.attempts();
  long failed_handshakes = 0, cut = 0;
  for (const Attempt& at : attempts) {
    failed_handshakes += at.handshake_ok() ? 0 : 1;
    cut += at.cut() ? 1 : 0;
    if (!at.handshake_ok() && failed_handshakes <= 5) {
      ADD_FAILURE() << "new session " << at.index << ": status " << at.status << " " << at.error;
    }
  }
  std::printf(
      "reload under load: %d reloads (%d new generations, 1 broken file) in %ld ms; %d steady sessions: %ld lost, "
      "%ld replies lost; %zu new sessions: %ld failed handshakes, %ld cut\n",
      sizes.reloads, generations_started, reload_ms, sizes.sessions, lost, replies_lost, attempts.size(),
      failed_handshakes, cut);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(replies_lost, 0);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(failed_handshakes, 0);
  EXPECT_EQ(cut, 0);
  EXPECT_GE(attempts.size(), static_cast<size_t>(sizes.reloads));
  EXPECT_TRUE(load.thread_errors().empty());

  // The steady sessions end: generation 1 goes too.
  load.close_all();
  gw->process().wait_for_output("generation 1 is gone", milliseconds(10000));
}

TEST_F(ReloadUnderLoad, WorkersShrinkAndGrowWithoutAFailedHandshake) {
  std::string first = body(2, 1, false, 1024);
  gw = std::make_unique<Gateway>(first.substr(first.find('\n') + 1), 2);
  LoadOptions opt;
  opt.port = gw->port();
  opt.sessions = sizes.sessions / 2;
  opt.threads = 4;
  opt.period = milliseconds(1000);
  opt.reply_timeout = milliseconds(3000);
  LoadDriver load(opt);
  load.start();
  NewSessionStream fresh(gw->port(), sizes.new_per_s);
  fresh.start();
  long ok = 0;
  for (unsigned workers : {1u, 3u, 1u, 4u, 2u}) {
    write(body(workers, 1, false, 1024));
    hup_and_wait(ok, 0, true);
    ++ok;
    const test::Status st = gw->wait_status(
        [&](const test::Status& s) { return s.proxies(s.generation).size() == workers; }, milliseconds(5000));
    EXPECT_EQ(st.proxies(st.generation).size(), workers);
    std::this_thread::sleep_for(milliseconds(1000));
  }
  fresh.stop();
  const std::vector<SessionRecord> recs = load.finish();
  long lost = 0;
  for (const SessionRecord& r : recs) {
    lost += r.alive() ? 0 : 1;
  }
  long failed_handshakes = 0;
  for (const Attempt& at : fresh.attempts()) {
    failed_handshakes += at.handshake_ok() && !at.cut() ? 0 : 1;
  }
  std::printf(
      "workers 2 -> 1 -> 3 -> 1 -> 4 -> 2 under load: %zu new sessions, %ld failed or cut; %zu steady: %ld lost\n",
      fresh.attempts().size(), failed_handshakes, recs.size(), lost);
  EXPECT_EQ(failed_handshakes, 0);
  EXPECT_EQ(lost, 0);
  load.close_all();
}

}  // namespace
}  // namespace wsgate::chaos
