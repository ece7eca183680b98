#include "worker/feeder/feeder.h"

#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <bitset>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <random>

#include "shm/backend_table.h"
#include "shm/channel_ring.h"
#include "shm/channel_table.h"
#include "worker/feeder/feed_upstream.h"
#include "worker/feeder/stream_plan.h"
#include "worker/log/escape.h"
#include "worker/log/log.h"
#include "worker/net/exit_codes.h"
#include "worker/net/role_runtime.h"
#include "worker/net/uv_handle.h"
#include "worker/ws/request_path.h"

namespace wsgate::worker {

namespace {

constexpr uint64_t kTickMs = 100;
constexpr int64_t kBackoffBaseMs = 100;

// Collects what a FrameCodec encodes, for the ring.
struct CaptureSink final : ByteSink {
  std::string bytes;
  void append(const uint8_t* data, size_t n) override { bytes.append(reinterpret_cast<const char*>(data), n); }
};

// The channel path goes in JSON-escaped: the messages are JSON more often
// than not, and the path is the client's. A normalised path has no '"' or
// '\' to escape (worker/ws/request_path.h); this holds even if that changes
// (issue 15, finding 2: `/fx/a","admin":true,"x":"` rewrote the vendor's
// subscribe message, which carries the operator's key).
std::string fill_path(std::string text, const std::string& path) {
  const std::string token = "${path}";
  std::string escaped;
  append_escaped(escaped, path, Quoting::json);
  for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at + escaped.size())) {
    text.replace(at, token.size(), escaped);
  }
  return text;
}

const char* upstream_word(bool was_up) { return was_up ? "lost" : "could not connect"; }

// One channel as the feeder sees it: its upstream, and when to (re)connect.
struct ChannelFeed {
  uint32_t epoch = 0;
  std::unique_ptr<FeedUpstream> upstream;
  bool closing_on_purpose = false;
  uint32_t source = 0;        // next source to try
  uint32_t failures = 0;      // rounds over all sources that failed, for the backoff
  int64_t retry_at_ms = 0;    // 0 = now
  int64_t idle_since_ms = 0;  // no subscribers since; 0 = has some
};

class Feeder final : public FeedUpstreamHost {
 public:
  explicit Feeder(const FeederArgs& args)
      : args_(args),
        runtime_({args.table, args.slot, args.generation, shm::SlotRole::feeder, args.master_alive_fd}),
        table_(*args.streams),
        encoder_(encoded_, false, unmasked_),
        rng_(std::random_device{}()) {}
  ~Feeder();
  int run();

 private:
  bool setup();
  bool setup_tls();
  void stop(const char* why);
  void tick();
  void look_after(uint32_t ch, int64_t now);
  void connect(uint32_t ch, int64_t now);
  int64_t backoff_ms(const conf::Stream& s, uint32_t failures);
  shm::RingWriter writer(uint32_t ch);
  const conf::Stream& stream_of(uint32_t ch) const { return args_.config->streams[table_.entry(ch).stream_index]; }

  void on_upstream_up(FeedUpstream& u) override;
  void on_upstream_message(FeedUpstream& u, uint8_t op, const std::string& payload) override;
  void on_upstream_batch_end(FeedUpstream& u) override;
  void on_upstream_down(FeedUpstream& u, bool was_up, const std::string& why) override;

  static void on_tick(uv_timer_t* t);
  static void on_wake(uv_poll_t* p, int status, int events);

  const FeederArgs& args_;
  RoleRuntime runtime_;  // before every handle's owner: destroyed after them
  FeederResources res_;
  shm::ChannelTable table_;
  std::vector<ChannelFeed> feeds_;
  // Per conf stream with a wss:// source: its client context and sessions.
  std::vector<std::shared_ptr<TlsClientContext>> tls_;
  UvHandle<uv_timer_t> tick_;
  UvHandle<uv_poll_t> wake_;
  // Each message is encoded here once, as the one unmasked, unfragmented
  // frame every subscriber receives: no worker encodes it again.
  FrameContextPool unmasked_{fill_random};
  CaptureSink encoded_;
  FrameCodec encoder_;
  // Proxy slots to wake after this batch: any of the kMaxSlots (a reload's
  // new generation takes slots above the first ones).
  std::bitset<shm::kMaxSlots> to_wake_;
  bool stopping_ = false;
  std::mt19937_64 rng_;
};

