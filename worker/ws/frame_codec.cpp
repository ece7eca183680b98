#include "worker/ws/frame_codec.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

#include "worker/ws/ws_mask.h"

namespace wsgate::worker {

FrameContextPool::Entry::~Entry() {
  if (ctx != nullptr) {
    wslay_frame_context_free(ctx);
  }
}

std::unique_ptr<FrameContextPool::Entry> FrameContextPool::acquire(FrameCodec* codec) {
  std::unique_ptr<Entry> e;
  if (!free_.empty()) {
    e = std::move(free_.back());
    free_.pop_back();
  } else {
    e = std::make_unique<Entry>();
    wslay_frame_callbacks cb{&FrameCodec::on_wslay_send, &FrameCodec::on_wslay_recv, &FrameCodec::on_wslay_genmask};
    if (wslay_frame_context_init(&e->ctx, &cb, e.get()) != 0) {
      throw std::bad_alloc();
    }
  }
  e->codec = codec;
  return e;
}

void FrameContextPool::release(std::unique_ptr<Entry> entry) {
  entry->codec = nullptr;
  if (free_.size() < kMaxIdle) {
    free_.push_back(std::move(entry));
  }
}

uint8_t* FrameContextPool::scratch() {
  if (!scratch_) {
    scratch_ = std::make_unique_for_overwrite<uint8_t[]>(kScratchSize);
  }
  return scratch_.get();
}

FrameCodec::FrameCodec(ByteSink& out, bool mask_output, FrameContextPool& pool)
    : pool_(pool), out_(out), mask_output_(mask_output) {}

FrameCodec::~FrameCodec() {
  // A context in the middle of a frame holds state no other codec may
  // inherit: only clean ones go back to the pool.
  release_if_idle();
}

wslay_frame_context_ptr FrameCodec::in_context() {
  if (!in_entry_) {
    in_entry_ = pool_.acquire(this);
  }
  return in_entry_->ctx;
}

wslay_frame_context_ptr FrameCodec::out_context() {
  if (!out_entry_) {
    out_entry_ = pool_.acquire(this);
  }
  return out_entry_->ctx;
}

void FrameCodec::release_if_idle() {
  if (in_entry_spent_) {
    in_entry_.reset();
    in_entry_spent_ = false;
  }
  if (in_entry_ && fed_ == consumed_ && !in_frame_) {
    pool_.release(std::move(in_entry_));
  }
  if (out_entry_ && out_left_ == 0) {
    pool_.release(std::move(out_entry_));
  }
}

namespace {
// Bytes of a frame header as wslay parsed it; it refuses non-minimal length
// encodings, so the size follows from the length and the mask bit alone.
uint64_t header_size(uint64_t payload_length, bool masked) {
  uint64_t ext = payload_length < 126 ? 0 : payload_length < 65536 ? 2 : 8;
  return 2 + ext + (masked ? 4 : 0);
}
}  // namespace

ssize_t FrameCodec::on_wslay_send(const uint8_t* data, size_t len, int, void* user) {
  // The output queue takes everything; the session bounds it by pausing the
  // reader that feeds it (backpressure), not by refusing bytes mid-frame.
  static_cast<FrameContextPool::Entry*>(user)->codec->out_.append(data, len);
  return static_cast<ssize_t>(len);
}

ssize_t FrameCodec::on_wslay_recv(uint8_t* buf, size_t len, int, void* user) {
  FrameCodec* self = static_cast<FrameContextPool::Entry*>(user)->codec;
  size_t n = std::min({len, self->in_left_, self->wslay_read_limit()});
  if (n == 0) {
    return 0;  // wslay turns this into WSLAY_ERR_WANT_READ
  }
  std::memcpy(buf, self->in_, n);
  self->in_ += n;
  self->in_left_ -= n;
  self->fed_ += static_cast<uint32_t>(n);
  self->fed_this_feed_ = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{self->fed_this_feed_} + n, UINT32_MAX));
  return static_cast<ssize_t>(n);
}

int FrameCodec::on_wslay_genmask(uint8_t* buf, size_t len, void* user) {
  FrameCodec* self = static_cast<FrameContextPool::Entry*>(user)->codec;
  self->pool_.mask_source_(buf, len);
  std::memcpy(self->out_key_, buf, std::min(len, sizeof self->out_key_));
  return 0;
}

