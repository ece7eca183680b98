// The steady load of the chaos suite and what every client saw.
//
// LoadDriver holds N sessions over a few threads (the blocking WsClient, one
// poll(2) per thread over its sessions, so a session waiting for an answer
// never delays the others). Every session sends one request per `period`,
// alternating an echo ("p:ID:SEQ") and `whoami`, and records: the backend it
// landed on, its backend when the fault was injected (mark()), the latest
// backend it named (a different one = moved, with `reconnect`), and its fate:
// still echoing, closed with code C at time T (its close is answered, as a
// real client would), broken TCP at time T, or stalled (no answer to the
// final whoami).
//
// NewSessionStream opens new sessions at a steady rate on its own thread, each
// doing whoami, one echo and a clean close, and records every attempt's HTTP
// status, timing and what happened after its 101.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/chaos_support.h"

namespace wsgate::chaos {

enum class Fate { kAlive, kClosed, kBroken, kStalled };
const char* fate_name(Fate f);

struct SessionRecord {
  int id = 0;
  std::string first_backend;   // whoami right after the handshake
  std::string marked_backend;  // its backend at mark() (when the fault was injected)
  std::string last_backend;    // the latest whoami answer
  Fate fate = Fate::kAlive;
  std::uint16_t close_code = 0;  // for kClosed
  std::string detail;            // close reason, I/O error, or why stalled
  Clock::time_point ended_at{};  // close frame or EOF seen
  Clock::time_point moved_at{};  // first answer naming another backend than marked_backend
  long replies = 0;
  long replies_lost = 0;  // requests never answered (resent after reply_timeout)
  long bad_replies = 0;   // answers that were not what was asked
  bool alive() const { return fate == Fate::kAlive; }
  bool moved() const { return alive() && !marked_backend.empty() && last_backend != marked_backend; }
};

struct LoadOptions {
  std::uint16_t port = 0;
  std::string path = "/chat";
  int sessions = 500;
  int threads = 10;
  milliseconds period{100};          // one request per session per period
  milliseconds reply_timeout{1000};  // then the request counts as lost and the next one goes
  milliseconds open_timeout{5000};
};

class LoadDriver {
 public:
  explicit LoadDriver(LoadOptions options);
  LoadDriver(const LoadDriver&) = delete;
  LoadDriver& operator=(const LoadDriver&) = delete;
  ~LoadDriver();

  // Opens every session and asks it whoami; throws (with the first errors)
  // if any failed. Then all start their request loop.
  void start();
  // Records every session's current backend as its marked_backend.
  void mark();
  std::vector<SessionRecord> records() const;
  long live() const;
  std::map<std::string, long> live_by_backend() const;
  // Polls the records every 5 ms until pred holds; false on timeout.
  bool wait_until(const std::function<bool(const std::vector<SessionRecord>&)>& pred, milliseconds timeout) const;
  // Stops the request loop and asks every live session whoami once more: a
  // session that does not answer within `timeout` is stalled. Returns the
  // records. Sessions stay open (for a count check) until close_all().
  std::vector<SessionRecord> finish(milliseconds timeout = milliseconds(3000));
  // Closes every live session with 1000; returns how many closes were answered.
  long close_all(milliseconds timeout = milliseconds(3000));
  int threads() const { return static_cast<int>(threads_.size()); }
  // Errors that ended a driver thread early (a bug in the driver, not in wsgate).
  std::vector<std::string> thread_errors() const;

 private:
  enum class Phase { kOpen, kRun, kFinal, kHold, kClose, kExit };
  struct Conn;
  void thread_main(int t);
  void thread_body(int t);
  void step(std::vector<Conn>& conns, bool send);
  void send_request(Conn& k, Clock::time_point now);
  void drain(Conn& k);
  void on_frame(Conn& k, const test::Frame& f);
  void broken(Conn& k, const std::string& why);
  void set_phase(Phase p);
  void wait_count(std::atomic<int>& counter);

  LoadOptions opt_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<SessionRecord> records_;
  std::vector<std::string> open_errors_;
  std::atomic<Phase> phase_{Phase::kOpen};
  std::atomic<int> opened_{0}, finalized_{0}, closed_{0};
  std::atomic<int> failed_threads_{0};  // a thread that threw counts as done for every wait
  std::vector<std::string> thread_errors_;
  milliseconds phase_timeout_{3000};  // finish()/close_all(): set before their phase starts
  std::atomic<long> close_answered_{0};
  std::vector<std::thread> threads_;
};

struct Attempt {
  int index = 0;
  Clock::time_point start{}, end{};  // the handshake: sent .. answered or failed
  int status = 0;                    // HTTP status; 0 = no answer (I/O error or timeout)
  std::string error;                 // why the handshake failed
  std::string backend;               // its whoami answer
  bool completed = false;            // whoami, echo and a clean close all done
  std::uint16_t cut_code = 0;        // closed by wsgate after the 101 with this code (0: other failure)
  bool cut_while_closing = false;    // our own close 1000 was answered with cut_code instead
  std::string cut_detail;
  Clock::time_point cut_at{};
  bool handshake_ok() const { return status == 101 && error.empty(); }
  bool cut() const { return handshake_ok() && !completed; }
  long handshake_ms() const { return ms_between(start, end); }
};

class NewSessionStream {
 public:
  NewSessionStream(std::uint16_t port, int per_second, std::string path = "/chat");
  NewSessionStream(const NewSessionStream&) = delete;
  NewSessionStream& operator=(const NewSessionStream&) = delete;
  ~NewSessionStream();
  void start();
  void stop();
  // Returns once no attempt is in flight; none starts until resume().
  void pause();
  void resume();
  std::vector<Attempt> attempts() const;
  // Attempts whose handshake started in [from, to).
  std::vector<Attempt> started_between(Clock::time_point from, Clock::time_point to) const;

 private:
  void run();
  Attempt attempt(int index);

  std::uint16_t port_;
  milliseconds period_;
  std::string path_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, paused_ = false, idle_ = false;
  std::vector<Attempt> attempts_;
  std::thread thread_;
};

}  // namespace wsgate::chaos
