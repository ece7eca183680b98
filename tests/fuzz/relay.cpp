// The relay (worker/proxy/relay.h) between a client and a backend, both
// hostile: the input is the client's bytes and the backend's (the first two
// bytes give the client's share, little-endian), delivered in reads that
// alternate between the two at points drawn from the input; when a side's
// bytes run out it may hang up. Checked on what each peer receives, read by
// this file's own decoder: well-formed frames, masked toward the backend only,
// no reserved bits, fragments in order, and nothing after a close frame.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "worker/log/log.h"
#include "worker/proxy/relay.h"

using namespace wsgate;
using namespace wsgate::worker;

namespace {

// A text message relayed whole must be valid UTF-8. Off until the relay holds
// back an incomplete last character (issue 15, finding 8: a FIN frame ending
// mid-character still reaches the peer before the sender gets 1007).
constexpr bool kCheckRelayedUtf8 = false;

constexpr uint64_t kMaxMessage = 3000;
constexpr uint32_t kMaxFragments = 16;

void mask_source(uint8_t* out, size_t len) {
  static uint32_t x = 0x9e3779b9u;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<uint8_t>(x);
  }
}

FrameContextPool& pool(bool mask_output) {
  static FrameContextPool masked{mask_source}, unmasked{mask_source};
  return mask_output ? masked : unmasked;
}

struct Peer final : RelayPeer {
  explicit Peer(bool backend) : RelayPeer(backend) {
    rules = MessageRules(RuleLimits{kMaxMessage, kMaxFragments, !backend, true});
    codec = std::make_unique<FrameCodec>(*this, backend, pool(backend));
  }
  void append(const uint8_t* data, size_t n) override { received.append(reinterpret_cast<const char*>(data), n); }
  std::string received;  // what wsgate wrote to this peer
  bool reading = true;
};

struct Host final : RelayHost {
  void flush_peer(RelayPeer&) override {}
  void stop_reading(RelayPeer& p) override { static_cast<Peer&>(p).reading = false; }
  void count_close(const RelayPeer&, bool, uint16_t) override {}
  void on_closing() override {}
  void on_backend_done() override {}
  void on_relay_over() override { over = true; }
  std::string label(const RelayPeer& p) const override { return p.is_backend ? "b0" : "c0"; }
  bool over = false;
};

// What `p` received is a valid stream of frames from wsgate.
void check_received(const Peer& p) {
  size_t rest = 0;
  bool bad = false;
  const std::vector<fuzz::WireFrame> frames = fuzz::decode_frames(p.received, rest, bad);
  FUZZ_CHECK(!bad);
  // The rules the receiver holds wsgate to: masked toward a backend (wsgate
  // is its client), no size caps of the sender's.
  MessageRules rules(RuleLimits{UINT64_MAX / 2, UINT32_MAX, p.is_backend, kCheckRelayedUtf8});
  bool closed = false;
  for (const fuzz::WireFrame& f : frames) {
    FUZZ_CHECK(!closed);  // nothing after a close frame
    FUZZ_CHECK(f.masked == p.is_backend);
    const FrameHead head{f.fin, f.rsv, f.opcode, f.payload.size(), f.masked};
    FUZZ_CHECK(rules.on_frame_start(head) == 0);
    FUZZ_CHECK(rules.on_payload(reinterpret_cast<const uint8_t*>(f.payload.data()), f.payload.size()) == 0);
    FUZZ_CHECK(rules.on_frame_end() == 0);
    closed = f.opcode == opcode::close;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    log::set_min_level(log::Level::error);  // every protocol error is an info line
    return true;
  }();
  (void)quiet;
  if (size < 2) {
    return 0;
  }
  const size_t client_share = std::min<size_t>(size_t{data[0]} | size_t{data[1]} << 8, size - 2);
  const std::string_view from_client = fuzz::as_text(data + 2, client_share);
  const std::string_view from_backend = fuzz::as_text(data + 2 + client_share, size - 2 - client_share);

  Host host;
  Peer client(false), backend(true);
  RelayState state;
  SessionStats stats;
  Relay relay(host, client, backend, state, stats);
  fuzz::Splitter split(data, size);
  size_t client_done = 0, backend_done = 0;
  for (int guard = 0; guard < 100000 && !state.over; ++guard) {
    const uint64_t r = split.step();
    Peer& src = (r & 1) != 0 ? client : backend;
    const std::string_view in = &src == &client ? from_client : from_backend;
    size_t& done = &src == &client ? client_done : backend_done;
    if (!src.reading || src.gone) {
      if (!(client.reading && !client.gone) && !(backend.reading && !backend.gone)) break;
      continue;
    }
    if (done == in.size()) {
      // Out of bytes: the side hangs up (EOF) now, or stays silent.
      if ((r & 2) != 0) {
        relay.peer_gone(src, src.is_backend ? close_code::bad_gateway : close_code::going_away);
      } else {
        src.reading = false;
      }
      continue;
    }
    const size_t n = split.next(in.size() - done);
    relay.pump(src, reinterpret_cast<const uint8_t*>(in.data()) + done, n);
    done += n;
    src.codec->release_if_idle();
  }
  check_received(client);
  check_received(backend);
  FUZZ_CHECK(host.over == state.over);
  return 0;
}
