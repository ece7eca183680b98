#include "tests/support/process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace wsgate::test {

namespace {

using Clock = std::chrono::steady_clock;
// Output lands in files, which give no readiness events: poll them briefly.
constexpr milliseconds kPollInterval{5};
constexpr milliseconds kKillGrace{2000};

[[noreturn]] void fail(const std::string& what) { throw TestIoError(what); }

std::vector<std::string> merged_environment(const std::vector<std::string>& add) {
  std::vector<std::string> env;
  auto key_of = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    bool replaced = false;
    for (const auto& a : add) replaced = replaced || key_of(a) == key_of(kv);
    if (!replaced) env.push_back(kv);
  }
  env.insert(env.end(), add.begin(), add.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int open_output(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open(" + p.string() + ") failed: " + std::strerror(errno));
  return fd;
}

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(int out_fd, int err_fd, char** argv, char** envp) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test must not leave children behind
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  // Dispositions set to "ignore" and blocked signals survive exec; reset them.
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  environ = envp;
  ::execvp(argv[0], argv);
  const char msg[] = "ChildProcess: exec failed\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::_exit(127);
}

}  // namespace

// ---------------------------------------------------------------- files

TempDir::TempDir(const std::string& prefix) {
  std::string templ = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(templ.data())) fail("mkdtemp(" + templ + ") failed: " + std::strerror(errno));
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  if (!f.flush()) fail("could not write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string ExitStatus::describe() const {
  if (exited) return "exit " + std::to_string(code);
  return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

// ---------------------------------------------------------------- process

ChildProcess::ChildProcess(std::vector<std::string> argv, const std::vector<std::string>& env_add) {
  if (argv.empty()) fail("ChildProcess: empty argv");
  name_ = argv[0];
  // Everything the child needs is built before fork: no allocation after it.
  std::vector<std::string> env = merged_environment(env_add);
  std::vector<char*> c_argv = c_strings(argv);
  std::vector<char*> c_env = c_strings(env);
  const int out_fd = open_output(stdout_path());
  const int err_fd = open_output(stderr_path());
  pid_ = ::fork();
  if (pid_ == 0) exec_child(out_fd, err_fd, c_argv.data(), c_env.data());
  const int fork_errno = errno;
  ::close(out_fd);
  ::close(err_fd);
  if (pid_ < 0) fail("fork() failed for " + name_ + ": " + std::strerror(fork_errno));
}

ChildProcess::~ChildProcess() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (try_wait_exit(kKillGrace)) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

std::string ChildProcess::stdout_text() const { return read_file(stdout_path()); }
std::string ChildProcess::stderr_text() const { return read_file(stderr_path()); }

bool ChildProcess::reap(bool block) {
  if (status_) return true;
  int st = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &st, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r != pid_) return false;
  ExitStatus s;
  s.exited = WIFEXITED(st);
  s.code = s.exited ? WEXITSTATUS(st) : -1;
  s.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  status_ = s;
  return true;
}

bool ChildProcess::running() { return pid_ > 0 && !reap(false); }

void ChildProcess::send_signal(int sig) {
  if (!running()) fail(name_ + " is not running (" + status_->describe() + "); cannot signal it");
  if (::kill(pid_, sig) != 0) fail("kill(" + std::to_string(pid_) + ") failed: " + std::strerror(errno));
}

ExitStatus ChildProcess::stop(milliseconds timeout) {
  send_signal(SIGTERM);
  return wait_exit(timeout);
}

std::optional<ExitStatus> ChildProcess::try_wait_exit(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
  return status_;
}

ExitStatus ChildProcess::wait_exit(milliseconds timeout) {
  auto s = try_wait_exit(timeout);
  if (!s) fail(name_ + " still running after " + std::to_string(timeout.count()) + " ms" + output_tail());
  return *s;
}

std::optional<std::string> ChildProcess::find(const std::string& pattern, Match how, Stream where) const {
  std::string text;
  if (where != Stream::kStderr) text += stdout_text();
  if (where != Stream::kStdout) text += stderr_text();
  if (how == Match::kSubstring) {
    if (text.find(pattern) == std::string::npos) return std::nullopt;
    return pattern;
  }
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern))) return std::nullopt;
  return m.size() > 1 ? m[1].str() : m[0].str();
}

bool ChildProcess::has_output(const std::string& pattern, Match how, Stream where) const {
  return find(pattern, how, where).has_value();
}

