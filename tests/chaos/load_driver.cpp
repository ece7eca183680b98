#include "tests/chaos/load_driver.h"

#include <poll.h>

#include <algorithm>
#include <random>

namespace wsgate::chaos {

using test::Frame;
using test::Message;

const char* fate_name(Fate f) {
  switch (f) {
    case Fate::kAlive: return "alive";
    case Fate::kClosed: return "closed";
    case Fate::kBroken: return "broken";
    case Fate::kStalled: return "stalled";
  }
  return "?";
}

namespace {
std::uint16_t close_code_of(const std::string& payload, std::string* reason) {
  auto body = test::parse_close_payload(payload);
  if (!body) return 0;
  if (reason != nullptr) *reason = body->reason;
  return body->code;
}

// A close code that may be echoed on the wire (1005, 1006, 1015 may not).
bool sendable(std::uint16_t code) { return code >= 1000 && code != 1005 && code != 1006 && code != 1015; }
}  // namespace

// ---------------------------------------------------------------- LoadDriver

struct LoadDriver::Conn {
  WsClient c;
  int rec = 0;           // index into records_
  bool open = true;      // fate still alive as far as this thread knows
  bool closing = false;  // our close reply went out; waiting for EOF
  Clock::time_point closing_until{};
  bool awaiting = false;
  Clock::time_point sent_at{}, next_send{};
  std::uint64_t seq = 0;
  bool next_whoami = false;
  bool final_sent = false, final_ok = false;
  bool close_sent = false, close_answered = false;
};

LoadDriver::LoadDriver(LoadOptions options) : opt_(std::move(options)) {
  opt_.threads = std::max(1, std::min(opt_.threads, opt_.sessions));
  records_.resize(static_cast<size_t>(opt_.sessions));
  for (int i = 0; i < opt_.sessions; ++i) records_[static_cast<size_t>(i)].id = i;
}

LoadDriver::~LoadDriver() {
  set_phase(Phase::kExit);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void LoadDriver::set_phase(Phase p) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    phase_ = p;
  }
  cv_.notify_all();
}

void LoadDriver::wait_count(std::atomic<int>& counter) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return counter.load() + failed_threads_.load() >= static_cast<int>(threads_.size()); });
}

void LoadDriver::start() {
  for (int t = 0; t < opt_.threads; ++t) threads_.emplace_back([this, t] { thread_main(t); });
  wait_count(opened_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_errors_.empty()) {
      std::string all = std::to_string(open_errors_.size()) + " of " + std::to_string(opt_.sessions) +
                        " steady sessions failed to open; first: ";
      for (size_t i = 0; i < open_errors_.size() && i < 3; ++i) all += "[" + open_errors_[i] + "] ";
      throw TestIoError(all);
    }
  }
  set_phase(Phase::kRun);
}

void LoadDriver::mark() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : records_) {
    r.marked_backend = r.alive() ? r.last_backend : "";
    r.moved_at = {};
  }
}

std::vector<SessionRecord> LoadDriver::records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

long LoadDriver::live() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::count_if(records_.begin(), records_.end(), [](const SessionRecord& r) { return r.alive(); });
}

std::map<std::string, long> LoadDriver::live_by_backend() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, long> m;
  for (const auto& r : records_) {
    if (r.alive()) ++m[r.last_backend];
  }
  return m;
}

bool LoadDriver::wait_until(const std::function<bool(const std::vector<SessionRecord>&)>& pred,
                            milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred(records())) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

std::vector<SessionRecord> LoadDriver::finish(milliseconds timeout) {
  phase_timeout_ = timeout;  // read by the threads only after the phase change below
  set_phase(Phase::kFinal);
  wait_count(finalized_);
  set_phase(Phase::kHold);
  return records();
}

long LoadDriver::close_all(milliseconds timeout) {
  phase_timeout_ = timeout;
  set_phase(Phase::kClose);
  wait_count(closed_);
  return close_answered_.load();
}

std::vector<std::string> LoadDriver::thread_errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return thread_errors_;
}

void LoadDriver::thread_main(int t) {
  try {
    thread_body(t);
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      thread_errors_.push_back("load thread " + std::to_string(t) + ": " + e.what());
      ++failed_threads_;
    }
    cv_.notify_all();
  }
}

