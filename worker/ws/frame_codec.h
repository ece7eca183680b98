// One connection's WebSocket framing, both ways, on wslay's frame layer:
// wslay parses headers (rejecting bad control-frame lengths, fragmented
// control frames, non-minimal and top-bit lengths), unmasks input, builds
// output headers and masks output. Payload is handed out and taken in chunks
// as it arrives, so a message is relayed without ever being held whole.
//
// Why not wslay's event layer: it buffers whole messages (or, unbuffered,
// cannot forward a frame before its end), answers pings and closes on its own
// (a proxy must relay them end to end), and allocates ~9 KiB per side.
//
// Large frames (kDirectMin and up) take a direct path: wslay still parses and
// validates every header and builds every output header (with its masking
// key), but the payload after the first bytes bypasses it: wslay copies input
// through a 4 KiB buffer and (un)masks one byte per loop step, which made it
// 44% of a worker's CPU on 1 MiB messages. The payload is instead handed out
// straight from the read buffer, or unmasked eight bytes at a time
// (worker/ws/ws_mask.h), and output is masked the same way. A wslay context left
// inside a frame that way is thrown away, and the next frame gets a clean one.
#pragma once

#include <wslay/wslay.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "worker/ws/byte_sink.h"

namespace wsgate::worker {

struct FrameHead {
  bool fin = true;
  uint8_t rsv = 0;
  uint8_t opcode = 0;
  uint64_t length = 0;  // the whole frame's payload length
  bool masked = false;
};

struct FrameChunk {
  FrameHead head;
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool starts_frame = false;
  bool ends_frame = false;
};

class FrameCodec;

// wslay frame contexts are lent to a codec only while it is inside a frame or
// has bytes buffered in wslay: each carries a 4 KiB input buffer, and an idle
// session should hold none (idle sessions are most of a worker's memory). A
// context's user_data is its pool entry, so one context can serve different
// codecs in turn. One pool per output role: wslay keeps a context's "mask
// output" flag once set.
class FrameContextPool {
 public:
  // Where masking keys come from: the worker's CSPRNG (RFC 6455 section 10.3
  // asks for unpredictable keys). Injected, so protocol code does no I/O.
  using MaskSource = void (*)(uint8_t* out, size_t len);
  explicit FrameContextPool(MaskSource mask_source) : mask_source_(mask_source) {}

  struct Entry {
    wslay_frame_context_ptr ctx = nullptr;
    FrameCodec* codec = nullptr;
    ~Entry();
  };
  std::unique_ptr<Entry> acquire(FrameCodec* codec);
  void release(std::unique_ptr<Entry> entry);
  size_t idle() const { return free_.size(); }

  // Where a codec unmasks a direct input chunk: valid until the next call of
  // next() on any codec of this pool (a chunk is relayed before that).
  static constexpr size_t kScratchSize = 64 * 1024;
  uint8_t* scratch();

 private:
  friend class FrameCodec;  // draws masking keys from mask_source_
  static constexpr size_t kMaxIdle = 1024;
  MaskSource mask_source_;
  std::vector<std::unique_ptr<Entry>> free_;
  std::unique_ptr<uint8_t[]> scratch_;
};

class FrameCodec {
 public:
  // `mask_output`: true toward a backend (we are its client), false toward a
  // client. `pool` lends the wslay context; it must serve this output role only.
  FrameCodec(ByteSink& out, bool mask_output, FrameContextPool& pool);
  ~FrameCodec();
  FrameCodec(const FrameCodec&) = delete;
  FrameCodec& operator=(const FrameCodec&) = delete;

  enum class Next { chunk, need_more, protocol_error };
  // Bytes just read from the connection; they must be consumed by next()
  // (until need_more) before the buffer is reused.
  void feed(const uint8_t* data, size_t n);
  Next next(FrameChunk& out);
  // Forgets unread input after a fatal error: the peer is not read again.
  void discard_input() {
    in_ = nullptr;
    in_left_ = 0;
  }