Feeder::~Feeder() {
  feeds_.clear();
  runtime_.close();
  tick_.close();
  wake_.close();
}

int Feeder::run() {
  if (!setup()) {
    return kExitFatal;
  }
  runtime_.ready("feeder for slot %u ready: %u channels over %zu streams", args_.slot, table_.count(),
                 args_.config->streams.size());
  tick();
  return runtime_.run();
}

bool Feeder::setup() {
  if (!runtime_.start([this](const char* why) { stop(why); })) {
    return false;
  }
  res_.loop = runtime_.loop();
  feeds_.resize(table_.count());
  if (!setup_tls()) {
    return false;
  }
  int r = tick_.init(uv_timer_init, res_.loop, this);
  if (r != 0) {
    LOG_ERROR("uv_timer_init() failed (%s) for the feeder's tick", log::uv_error_text(r).c_str());
    return false;
  }
  uv_timer_start(tick_.get(), &Feeder::on_tick, kTickMs, kTickMs);
  r = wake_.init(uv_poll_init, res_.loop, this, args_.wake_fd);
  if (r == 0) {
    r = uv_poll_start(wake_.get(), UV_READABLE, &Feeder::on_wake);
  }
  if (r != 0) {
    LOG_ERROR("cannot watch the feeder's wake-up fd %d (%s)", args_.wake_fd, log::uv_error_text(r).c_str());
    return false;
  }
  // A respawned feeder finds the channels as its predecessor left them:
  // rings and sequence numbers go on, only the upstream connections are new.
  for (uint32_t ch = 0; ch < table_.count(); ++ch) {
    feeds_[ch].epoch = table_.entry(ch).epoch.load(std::memory_order_acquire);
  }
  return true;
}

// One client context per stream that has a wss:// source (`verify: false`
// is warned about by the master, at every start and reload).
bool Feeder::setup_tls() {
  tls_.resize(args_.config->streams.size());
  for (size_t i = 0; i < args_.config->streams.size(); ++i) {
    const conf::Stream& s = args_.config->streams[i];
    if (std::none_of(s.sources.begin(), s.sources.end(), [](const conf::SourceUrl& u) { return u.tls; })) {
      continue;
    }
    std::string error;
    tls_[i] = TlsClientContext::build(s.tls, &error);
    if (!tls_[i]) {
      LOG_ERROR("stream %s: cannot set up TLS to its sources: %s", s.name.c_str(), error.c_str());
      return false;
    }
  }
  return true;
}

void Feeder::stop(const char* why) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  LOG_INFO("stopping (%s)", why);
  for (ChannelFeed& f : feeds_) {
    if (f.upstream) {
      f.closing_on_purpose = true;
      runtime_.graveyard().bury(std::move(f.upstream));
    }
  }
  runtime_.close();  // destroys the upstreams buried above: this is a signal's callback, not theirs
  tick_.close();
  wake_.close();
}

void Feeder::on_tick(uv_timer_t* t) {
  if (auto* self = static_cast<Feeder*>(t->data)) {
    self->tick();
  }
}

void Feeder::on_wake(uv_poll_t* p, int status, int) {
  auto* self = static_cast<Feeder*>(p->data);
  if (self == nullptr || status < 0) {
    return;
  }
  uint64_t n = 0;
  if (read(self->args_.wake_fd, &n, sizeof n) < 0 && errno != EAGAIN) {
    LOG_WARN("reading the feeder's wake-up fd failed (%s)", strerror(errno));
  }
  self->tick();
}

void Feeder::tick() {
  if (stopping_) {
    return;
  }
  int64_t now = shm::monotonic_ms();
  for (uint32_t ch = 0; ch < table_.count(); ++ch) {
    look_after(ch, now);
  }
}