void LoadDriver::thread_body(int t) {
  std::vector<Conn> conns;
  // ---- open this thread's share, one after another
  for (int i = t; i < opt_.sessions; i += opt_.threads) {
    Conn k;
    k.rec = i;
    try {
      k.c = WsClient::open(opt_.port, opt_.path, {}, {}, opt_.open_timeout);
      if (!k.c.handshake_ok()) throw TestIoError("handshake: " + k.c.handshake_error());
      k.c.send_text("whoami", opt_.open_timeout);
      Message m = k.c.recv_message(opt_.open_timeout);
      if (m.opcode != test::kText) throw TestIoError("whoami answered with opcode " + std::to_string(m.opcode));
      std::lock_guard<std::mutex> lock(mu_);
      records_[static_cast<size_t>(i)].first_backend = m.payload;
      records_[static_cast<size_t>(i)].last_backend = m.payload;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu_);
      SessionRecord& r = records_[static_cast<size_t>(i)];
      r.fate = Fate::kBroken;
      r.detail = std::string("while opening: ") + e.what();
      r.ended_at = Clock::now();
      open_errors_.push_back("session " + std::to_string(i) + ": " + e.what());
      continue;
    }
    conns.push_back(std::move(k));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++opened_;
  }
  cv_.notify_all();
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return phase_.load() != Phase::kOpen; });
  }

  // ---- the request loop, sends spread over one period
  std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 17u);
  std::uniform_int_distribution<long> jitter(0, opt_.period.count());
  const auto t0 = Clock::now();
  for (auto& k : conns) k.next_send = t0 + milliseconds(jitter(rng));
  while (phase_.load() == Phase::kRun) step(conns, true);

  // ---- final check: every live session names its backend once more
  if (phase_.load() == Phase::kFinal) {
    const auto deadline = Clock::now() + phase_timeout_;
    for (auto& k : conns) {
      if (!k.open || k.closing) continue;
      try {
        k.c.send_text("whoami", milliseconds(1000));
        k.final_sent = true;
      } catch (const std::exception& e) {
        broken(k, e.what());
      }
    }
    auto pending = [&] {
      return std::any_of(conns.begin(), conns.end(), [](const Conn& k) { return k.open && !k.final_ok; });
    };
    while (pending() && Clock::now() < deadline) step(conns, false);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& k : conns) {
      if (k.open && !k.final_ok) {
        SessionRecord& r = records_[static_cast<size_t>(k.rec)];
        r.fate = Fate::kStalled;
        r.detail = "no answer to whoami within " + std::to_string(phase_timeout_.count()) + " ms";
        r.ended_at = Clock::now();
        k.open = false;  // kept connected: wsgate may still count it, which the count check should see
      }
    }
    ++finalized_;
  }
  cv_.notify_all();

  // ---- hold (late closes are still answered), then the clean close
  while (phase_.load() == Phase::kFinal || phase_.load() == Phase::kHold) step(conns, false);
  if (phase_.load() == Phase::kClose) {
    const auto deadline = Clock::now() + phase_timeout_;
    for (auto& k : conns) {
      if (!k.open || k.closing) continue;
      try {
        k.c.close(1000, "", milliseconds(1000));
        k.close_sent = true;
      } catch (const std::exception&) {
        k.open = false;
        k.c.disconnect();
      }
    }
    auto pending = [&] {
      return std::any_of(conns.begin(), conns.end(),
                         [](const Conn& k) { return (k.open && k.close_sent && !k.close_answered) || k.closing; });
    };
    while (pending() && Clock::now() < deadline) step(conns, false);
    long answered = std::count_if(conns.begin(), conns.end(), [](const Conn& k) { return k.close_answered; });
    std::lock_guard<std::mutex> lock(mu_);
    close_answered_ += answered;
    ++closed_;
  }
  cv_.notify_all();
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return phase_.load() == Phase::kExit; });
  }
}

