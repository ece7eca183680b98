#include "worker/frame_codec.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

#include "worker/random_bytes.h"

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

FrameCodec::FrameCodec(ByteSink& out, bool mask_output, FrameContextPool& pool)
    : pool_(pool), out_(out), mask_output_(mask_output) {}

FrameCodec::~FrameCodec() {
  // A context in the middle of a frame holds state no other codec may
  // inherit: only clean ones go back to the pool.
  if (entry_ && fed_ == consumed_ && !in_frame_ && out_left_ == 0) {
    pool_.release(std::move(entry_));
  }
}

wslay_frame_context_ptr FrameCodec::context() {
  if (!entry_) {
    entry_ = pool_.acquire(this);
  }
  return entry_->ctx;
}

void FrameCodec::release_if_idle() {
  if (entry_ && fed_ == consumed_ && !in_frame_ && out_left_ == 0) {
    pool_.release(std::move(entry_));
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
  if (self->in_left_ == 0) {
    return 0;  // wslay turns this into WSLAY_ERR_WANT_READ
  }
  size_t n = len < self->in_left_ ? len : self->in_left_;
  std::memcpy(buf, self->in_, n);
  self->in_ += n;
  self->in_left_ -= n;
  self->fed_ += n;
  return static_cast<ssize_t>(n);
}

int FrameCodec::on_wslay_genmask(uint8_t* buf, size_t len, void*) {
  fill_random(buf, len);
  return 0;
}

void FrameCodec::feed(const uint8_t* data, size_t n) {
  assert(in_left_ == 0 && "previous input not consumed");
  in_ = data;
  in_left_ = n;
}

FrameCodec::Next FrameCodec::next(FrameChunk& out) {
  wslay_frame_iocb iocb{};
  ssize_t r = wslay_frame_recv(context(), &iocb);
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
    consumed_ += header_size(iocb.payload_length, iocb.mask != 0);
  }
  consumed_ += iocb.data_length;
  in_frame_seen_ += iocb.data_length;
  out.ends_frame = in_frame_seen_ == iocb.payload_length;
  if (out.ends_frame) {
    in_frame_ = false;
  }
  return Next::chunk;
}

void FrameCodec::send(const FrameHead& head, const uint8_t* data, size_t size) {
  if (out_left_ == 0) {
    out_left_ = head.length;
  }
  assert(size <= out_left_);
  wslay_frame_iocb iocb{};
  iocb.fin = head.fin ? 1 : 0;
  iocb.rsv = head.rsv;
  iocb.opcode = head.opcode;
  iocb.payload_length = head.length;
  iocb.mask = mask_output_ ? 1 : 0;
  iocb.data = data;
  iocb.data_length = size;
  [[maybe_unused]] ssize_t r = wslay_frame_send(context(), &iocb);
  // The send callback never refuses bytes, so wslay finishes each call.
  assert(r == static_cast<ssize_t>(size));
  out_left_ -= size;
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