  // Appends `size` bytes of a frame whose header is `head` (head.length is the
  // whole payload); call again with the following bytes until head.length is reached.
  // A zero-length frame is one call with size 0.
  void send(const FrameHead& head, const uint8_t* data, size_t size);
  // A whole control frame (close, ping, pong) in one call.
  void send_control(uint8_t opcode, const uint8_t* data, size_t size);
  // A close frame with `code` and as much of `reason` as fits in 123 bytes.
  void send_close(uint16_t code, std::string_view reason);
  // True while an output frame has been started but not finished: nothing
  // else may be sent until it is.
  bool output_mid_frame() const { return out_left_ > 0; }
  // After next() said need_more: the head of the frame wslay is holding but
  // has not reported (it reports a frame with its first payload byte), so
  // that a length over the limit is refused before any payload comes. Only
  // when the whole head came with the current feed (its bytes are still
  // there to read); a head split over reads is judged with its first byte.
  bool pending_head(FrameHead& out) const { return holds_unreported_input() && parse_pending_head(out); }
  // Between frames with bytes in wslay: the cheap half of pending_head().
  bool holds_unreported_input() const { return fed_ != consumed_ && !in_frame_; }
  bool input_mid_frame() const { return in_frame_; }
  // Gives the wslay contexts back to the pool when nothing of a frame is in
  // them (input: between frames, every byte handed to wslay consumed;
  // output: between frames).
  void release_if_idle();
  bool holds_context() const { return in_entry_ != nullptr || out_entry_ != nullptr; }

  // Frames with at least this much payload take the direct path.
  static constexpr uint64_t kDirectMin = 1024;

 private:
  friend class FrameContextPool;  // binds its contexts to these callbacks
  static ssize_t on_wslay_send(const uint8_t* data, size_t len, int flags, void* user);
  static ssize_t on_wslay_recv(uint8_t* buf, size_t len, int flags, void* user);
  static int on_wslay_genmask(uint8_t* buf, size_t len, void* user);
  // Input and output each have their own context, so that one can be thrown
  // away mid-frame (direct path) while the other is inside a frame.
  wslay_frame_context_ptr in_context();
  wslay_frame_context_ptr out_context();
  size_t wslay_read_limit() const;
  bool parse_pending_head(FrameHead& out) const;
  void maybe_go_direct(const FrameChunk& chunk);
  Next next_direct(FrameChunk& out);
  void wslay_send(const FrameHead& head, const uint8_t* data, size_t size);
  void send_direct(const FrameHead& head, const uint8_t* data, size_t size);

  // Laid out by size: every session has two codecs, and idle sessions are
  // most of a worker's memory.
  std::unique_ptr<FrameContextPool::Entry> in_entry_;
  std::unique_ptr<FrameContextPool::Entry> out_entry_;
  FrameContextPool& pool_;
  ByteSink& out_;
  const uint8_t* in_ = nullptr;
  size_t in_left_ = 0;
  uint64_t in_frame_seen_ = 0;
  uint64_t out_left_ = 0;
  uint64_t direct_in_length_ = 0;  // the direct input frame's payload length
  // Bytes given to wslay's input buffer and handed back by it (header and
  // payload). Only their equality matters: it holds modulo 2^32 as well.
  uint32_t fed_ = 0;
  uint32_t consumed_ = 0;
  uint32_t fed_this_feed_ = 0;  // of the current feed, saturating
  uint8_t in_key_[4] = {};
  uint8_t out_key_[4] = {};
  bool mask_output_;
  bool in_frame_ = false;
  // The input context was left inside a direct frame: thrown away at the
  // next call, as the chunk just handed out still points into its buffer.
  bool in_entry_spent_ = false;
  bool in_direct_ = false;   // the rest of the input frame is read past wslay
  bool out_direct_ = false;  // the output frame's payload is masked here
  // The direct input frame's head, but for its length.
  bool direct_in_fin_ = false;
  bool direct_in_masked_ = false;
  uint8_t direct_in_rsv_ = 0;
  uint8_t direct_in_opcode_ = 0;
};

}  // namespace wsgate::worker