void LoadDriver::step(std::vector<Conn>& conns, bool send) {
  auto now = Clock::now();
  if (send) {
    for (auto& k : conns) {
      if (!k.open || k.closing) continue;
      if (k.awaiting && now - k.sent_at > opt_.reply_timeout) {
        k.awaiting = false;
        std::lock_guard<std::mutex> lock(mu_);
        ++records_[static_cast<size_t>(k.rec)].replies_lost;
      }
      if (!k.awaiting && now >= k.next_send) send_request(k, now);
    }
  }
  std::vector<pollfd> fds;
  std::vector<size_t> which;
  bool buffered = false;
  for (size_t i = 0; i < conns.size(); ++i) {
    Conn& k = conns[i];
    if ((!k.open && !k.closing) || k.c.fd() < 0) continue;
    fds.push_back(pollfd{k.c.fd(), POLLIN, 0});
    which.push_back(i);
    buffered = buffered || k.c.buffered() > 0;
  }
  if (fds.empty()) {
    std::this_thread::sleep_for(milliseconds(5));
    return;
  }
  int n = ::poll(fds.data(), fds.size(), buffered ? 0 : 5);
  if (n < 0 && errno != EINTR) throw TestIoError("poll() failed");
  for (size_t j = 0; j < fds.size(); ++j) {
    Conn& k = conns[which[j]];
    if (fds[j].revents != 0 || k.c.buffered() > 0) drain(k);
  }
  now = Clock::now();
  for (auto& k : conns) {
    if (k.closing && now > k.closing_until) {
      k.closing = false;
      k.c.disconnect();
    }
  }
}

void LoadDriver::send_request(Conn& k, Clock::time_point now) {
  std::string text = k.next_whoami ? "whoami" : "p:" + std::to_string(k.rec) + ":" + std::to_string(++k.seq);
  try {
    k.c.send_text(text, milliseconds(1000));
  } catch (const std::exception& e) {
    broken(k, std::string("send: ") + e.what());
    return;
  }
  k.next_whoami = !k.next_whoami;
  k.awaiting = true;
  k.sent_at = now;
  k.next_send = now + opt_.period;
}

void LoadDriver::drain(Conn& k) {
  try {
    if (k.closing) {
      if (k.c.try_wait_eof(milliseconds(0))) {
        k.closing = false;
        k.c.disconnect();
      }
      return;
    }
    while (k.open) {
      std::optional<Frame> f = k.c.try_recv_frame(milliseconds(0));
      if (!f) break;
      on_frame(k, *f);
    }
  } catch (const std::exception& e) {
    if (k.closing) {
      k.closing = false;
      k.c.disconnect();
      return;
    }
    broken(k, e.what());
  }
}

void LoadDriver::on_frame(Conn& k, const Frame& f) {
  const auto now = Clock::now();
  switch (f.opcode) {
    case test::kText: {
      std::lock_guard<std::mutex> lock(mu_);
      SessionRecord& r = records_[static_cast<size_t>(k.rec)];
      ++r.replies;
      k.awaiting = false;
      if (f.payload.rfind("p:", 0) == 0) {
        const std::string prefix = "p:" + std::to_string(k.rec) + ":";
        std::uint64_t seq = ~std::uint64_t{0};
        if (f.payload.rfind(prefix, 0) == 0) {
          try {
            seq = std::stoull(f.payload.substr(prefix.size()));
          } catch (const std::exception&) {
          }
        }
        if (seq > k.seq) ++r.bad_replies;  // not one of this session's requests
      } else {
        r.last_backend = f.payload;
        if (!r.marked_backend.empty() && f.payload != r.marked_backend && r.moved_at == Clock::time_point{}) {
          r.moved_at = now;
        }
        if (k.final_sent) k.final_ok = true;
      }
      return;
    }
    case test::kClose: {
      if (k.close_sent) {  // the answer to our own close (close_all)
        k.close_answered = true;
        k.open = false;
        k.c.disconnect();
        return;
      }
      std::string reason;
      std::uint16_t code = close_code_of(f.payload, &reason);
      {
        std::lock_guard<std::mutex> lock(mu_);
        SessionRecord& r = records_[static_cast<size_t>(k.rec)];
        r.fate = Fate::kClosed;
        r.close_code = code;
        r.detail = reason;
        r.ended_at = now;
      }
      k.open = false;
      try {  // answer it, as a client should; then wait a moment for wsgate's FIN
        if (sendable(code)) {
          k.c.close(code, "", milliseconds(500));
        } else {
          k.c.close_without_body(milliseconds(500));
        }
        k.closing = true;
        k.closing_until = now + milliseconds(2000);
      } catch (const std::exception&) {
        k.c.disconnect();
      }
      return;
    }
    case test::kPing: try { k.c.pong(f.payload, milliseconds(500));
      } catch (const std::exception& e) {
        broken(k, std::string("pong: ") + e.what());
      }
      return;
    case test::kPong: return;
    default: {
      std::lock_guard<std::mutex> lock(mu_);
      ++records_[static_cast<size_t>(k.rec)].bad_replies;
      return;
    }
  }
}