size_t FrameCodec::wslay_read_limit() const {
  // At a frame boundary with wslay's buffer empty, the input starts with a
  // header. If its length field says a large frame, wslay gets the header and
  // four payload bytes only (four: they show the whole masking key), so the
  // rest can go direct. Only a hint: wslay still parses the header, and a
  // header that is not all here yet is simply read the usual way.
  if (in_frame_ || fed_ != consumed_ || in_left_ < 2) {
    return SIZE_MAX;
  }
  const uint8_t len7 = in_[1] & 0x7f;
  const size_t key = (in_[1] & 0x80) != 0 ? 4 : 0;
  size_t header = 0;
  if (len7 == 127) {
    header = 10 + key;
  } else if (len7 == 126 && in_left_ >= 4 && ((uint64_t{in_[2]} << 8) | in_[3]) >= kDirectMin) {
    header = 4 + key;
  }
  return header != 0 && in_left_ >= header + 4 ? header + 4 : SIZE_MAX;
}

void FrameCodec::feed(const uint8_t* data, size_t n) {
  assert(in_left_ == 0 && "previous input not consumed");
  in_ = data;
  in_left_ = n;
  fed_this_feed_ = 0;
}

bool FrameCodec::parse_pending_head(FrameHead& out) const {
  const uint32_t pending = fed_ - consumed_;
  if (in_frame_ || in_direct_ || pending < 2 || pending > fed_this_feed_ || pending > 14) {
    return false;
  }
  const uint8_t* p = in_ - pending;  // the last bytes handed to wslay, all from this feed
  const uint8_t len7 = p[1] & 0x7f;
  const bool masked = (p[1] & 0x80) != 0;
  const size_t ext = len7 == 127 ? 8 : len7 == 126 ? 2 : 0;
  if (pending < 2 + ext + (masked ? 4 : 0)) {
    return false;  // the head itself is not complete yet
  }
  uint64_t length = len7;
  if (ext != 0) {
    length = 0;
    for (size_t i = 0; i < ext; ++i) {
      length = length << 8 | p[2 + i];
    }
  }
  out = FrameHead{(p[0] & 0x80) != 0, static_cast<uint8_t>((p[0] >> 4) & 0x7), static_cast<uint8_t>(p[0] & 0xf), length,
                  masked};
  return true;
}

void FrameCodec::maybe_go_direct(const FrameChunk& chunk) {
  // Only where wslay holds nothing but the frame's position: its buffer is
  // empty, so the rest of the frame is exactly what comes next from in_.
  const uint64_t rest = chunk.head.length - in_frame_seen_;
  if (chunk.ends_frame || rest < kDirectMin || fed_ != consumed_) {
    return;
  }
  if (chunk.head.masked) {
    // The key, from the chunk's bytes as they came (still in the caller's
    // buffer, just before in_) and as wslay unmasked them.
    if (chunk.size < 4 || fed_this_feed_ < chunk.size) {
      return;
    }
    const uint8_t* wire = in_ - chunk.size;
    const uint64_t first = in_frame_seen_ - chunk.size;
    for (size_t i = 0; i < 4; ++i) {
      in_key_[(first + i) % 4] = static_cast<uint8_t>(wire[i] ^ chunk.data[i]);
    }
  }
  in_direct_ = true;
  direct_in_length_ = chunk.head.length;
  direct_in_fin_ = chunk.head.fin;
  direct_in_masked_ = chunk.head.masked;
  direct_in_rsv_ = chunk.head.rsv;
  direct_in_opcode_ = chunk.head.opcode;
  in_entry_spent_ = true;  // inside a frame: no other codec may inherit it
}

FrameCodec::Next FrameCodec::next_direct(FrameChunk& out) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(direct_in_length_ - in_frame_seen_, in_left_));
  if (n == 0) {
    return Next::need_more;
  }
  out.head = FrameHead{direct_in_fin_, direct_in_rsv_, direct_in_opcode_, direct_in_length_, direct_in_masked_};
  if (direct_in_masked_) {
    n = std::min(n, FrameContextPool::kScratchSize);
    uint8_t* plain = pool_.scratch();
    mask_copy(plain, in_, n, in_key_, in_frame_seen_);
    out.data = plain;
  } else {
    out.data = in_;
  }
  out.size = n;
  out.starts_frame = false;
  in_ += n;
  in_left_ -= n;
  in_frame_seen_ += n;
  out.ends_frame = in_frame_seen_ == direct_in_length_;
  if (out.ends_frame) {
    in_frame_ = false;
    in_direct_ = false;
  }
  return Next::chunk;
}

