#include "tests/support/backend_server.h"

#include <cassert>
#include <csignal>
#include <cstdio>

namespace wsgate::test {

namespace {

constexpr int kBacklog = 4096;  // bursts of thousands of connects in benchmarks
constexpr std::uint64_t kStopWaitMs = 1000;
constexpr std::size_t kReadBufferSize = 64 * 1024;

std::string display_host(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

int bound_port(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return -1;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

EchoServer::EchoServer(ServerOptions options)
    : options_(std::move(options)), read_buf_(kReadBufferSize) {}

EchoServer::~EchoServer() {
  // Sessions close their handles as they go; UvLoop's destructor then runs
  // the close callbacks.
  sessions_.clear();
  retired_.clear();
}

int EchoServer::run() {
  uv_loop_t* loop = loop_.get();
  if (reaper_.init([loop](uv_check_t* c) { return uv_check_init(loop, c); }, this) < 0 ||
      uv_check_start(reaper_.get(), &EchoServer::on_check) < 0) {
    log("uv_check_init() failed while starting");
    return 1;
  }
  uv_unref(reaper_.base());  // must not keep the loop alive on its own
  if (!watch_signals() || !listen()) return 1;
  const int rc = uv_run(loop, UV_RUN_DEFAULT);
  assert(rc == 0 && "uv_run returned with live handles");
  (void)rc;
  reaper_.close();
  retired_.clear();
  return 0;
}

bool EchoServer::listen() {
  const std::string where = display_host(options_.host) + ":" + std::to_string(options_.port);
  sockaddr_storage addr{};
  const bool v6 = options_.host.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(options_.host.c_str(), options_.port,
                            reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(options_.host.c_str(), options_.port,
                            reinterpret_cast<sockaddr_in*>(&addr));
  if (rc < 0) {
    log("bad listen address " + where + " (" + uv_error_text(rc) + ")");
    return false;
  }
  uv_loop_t* loop = loop_.get();
  rc = listener_.init([loop](uv_tcp_t* t) { return uv_tcp_init(loop, t); }, this);
  if (rc == 0) rc = uv_tcp_bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(listener_.stream(), kBacklog, &EchoServer::on_connection);
  if (rc < 0) {
    log("bind()/listen() on " + where + " failed (" + uv_error_text(rc) + ") while starting");
    return false;
  }
  // Tests and scripts parse this line to learn the port when it was 0.
  std::printf("listening on %s:%d\n", display_host(options_.host).c_str(),
              bound_port(listener_.get()));
  std::fflush(stdout);
  return true;
}

bool EchoServer::watch_signals() {
  uv_loop_t* loop = loop_.get();
  auto init = [loop](uv_signal_t* s) { return uv_signal_init(loop, s); };
  int rc = sigterm_.init(init, this);
  if (rc == 0) rc = sigint_.init(init, this);
  if (rc == 0) rc = uv_signal_start(sigterm_.get(), &EchoServer::on_signal, SIGTERM);
  if (rc == 0) rc = uv_signal_start(sigint_.get(), &EchoServer::on_signal, SIGINT);
  if (rc < 0) log("uv_signal_start() failed (" + uv_error_text(rc) + ") while starting");
  return rc == 0;
}

void EchoServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<EchoServer*>(listener->data);
  if (!self) return;
  if (status < 0) {
    self->log("accept failed (" + uv_error_text(status) + ")");
    return;
  }
  self->accept_one();
}

void EchoServer::accept_one() {
  auto session = std::make_unique<Session>(*this);
  Session* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  if (!raw->start(listener_.stream())) raw->end();
}

uv_buf_t EchoServer::read_buffer() {
  return uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size()));
}

void EchoServer::retire(Session* session) {
  const auto it = sessions_.find(session);
  assert(it != sessions_.end() && "retiring a session that is not registered");
  retired_.push_back(std::move(it->second));
  sessions_.erase(it);
  finish_stop_if_idle();
}

void EchoServer::on_check(uv_check_t* check) {
  auto* self = static_cast<EchoServer*>(check->data);
  if (self) self->retired_.clear();
}

void EchoServer::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<EchoServer*>(handle->data);
  if (self) self->stop(signum);
}

// SIGTERM/SIGINT: stop accepting, close 1001 to every session, give the
// peers up to 1 s to answer, then end whatever is left.
void EchoServer::stop(int signum) {
  if (stopping_) return;
  stopping_ = true;
  if (!options_.quiet)
    log("signal " + std::to_string(signum) + ": closing " + std::to_string(sessions_.size()) +
        " sessions with 1001");
  listener_.close();
  sigterm_.close();
  sigint_.close();
  uv_loop_t* loop = loop_.get();
  if (stop_timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this) == 0)
    uv_timer_start(stop_timer_.get(), &EchoServer::on_stop_timer, kStopWaitMs, 0);
  std::vector<Session*> all;
  for (const auto& entry : sessions_) all.push_back(entry.first);
  for (Session* s : all) s->go_away();
  finish_stop_if_idle();
}

void EchoServer::on_stop_timer(uv_timer_t* timer) {
  auto* self = static_cast<EchoServer*>(timer->data);
  if (self) self->end_all_sessions();
}

void EchoServer::end_all_sessions() {
  std::vector<Session*> all;
  for (const auto& entry : sessions_) all.push_back(entry.first);
  for (Session* s : all) s->end();  // retire() keeps them alive until the check phase
  finish_stop_if_idle();
}

void EchoServer::finish_stop_if_idle() {
  if (stopping_ && sessions_.empty()) stop_timer_.close();
}

void EchoServer::log(std::string_view what) const {
  std::fprintf(stderr, "wsgate-echo-backend[%s]: %.*s\n", options_.name.c_str(),
               static_cast<int>(what.size()), what.data());
}

}  // namespace wsgate::test