void LoadDriver::broken(Conn& k, const std::string& why) {
  if (k.close_sent) {  // during close_all: just not answered
    k.open = false;
    k.c.disconnect();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    SessionRecord& r = records_[static_cast<size_t>(k.rec)];
    if (r.fate == Fate::kAlive) {
      r.fate = Fate::kBroken;
      r.detail = why;
      r.ended_at = Clock::now();
    }
  }
  k.open = false;
  k.closing = false;
  k.c.disconnect();
}

// ---------------------------------------------------------------- NewSessionStream

NewSessionStream::NewSessionStream(std::uint16_t port, int per_second, std::string path)
    : port_(port), period_(std::max(1, 1000 / std::max(1, per_second))), path_(std::move(path)) {}

NewSessionStream::~NewSessionStream() { stop(); }

void NewSessionStream::start() {
  thread_ = std::thread([this] { run(); });
}

void NewSessionStream::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void NewSessionStream::pause() {
  std::unique_lock<std::mutex> lock(mu_);
  paused_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return idle_ || stop_ || !thread_.joinable(); });
}

void NewSessionStream::resume() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = false;
  }
  cv_.notify_all();
}

std::vector<Attempt> NewSessionStream::attempts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return attempts_;
}

std::vector<Attempt> NewSessionStream::started_between(Clock::time_point from, Clock::time_point to) const {
  std::vector<Attempt> out;
  for (const Attempt& a : attempts()) {
    if (a.start >= from && a.start < to) out.push_back(a);
  }
  return out;
}

void NewSessionStream::run() {
  auto next = Clock::now();
  int index = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (paused_) {
      idle_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !paused_ || stop_; });
      idle_ = false;
      next = Clock::now();
      continue;
    }
    if (cv_.wait_until(lock, next, [&] { return stop_ || paused_; })) continue;
    lock.unlock();
    Attempt a = attempt(index++);
    lock.lock();
    attempts_.push_back(std::move(a));
    next += period_;
    if (next < Clock::now() - milliseconds(1000)) next = Clock::now();  // never a burst to catch up
  }
  idle_ = true;
  cv_.notify_all();
}

Attempt NewSessionStream::attempt(int index) {
  Attempt a;
  a.index = index;
  a.start = Clock::now();
  WsClient c;
  try {
    c = WsClient::open(port_, path_, {}, {}, milliseconds(5000));
    a.status = c.status();
    if (!c.handshake_ok()) a.error = c.handshake_error();
  } catch (const std::exception& e) {
    a.status = 0;
    a.error = e.what();
  }
  a.end = Clock::now();
  if (!a.handshake_ok()) return a;
  // One whoami, one echo, a clean close; anything else is a cut session.
  auto expect_text = [&](const std::string& what) {
    Message m = c.recv_message(milliseconds(3000));
    if (m.opcode == test::kClose) {
      std::string reason;
      a.cut_code = close_code_of(m.payload, &reason);
      a.cut_at = Clock::now();
      throw TestIoError("closed " + std::to_string(a.cut_code) + " (" + reason + ") while waiting for " + what);
    }
    if (m.opcode != test::kText) throw TestIoError("opcode " + std::to_string(m.opcode) + " instead of " + what);
    return m.payload;
  };
  try {
    c.send_text("whoami", milliseconds(2000));
    a.backend = expect_text("the whoami answer");
    const std::string echo = "n:" + std::to_string(index);
    c.send_text(echo, milliseconds(2000));
    if (expect_text("the echo") != echo) throw TestIoError("wrong echo");
    c.close(1000, "", milliseconds(2000));
    test::CloseInfo ci = c.expect_close(milliseconds(3000));
    if (ci.code != 1000) {
      a.cut_code = ci.code;
      a.cut_while_closing = true;
      a.cut_at = Clock::now();
      throw TestIoError("our close 1000 was answered with " + std::to_string(ci.code) + " (" + ci.reason + ")");
    }
    a.completed = true;
  } catch (const std::exception& e) {
    a.cut_detail = e.what();
    if (a.cut_at == Clock::time_point{}) a.cut_at = Clock::now();
    if (a.cut_code != 0 && !a.cut_while_closing && sendable(a.cut_code)) {
      try {
        c.close(a.cut_code, "", milliseconds(500));
      } catch (const std::exception&) {
      }
    }
  }
  return a;
}

}  // namespace wsgate::chaos
