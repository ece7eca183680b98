#include "tests/support/uv_server.h"

#include <sys/resource.h>

#include <charconv>
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

bool parse_listen_address(std::string_view arg, ListenAddress& out) {
  const std::size_t colon = arg.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = arg.substr(0, colon);
  const std::string_view port = arg.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size()) return false;
  out.host = std::string(host);
  return true;
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) std::perror("setrlimit(RLIMIT_NOFILE)");
}

UvServer::UvServer(std::string program, std::string name)
    : program_(std::move(program)), name_(std::move(name)), read_buf_(kReadBufferSize) {}

UvServer::~UvServer() = default;

int UvServer::run(const ListenAddress& where) {
  uv_loop_t* loop = loop_.get();
  if (reaper_.init([loop](uv_check_t* c) { return uv_check_init(loop, c); }, this) < 0 ||
      uv_check_start(reaper_.get(), &UvServer::on_check) < 0) {
    log("uv_check_init() failed while starting");
    return 1;
  }
  uv_unref(reaper_.base());  // must not keep the loop alive on its own
  if (!watch_signals() || !listen(where)) return 1;
  const int rc = uv_run(loop, UV_RUN_DEFAULT);
  assert(rc == 0 && "uv_run returned with live handles");
  (void)rc;
  reaper_.close();
  reap();
  return 0;
}

bool UvServer::listen(const ListenAddress& where) {
  const std::string shown = display_host(where.host) + ":" + std::to_string(where.port);
  sockaddr_storage addr{};
  const bool v6 = where.host.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(where.host.c_str(), where.port, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(where.host.c_str(), where.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc < 0) {
    log("bad listen address " + shown + " (" + uv_error_text(rc) + ")");
    return false;
  }
  uv_loop_t* loop = loop_.get();
  rc = listener_.init([loop](uv_tcp_t* t) { return uv_tcp_init(loop, t); }, this);
  if (rc == 0) rc = uv_tcp_bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(listener_.stream(), kBacklog, &UvServer::on_connection);
  if (rc < 0) {
    log("bind()/listen() on " + shown + " failed (" + uv_error_text(rc) + ") while starting");
    return false;
  }
  std::printf("listening on %s:%d\n", display_host(where.host).c_str(), bound_port(listener_.get()));
  std::fflush(stdout);
  return true;
}

bool UvServer::watch_signals() {
  uv_loop_t* loop = loop_.get();
  auto init = [loop](uv_signal_t* s) { return uv_signal_init(loop, s); };
  int rc = sigterm_.init(init, this);
  if (rc == 0) rc = sigint_.init(init, this);
  if (rc == 0) rc = uv_signal_start(sigterm_.get(), &UvServer::on_signal, SIGTERM);
  if (rc == 0) rc = uv_signal_start(sigint_.get(), &UvServer::on_signal, SIGINT);
  if (rc < 0) log("uv_signal_start() failed (" + uv_error_text(rc) + ") while starting");
  return rc == 0;
}

void UvServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<UvServer*>(listener->data);
  if (!self) return;
  if (status < 0) {
    self->log("accept failed (" + uv_error_text(status) + ")");
    return;
  }
  self->accept_from(listener);
}

uv_buf_t UvServer::read_buffer() { return uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size())); }

void UvServer::on_check(uv_check_t* check) {
  auto* self = static_cast<UvServer*>(check->data);
  if (self) self->reap();
}

void UvServer::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<UvServer*>(handle->data);
  if (self) self->stop(signum);
}

// SIGTERM/SIGINT: stop accepting, close 1001 to every peer, give them up to
// 1 s to answer, then end whatever is left.
void UvServer::stop(int signum) {
  if (stopping_) return;
  stopping_ = true;
  listener_.close();
  sigterm_.close();
  sigint_.close();
  uv_loop_t* loop = loop_.get();
  if (stop_timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this) == 0)
    uv_timer_start(stop_timer_.get(), &UvServer::on_stop_timer, kStopWaitMs, 0);
  say_goodbye(signum);
}

void UvServer::on_stop_timer(uv_timer_t* timer) {
  auto* self = static_cast<UvServer*>(timer->data);
  if (self) self->end_all();
}

void UvServer::finish_stop_if(bool idle) {
  if (stopping_ && idle) stop_timer_.close();
}

void UvServer::log(std::string_view what) const {
  std::fprintf(stderr, "%s[%s]: %.*s\n", program_.c_str(), name_.c_str(), static_cast<int>(what.size()), what.data());
}

}  // namespace wsgate::test