// Opens a channel's upstream when it is wanted, and closes it (and frees a
// per_path channel) `linger` after its last subscriber left.
void Feeder::look_after(uint32_t ch, int64_t now) {
  shm::ChannelEntry& e = table_.entry(ch);
  ChannelFeed& f = feeds_[ch];
  const conf::Stream& s = stream_of(ch);
  const bool active = e.state.load(std::memory_order_acquire) == static_cast<uint32_t>(shm::ChannelState::active);
  const uint32_t epoch = e.epoch.load(std::memory_order_acquire);
  if (!active || epoch != f.epoch) {
    // Freed, or claimed anew for another path: whatever we held is for the old one.
    if (f.upstream) {
      f.closing_on_purpose = true;
      f.upstream->close_gracefully();
    }
    if (!active) {
      return;
    }
    f = ChannelFeed{};
    f.epoch = epoch;
  }
  const bool wanted = table_.subscribers(ch) > 0 || (s.always_on && s.channels == conf::ChannelMode::single);
  if (wanted) {
    f.idle_since_ms = 0;
    if (!f.upstream && now >= f.retry_at_ms) {
      connect(ch, now);
    }
    return;
  }
  if (f.idle_since_ms == 0) {
    f.idle_since_ms = now;
  }
  // A new path waiting for this channel's place cuts the linger short.
  const bool reclaim = s.channels == conf::ChannelMode::per_path && table_.reclaim_asked(ch);
  if (now - f.idle_since_ms < s.linger.count() && !reclaim) {
    return;
  }
  if (f.upstream && !f.closing_on_purpose) {
    LOG_INFO("stream %s%s%s: no subscribers for %lld ms%s; closing its upstream", s.name.c_str(),
             e.path[0] != '\0' ? " channel " : "", e.path, static_cast<long long>(now - f.idle_since_ms),
             reclaim ? " and a new path needs the channel" : "");
    f.closing_on_purpose = true;
    f.upstream->close_gracefully();
  }
  if (!f.upstream && s.channels == conf::ChannelMode::per_path && table_.free_if_unused(ch)) {
    f = ChannelFeed{};
    f.epoch = epoch;
  }
}

void Feeder::connect(uint32_t ch, int64_t now) {
  shm::ChannelEntry& e = table_.entry(ch);
  ChannelFeed& f = feeds_[ch];
  const conf::Stream& s = stream_of(ch);
  FeedTarget t;
  t.source = &s.sources[f.source % s.sources.size()];
  t.stream = &s;
  if (t.source->tls) {
    t.tls = tls_[table_.entry(ch).stream_index];
  }
  std::string path = e.path;
  t.path = t.source->path;
  if (s.channels == conf::ChannelMode::per_path) {
    // source + the client's path ("ws://core/fx" + "/fx/EURUSD"), never
    // anything outside the source's path (issue 15, finding 3). Workers
    // claim only normalised paths; the check holds even against a stale or
    // damaged entry.
    std::optional<std::string> target = channel_upstream_target(t.path, path);
    if (!target) {
      LOG_WARN("stream %s channel %s: the path would leave the source path %s; not connecting", s.name.c_str(),
               json_string(path).c_str(), t.source->text.c_str());
      f.retry_at_ms = now + s.backoff_max.count();
      return;
    }
    t.path = std::move(*target);
  }
  for (const std::string& m : s.on_connect_send) {
    t.on_connect.push_back(fill_path(m, path));
  }
  t.connect_timeout = s.connect_timeout;
  t.max_message = std::min<uint64_t>(args_.config->limits.max_message, shm::max_record_payload(e.ring_size) - 10);
  t.channel = ch;
  e.upstream.store(static_cast<uint32_t>(shm::UpstreamState::connecting), std::memory_order_relaxed);
  e.source_index.store(f.source % static_cast<uint32_t>(s.sources.size()), std::memory_order_relaxed);
  f.closing_on_purpose = false;
  f.upstream = std::make_unique<FeedUpstream>(res_, *this, std::move(t));
  f.upstream->start();
}

int64_t Feeder::backoff_ms(const conf::Stream& s, uint32_t failures) {
  int64_t ceiling = s.backoff_max.count();
  int64_t base = kBackoffBaseMs << std::min<uint32_t>(failures, 20);
  base = std::min(base, ceiling);
  // Full jitter over the upper half: hosts that lost one source together do
  // not come back to it in step.
  std::uniform_int_distribution<int64_t> d(base / 2, std::max<int64_t>(base / 2, base));
  return d(rng_);
}

shm::RingWriter Feeder::writer(uint32_t ch) {
  shm::ChannelEntry& e = table_.entry(ch);
  return shm::RingWriter(e, reinterpret_cast<uint8_t*>(args_.streams) + e.ring_offset);
}

