// One connection's WebSocket framing, both ways, on wslay's frame layer:
// wslay parses headers (rejecting bad control-frame lengths, fragmented
// control frames, non-minimal and top-bit lengths), unmasks input, builds
// output headers and masks output. Payload is handed out and taken in chunks
// as it arrives, so a message is relayed without ever being held whole.
//
// Why not wslay's event layer: it buffers whole messages (or, unbuffered,
// cannot forward a frame before its end), answers pings and closes on its own
// (a proxy must relay them end to end), and allocates ~9 KiB per side.
#pragma once

#include <wslay/wslay.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace wsgate::worker {

// Where encoded frames go: a connection's output queue (or a test buffer).
class ByteSink {
 public:
  virtual void append(const uint8_t* data, size_t n) = 0;

 protected:
  ~ByteSink() = default;
};

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
// session should hold none (issue 3's memory target). A context's user_data is
// its pool entry, so one context can serve different codecs in turn. One pool
// per output role: wslay keeps a context's "mask output" flag once set.
class FrameContextPool {
 public:
  struct Entry {
    wslay_frame_context_ptr ctx = nullptr;
    FrameCodec* codec = nullptr;
    ~Entry();
  };
  std::unique_ptr<Entry> acquire(FrameCodec* codec);
  void release(std::unique_ptr<Entry> entry);
  size_t idle() const { return free_.size(); }

 private:
  static constexpr size_t kMaxIdle = 1024;
  std::vector<std::unique_ptr<Entry>> free_;
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
  bool input_mid_frame() const { return in_frame_; }
  // Gives the wslay context back to the pool when nothing of a frame is in
  // it (between frames both ways, every byte handed to wslay consumed).
  void release_if_idle();
  bool holds_context() const { return entry_ != nullptr; }

 private:
  friend class FrameContextPool;  // binds its contexts to these callbacks
  static ssize_t on_wslay_send(const uint8_t* data, size_t len, int flags, void* user);
  static ssize_t on_wslay_recv(uint8_t* buf, size_t len, int flags, void* user);
  static int on_wslay_genmask(uint8_t* buf, size_t len, void* user);
  wslay_frame_context_ptr context();

  std::unique_ptr<FrameContextPool::Entry> entry_;
  FrameContextPool& pool_;
  ByteSink& out_;
  bool mask_output_;
  const uint8_t* in_ = nullptr;
  size_t in_left_ = 0;
  bool in_frame_ = false;
  uint64_t in_frame_seen_ = 0;
  uint64_t out_left_ = 0;
  uint64_t fed_ = 0;       // bytes given to wslay's input buffer
  uint64_t consumed_ = 0;  // header and payload bytes wslay has handed back
};

}  // namespace wsgate::worker