std::string ChildProcess::wait_for_output(const std::string& pattern, milliseconds timeout, Match how, Stream where) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto m = find(pattern, how, where)) return *m;
    if (!running())
      fail(name_ + " exited (" + status_->describe() + ") before printing \"" + pattern + "\"" + output_tail());
    if (Clock::now() >= deadline)
      fail(name_ + " did not print \"" + pattern + "\" within " + std::to_string(timeout.count()) + " ms" +
           output_tail());
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string ChildProcess::output_tail() const {
  auto tail = [](const std::string& s) { return s.size() > 2000 ? "..." + s.substr(s.size() - 2000) : s; };
  return "\n--- stdout of " + name_ + " ---\n" + tail(stdout_text()) + "\n--- stderr ---\n" + tail(stderr_text());
}

// ---------------------------------------------------------------- echo backend

std::string echo_backend_path() {
  if (const char* env = std::getenv("WSGATE_ECHO_BACKEND")) return env;
#ifdef ECHO_BACKEND_BIN
  return ECHO_BACKEND_BIN;
#else
  return "wsgate-echo-backend";
#endif
}

EchoBackend::EchoBackend(const std::string& name, std::vector<std::string> extra_args, const std::string& host)
    : name_(name), host_(host) {
  const std::string listen = (host.find(':') == std::string::npos ? host : "[" + host + "]") + ":0";
  std::vector<std::string> argv = {echo_backend_path(), "--listen", listen, "--name", name};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<ChildProcess>(std::move(argv));
  const std::string port =
      process_->wait_for_output(R"(listening on .*:(\d+)\n)", kDefaultTimeout, Match::kRegex, Stream::kStdout);
  port_ = static_cast<std::uint16_t>(std::stoul(port));
}

WsClient EchoBackend::open(const std::string& path, const std::vector<Header>& extra_headers,
                           const std::vector<std::string>& protocols, milliseconds timeout) const {
  return WsClient::open(port_, path, extra_headers, protocols, timeout, host_);
}

// ---------------------------------------------------------------- feed source

HttpResponse http_get(std::uint16_t port, const std::string& target, milliseconds timeout, const std::string& host) {
  WsClient c = WsClient::connect(port, timeout, host);
  const std::string host_header =
      (host.find(':') == std::string::npos ? host : "[" + host + "]") + ":" + std::to_string(port);
  c.send_raw("GET " + target + " HTTP/1.1\r\nHost: " + host_header + "\r\nConnection: close\r\n\r\n", timeout);
  return c.read_http_response(timeout);
}

std::string feed_source_path() {
  if (const char* env = std::getenv("WSGATE_FEED_SOURCE")) return env;
#ifdef FEED_SOURCE_BIN
  return FEED_SOURCE_BIN;
#else
  return "wsgate-feed-source";
#endif
}

FeedSource::FeedSource(const std::string& name, std::uint64_t rate, std::size_t size, std::uint64_t count)
    : FeedSource(FeedSourceOptions{name, rate, size, count, 0, false, {}}) {}

FeedSource::FeedSource(FeedSourceOptions options) : options_(std::move(options)) { start(); }

void FeedSource::start() {
  const FeedSourceOptions& o = options_;
  std::vector<std::string> argv = {feed_source_path(),
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port_ ? port_ : o.port),
                                   "--name",
                                   o.name,
                                   "--rate",
                                   std::to_string(o.rate),
                                   "--size",
                                   std::to_string(o.size),
                                   "--count",
                                   std::to_string(o.count)};
  if (o.quiet) argv.push_back("--quiet");
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  process_.reset();  // the old process (restart) must release the port first
  process_ = std::make_unique<ChildProcess>(std::move(argv));
  const std::string port =
      process_->wait_for_output(R"(listening on .*:(\d+)\n)", kDefaultTimeout, Match::kRegex, Stream::kStdout);
  port_ = static_cast<std::uint16_t>(std::stoul(port));
}

std::string FeedSource::url(const std::string& path) const { return "ws://" + address() + path; }

std::string FeedSource::address() const { return "127.0.0.1:" + std::to_string(port_); }

WsClient FeedSource::open(const std::string& path, const std::vector<Header>& extra_headers,
                          const std::vector<std::string>& protocols, milliseconds timeout) const {
  return WsClient::open(port_, path, extra_headers, protocols, timeout);
}

FeedStats FeedSource::stats(milliseconds timeout) const {
  const HttpResponse r = http_get(port_, "/_stats", timeout);
  if (r.status != 200)
    fail("GET /_stats on feed source " + options_.name + " answered " + std::to_string(r.status) + ": " + r.head.raw +
         r.body);
  return parse_feed_stats(r.body);
}

void FeedSource::drop(milliseconds timeout) const {
  const HttpResponse r = http_get(port_, "/_drop", timeout);
  if (r.status != 200) fail("GET /_drop on feed source " + options_.name + " answered " + std::to_string(r.status));
}

ExitStatus FeedSource::kill() {
  process_->send_signal(SIGKILL);
  return process_->wait_exit();
}

void FeedSource::restart() {
  if (process_->running()) kill();
  start();
}

}  // namespace wsgate::test