void Feeder::on_upstream_up(FeedUpstream& u) {
  uint32_t ch = u.target().channel;
  shm::ChannelEntry& e = table_.entry(ch);
  ChannelFeed& f = feeds_[ch];
  f.failures = 0;
  e.upstream.store(static_cast<uint32_t>(shm::UpstreamState::up), std::memory_order_relaxed);
  e.connects.fetch_add(1, std::memory_order_relaxed);
  const std::string tls = u.tls_summary();
  LOG_INFO("stream %s%s%s: connected to %s%s%s%s", stream_of(ch).name.c_str(), e.path[0] ? " channel " : "", e.path,
           u.target().source->text.c_str(),
           u.target().path != u.target().source->path ? (" (" + u.target().path + ")").c_str() : "",
           tls.empty() ? "" : " over ", tls.c_str());
}

void Feeder::on_upstream_message(FeedUpstream& u, uint8_t op, const std::string& payload) {
  uint32_t ch = u.target().channel;
  encoded_.bytes.clear();
  encoder_.send(FrameHead{true, 0, op, payload.size(), false}, reinterpret_cast<const uint8_t*>(payload.data()),
                payload.size());
  encoder_.release_if_idle();
  const auto* bytes = reinterpret_cast<const uint8_t*>(encoded_.bytes.data());
  if (!writer(ch).append({bytes, encoded_.bytes.size()}, {})) {
    return;  // counted in `oversize`; the upstream's own limit makes this rare
  }
  shm::ChannelEntry& e = table_.entry(ch);
  for (uint32_t slot = 0; slot < args_.worker_fds.size(); ++slot) {
    if (e.subscribers[slot].load(std::memory_order_relaxed) > 0) {
      to_wake_.set(slot);
    }
  }
}

void Feeder::on_upstream_batch_end(FeedUpstream&) {
  for (uint32_t slot = 0; to_wake_.any() && slot < args_.worker_fds.size() && slot < to_wake_.size(); ++slot) {
    if (to_wake_.test(slot)) {
      uint64_t one = 1;
      if (write(args_.worker_fds[slot], &one, sizeof one) < 0 && errno != EAGAIN) {
        LOG_WARN("cannot wake worker %u (%s)", slot, strerror(errno));
      }
    }
  }
  to_wake_.reset();
}

void Feeder::on_upstream_down(FeedUpstream& u, bool was_up, const std::string& why) {
  uint32_t ch = u.target().channel;
  shm::ChannelEntry& e = table_.entry(ch);
  ChannelFeed& f = feeds_[ch];
  if (f.upstream.get() != &u) {
    return;  // an upstream already given up (stale epoch); it is in the graveyard
  }
  runtime_.graveyard().bury(std::move(f.upstream));
  e.upstream.store(static_cast<uint32_t>(shm::UpstreamState::idle), std::memory_order_relaxed);
  if (f.closing_on_purpose || stopping_) {
    f.closing_on_purpose = false;
    return;
  }
  const conf::Stream& s = stream_of(ch);
  const int64_t now = shm::monotonic_ms();
  const uint32_t tried = f.source % static_cast<uint32_t>(s.sources.size());
  if (was_up) {
    // Lost after it worked: start over at the first source, after a short pause.
    f.source = 0;
    f.failures = 0;
    f.retry_at_ms = now + backoff_ms(s, 0);
  } else if (++f.source % s.sources.size() != 0) {
    f.retry_at_ms = now;  // the next source in order, at once
  } else {
    f.source = 0;
    f.retry_at_ms = now + backoff_ms(s, f.failures++);
  }
  e.upstream.store(static_cast<uint32_t>(shm::UpstreamState::backoff), std::memory_order_relaxed);
  LOG_WARN("stream %s%s%s: %s %s (%s); retrying in %lld ms", s.name.c_str(), e.path[0] ? " channel " : "", e.path,
           upstream_word(was_up), s.sources[tried].text.c_str(), why.c_str(),
           static_cast<long long>(f.retry_at_ms - now));
}

}  // namespace

int run_feeder(const FeederArgs& args) {
  Feeder f(args);
  return f.run();
}

}  // namespace wsgate::worker
