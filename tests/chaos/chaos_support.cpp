#include "tests/chaos/chaos_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "shm/backend_table.h"

namespace wsgate::chaos {

long ms_between(Clock::time_point from, Clock::time_point to) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(to - from).count());
}

namespace {

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < lo || n > hi) {
    throw std::invalid_argument(std::string(name) + "=" + v + ": expected a number in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  }
  return static_cast<int>(n);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

bool port_is_free(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a = loopback(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Sizes Sizes::from_env() {
  Sizes s;
  s.sessions = env_int("CHAOS_SESSIONS", s.sessions, 10, 5000);
  s.freeze_s = env_int("CHAOS_FREEZE_S", s.freeze_s, 1, 600);
  s.new_per_s = env_int("CHAOS_NEW_PER_S", s.new_per_s, 1, 1000);
  return s;
}

std::uint16_t stable_port() {
  int lo = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int a = 0, b = 0;
  if (range >> a >> b && a > 2048) lo = a;
  // [lo/3, lo): well above the well-known ports, below every ephemeral one.
  std::random_device rd;
  std::uniform_int_distribution<int> pick(lo / 3, lo - 1);
  for (int i = 0; i < 200; ++i) {
    auto port = static_cast<std::uint16_t>(pick(rd));
    if (port_is_free(port)) return port;
  }
  throw TestIoError("no free loopback port below the ephemeral range");
}

// ---------------------------------------------------------------- Backend

Backend::Backend(std::string name, std::uint16_t port) : name_(std::move(name)), port_(port ? port : stable_port()) {}

void Backend::start() {
  const auto deadline = Clock::now() + milliseconds(5000);
  for (;;) {
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{test::echo_backend_path(), "--listen", address(), "--name", name_, "--quiet"});
    try {
      process_->wait_for_output("listening on", milliseconds(5000), test::Match::kSubstring, test::Stream::kStdout);
      return;
    } catch (const TestIoError& e) {
      // The port is busy for a moment (a TIME_WAIT, a stray connect): retry.
      if (Clock::now() > deadline) {
        throw TestIoError("backend " + name_ + " cannot listen on " + address() + ": " + e.what());
      }
      process_.reset();
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
}

void Backend::kill9() {
  if (process_ && process_->running()) {
    process_->send_signal(SIGCONT);  // harmless; a stopped process dies as well
    process_->send_signal(SIGKILL);
    process_->wait_exit(milliseconds(5000));
  }
}

void Backend::signal(int sig) {
  if (!process_) throw TestIoError("backend " + name_ + " was never started");
  process_->send_signal(sig);
}

void Backend::wait_exit(milliseconds timeout) {
  if (process_) process_->wait_exit(timeout);
}

bool Backend::running() { return process_ && process_->running(); }

// ---------------------------------------------------------------- BlackHole

BlackHole::BlackHole(std::uint16_t port, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw TestIoError(std::string("socket() failed: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(port);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 128) == 0) return;
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (Clock::now() > deadline) {
      throw TestIoError("black hole cannot listen on port " + std::to_string(port) + ": " + std::strerror(err));
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

BlackHole::~BlackHole() {
  if (fd_ >= 0) ::close(fd_);
}

int BlackHole::queued() const {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
  return static_cast<int>(info.tcpi_unacked);  // for a listener: the accept queue's length
}

// ---------------------------------------------------------------- ShmView

namespace {
std::string segment_of(const Gateway& gw) {
  char buf[PATH_MAX];
  if (::realpath(gw.config_path().c_str(), buf) == nullptr) {
    throw TestIoError("realpath(" + gw.config_path() + ") failed");
  }
  return shm::segment_name_for(buf);
}

shm::BackendTable reader(const shm::Segment& seg) {
  return shm::BackendTable(const_cast<shm::Table&>(*seg.table()));  // read-only use
}
}  // namespace

ShmView::ShmView(const Gateway& gw) : seg_(shm::Segment::attach_read_only(segment_of(gw))) {}

std::uint32_t ShmView::id_of(const std::string& address) const {
  const shm::BackendTable t = reader(seg_);
  for (std::uint32_t b = 0; b < t.backend_count(); ++b) {
    if (address == t.backend(b).address) return b;
  }
  throw TestIoError("no backend " + address + " in the shared table");
}

bool ShmView::routable(const std::string& address) const {
  return reader(seg_).available(id_of(address), shm::monotonic_ms());
}

bool ShmView::health_down(const std::string& address) const {
  return reader(seg_).health(id_of(address)) == shm::BackendState::down;
}

long ShmView::sessions(const std::string& address) const {
  return static_cast<long>(reader(seg_).sessions(id_of(address)));
}

long ShmView::total_sessions() const {
  const shm::BackendTable t = reader(seg_);
  long n = 0;
  for (std::uint32_t b = 0; b < t.backend_count(); ++b) n += static_cast<long>(t.sessions(b));
  return n;
}

long ShmView::slot_sessions(std::uint32_t slot) const {
  const shm::BackendTable t = reader(seg_);
  long n = 0;
  for (std::uint32_t b = 0; b < t.backend_count(); ++b) n += t.sessions_in_slot(slot, b);
  return n;
}

int ShmView::slot_pid(std::uint32_t slot) const { return reader(seg_).slot(slot).pid.load(); }

std::uint32_t ShmView::slot_role(std::uint32_t slot) const { return reader(seg_).slot(slot).role.load(); }

std::uint32_t ShmView::state_changes(const std::string& address) const {
  return reader(seg_).backend(id_of(address)).state_changes.load();
}

long ShmView::checks_ok_in_a_row(const std::string& address) const {
  return static_cast<long>(reader(seg_).backend(id_of(address)).consecutive_ok.load());
}

std::string ShmView::last_error(const std::string& address) const { return reader(seg_).last_error(id_of(address)); }

// ---------------------------------------------------------------- reporting

namespace {
std::string ms_text(long ms) { return ms < 0 ? "-" : std::to_string(ms); }
}  // namespace

std::string markdown_header() {
  return "| scenario | sessions | new sessions | failed handshakes | new cut | on failed | lost | how | moved | "
         "lost elsewhere | detect ms | handled ms | recover ms | counts ok | notes |\n"
         "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|\n";
}

std::string markdown_row(const Result& r) {
  std::ostringstream o;
  o << "| " << r.scenario << " | " << r.sessions << " | " << r.new_sessions << " | " << r.failed_handshakes << " | "
    << r.new_cut << " | " << r.on_failed << " | " << r.lost << " | " << (r.loss_how.empty() ? "-" : r.loss_how) << " | "
    << r.moved << " | " << r.lost_elsewhere << " | " << ms_text(r.detect_ms) << " | " << ms_text(r.handled_ms) << " | "
    << ms_text(r.recover_ms) << " | " << (r.counts_ok ? "yes (" + ms_text(r.counts_ms) + " ms)" : "NO") << " | "
    << r.notes << " |\n";
  return o.str();
}

void report(const Result& r) {
  std::ostringstream line;
  line << "[  chaos   ] " << r.scenario << ": sessions=" << r.sessions << " new=" << r.new_sessions
       << " failed_handshakes=" << r.failed_handshakes << " new_cut=" << r.new_cut << " on_failed=" << r.on_failed
       << " lost=" << r.lost << (r.loss_how.empty() ? "" : " (" + r.loss_how + ")") << " moved=" << r.moved
       << " lost_elsewhere=" << r.lost_elsewhere << " detect_ms=" << ms_text(r.detect_ms)
       << " handled_ms=" << ms_text(r.handled_ms) << " recover_ms=" << ms_text(r.recover_ms)
       << " counts_ok=" << (r.counts_ok ? "yes" : "NO") << " counts_ms=" << ms_text(r.counts_ms)
       << (r.notes.empty() ? "" : " notes: " + r.notes);
  std::cout << line.str() << std::endl;

  const char* path = std::getenv("CHAOS_REPORT");
  if (path == nullptr || *path == '\0') return;
  // One append per row; the header only into an empty file.
  int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::cerr << "cannot open CHAOS_REPORT " << path << ": " << std::strerror(errno) << "\n";
    return;
  }
  std::string text;
  if (::lseek(fd, 0, SEEK_END) == 0) text = markdown_header();
  text += markdown_row(r);
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    std::cerr << "short write to CHAOS_REPORT " << path << "\n";
  }
  ::close(fd);
}

}  // namespace wsgate::chaos