FrameCodec::Next FrameCodec::next(FrameChunk& out) {
  if (in_entry_spent_) {
    in_entry_.reset();
    in_entry_spent_ = false;
  }
  if (in_direct_) {
    return next_direct(out);
  }
  wslay_frame_iocb iocb{};
  ssize_t r = wslay_frame_recv(in_context(), &iocb);
  if (r == WSLAY_ERR_WANT_READ) {
    return Next::need_more;
  }
  if (r < 0) {
    return Next::protocol_error;
  }
  out.head = FrameHead{iocb.fin != 0, iocb.rsv, iocb.opcode, iocb.payload_length, iocb.mask != 0};
  out.data = iocb.data;
  out.size = iocb.data_length;
  out.starts_frame = !in_frame_;
  if (!in_frame_) {
    in_frame_ = true;
    in_frame_seen_ = 0;
    consumed_ += static_cast<uint32_t>(header_size(iocb.payload_length, iocb.mask != 0));
  }
  consumed_ += static_cast<uint32_t>(iocb.data_length);
  in_frame_seen_ += iocb.data_length;
  out.ends_frame = in_frame_seen_ == iocb.payload_length;
  if (out.ends_frame) {
    in_frame_ = false;
  } else {
    maybe_go_direct(out);
  }
  return Next::chunk;
}

void FrameCodec::send(const FrameHead& head, const uint8_t* data, size_t size) {
  if (out_left_ == 0) {
    out_left_ = head.length;
    if (head.length >= kDirectMin) {
      // wslay writes the header (and draws the key, see on_wslay_genmask);
      // the payload is ours.
      wslay_send(head, nullptr, 0);
      out_entry_.reset();  // inside a frame: no other codec may inherit it
      out_direct_ = true;
    }
  }
  assert(size <= out_left_);
  if (out_direct_) {
    send_direct(head, data, size);
    return;
  }
  wslay_send(head, data, size);
  out_left_ -= size;
}

void FrameCodec::wslay_send(const FrameHead& head, const uint8_t* data, size_t size) {
  wslay_frame_iocb iocb{};
  iocb.fin = head.fin ? 1 : 0;
  iocb.rsv = head.rsv;
  iocb.opcode = head.opcode;
  iocb.payload_length = head.length;
  iocb.mask = mask_output_ ? 1 : 0;
  iocb.data = data;
  iocb.data_length = size;
  [[maybe_unused]] ssize_t r = wslay_frame_send(out_context(), &iocb);
  // The send callback never refuses bytes, so wslay finishes each call.
  assert(r == static_cast<ssize_t>(size));
}

void FrameCodec::send_direct(const FrameHead& head, const uint8_t* data, size_t size) {
  if (!mask_output_) {
    out_.append(data, size);
  } else {
    uint8_t masked[16 * 1024];
    uint64_t offset = head.length - out_left_;  // into the frame's payload
    for (size_t done = 0; done < size;) {
      const size_t n = std::min(size - done, sizeof masked);
      mask_copy(masked, data + done, n, out_key_, offset);
      out_.append(masked, n);
      offset += n;
      done += n;
    }
  }
  out_left_ -= size;
  if (out_left_ == 0) {
    out_direct_ = false;
  }
}

void FrameCodec::send_control(uint8_t opcode, const uint8_t* data, size_t size) {
  assert(!output_mid_frame() && size <= 125);
  send(FrameHead{true, 0, opcode, size, mask_output_}, data, size);
}

void FrameCodec::send_close(uint16_t code, std::string_view reason) {
  uint8_t body[125];
  body[0] = static_cast<uint8_t>(code >> 8);
  body[1] = static_cast<uint8_t>(code & 0xff);
  size_t len = std::min<size_t>(reason.size(), sizeof body - 2);
  std::memcpy(body + 2, reason.data(), len);
  send_control(0x8, body, len + 2);
}

}  // namespace wsgate::worker
