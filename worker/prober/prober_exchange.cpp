#include "worker/prober/prober_exchange.h"

#include <cstdio>

#include "worker/net/random_bytes.h"
#include "worker/ws/message_rules.h"
#include "worker/ws/ws_key.h"

namespace wsgate::worker {

namespace {

// Random, so a pong left over from anything else cannot pass for ours.
std::string make_ping_payload() {
  uint8_t bytes[8];
  fill_random(bytes, sizeof bytes);
  std::string payload = "wsgate-probe-";
  for (uint8_t b : bytes) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", b);
    payload += hex;
  }
  return payload;
}

const char* awaited(ProbeExchange::Phase phase) {
  switch (phase) {
    case ProbeExchange::Phase::upgrading: return "101";
    case ProbeExchange::Phase::ponging: return "pong";
    default: return "close reply";
  }
}

}  // namespace

ProbeExchange::ProbeExchange(std::string host, std::string path, ByteSink& out, FrameContextPool& frames)
    : out_(out), frames_(frames) {
  request_.host = std::move(host);
  request_.target = std::move(path);
  request_.path = request_.target.substr(0, request_.target.find('?'));
}

ProbeExchange::~ProbeExchange() = default;

void ProbeExchange::start() {
  request_.key = make_ws_key();
  response_ = std::make_unique<ResponseReader>();
  // The User-Agent names the prober, so backends can tell its connections
  // from clients'.
  std::string request =
      build_upgrade_request({request_.target, request_.host, request_.key}, {{"User-Agent", "wsgate-prober"}});
  out_.append(reinterpret_cast<const uint8_t*>(request.data()), request.size());
}

ProbeExchange::Phase ProbeExchange::fail(std::string why) {
  if (!finished()) {
    phase_ = Phase::failed;
    error_ = std::move(why);
  }
  if (codec_) {
    codec_->discard_input();
  }
  return phase_;
}

ProbeExchange::Phase ProbeExchange::on_bytes(const uint8_t* data, size_t n) {
  switch (phase_) {
    case Phase::upgrading: return on_response_bytes(data, n);
    case Phase::ponging:
    case Phase::closing: return on_frame_bytes(data, n);
    default: return phase_;  // finished: later bytes mean nothing
  }
}

ProbeExchange::Phase ProbeExchange::on_response_bytes(const uint8_t* data, size_t n) {
  received_.append(reinterpret_cast<const char*>(data), n);
  switch (response_->parse(received_)) {
    case ResponseReader::Status::need_more: return phase_;
    case ResponseReader::Status::error: return fail("invalid answer to the upgrade: " + response_->error());
    case ResponseReader::Status::done: return judge_response();
  }
  return phase_;
}

ProbeExchange::Phase ProbeExchange::judge_response() {
  UpstreamVerdict v = response_->judge(request_, request_.key);
  if (v.kind == UpstreamVerdict::Kind::pass_through) {
    return fail("answered " + std::to_string(v.status));
  }
  if (v.kind == UpstreamVerdict::Kind::bad_gateway) {
    return fail(v.why);
  }
  // Upgraded: frames may have come right behind the 101.
  std::string rest = received_.substr(response_->consumed());
  std::string().swap(received_);
  response_.reset();
  codec_ = std::make_unique<FrameCodec>(out_, true, frames_);
  ping_payload_ = make_ping_payload();
  codec_->send_control(opcode::ping, reinterpret_cast<const uint8_t*>(ping_payload_.data()), ping_payload_.size());
  phase_ = Phase::ponging;
  if (!rest.empty()) {
    return on_frame_bytes(reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
  }
  return phase_;
}

ProbeExchange::Phase ProbeExchange::on_frame_bytes(const uint8_t* data, size_t n) {
  codec_->feed(data, n);
  FrameChunk chunk;
  while (!finished()) {
    FrameCodec::Next r = codec_->next(chunk);
    if (r == FrameCodec::Next::need_more) {
      break;
    }
    if (r == FrameCodec::Next::protocol_error) {
      return fail("sent an invalid frame");
    }
    if (!on_chunk(chunk)) {
      break;
    }
  }
  codec_->discard_input();
  codec_->release_if_idle();
  return phase_;
}

// Other frames (a greeting, an application ping) are read and dropped:
// only the pong that echoes our ping and then a close matter.
bool ProbeExchange::on_chunk(const FrameChunk& chunk) {
  if (chunk.starts_frame) {
    if (chunk.head.masked) {
      fail("sent a masked frame");
      return false;
    }
    frame_opcode_ = chunk.head.opcode;
    control_payload_.clear();
  }
  if ((frame_opcode_ & 0x8) != 0) {
    control_payload_.append(reinterpret_cast<const char*>(chunk.data), chunk.size);
  }
  if (chunk.ends_frame && (frame_opcode_ & 0x8) != 0) {
    on_control_frame();
  }
  return !finished();
}

void ProbeExchange::on_control_frame() {
  if (frame_opcode_ == opcode::pong && phase_ == Phase::ponging && control_payload_ == ping_payload_) {
    send_close();
    phase_ = Phase::closing;
    return;
  }
  if (frame_opcode_ != opcode::close) {
    return;
  }
  if (phase_ == Phase::closing) {
    phase_ = Phase::done;
    return;
  }
  std::string code =
      control_payload_.size() >= 2
          ? std::to_string((static_cast<uint8_t>(control_payload_[0]) << 8) | static_cast<uint8_t>(control_payload_[1]))
          : std::string("without a code");
  fail("sent close " + code + " before the pong");
}

void ProbeExchange::send_close() {
  const uint8_t body[2] = {static_cast<uint8_t>(close_code::normal >> 8),
                           static_cast<uint8_t>(close_code::normal & 0xff)};
  codec_->send_control(opcode::close, body, sizeof body);
}

ProbeExchange::Phase ProbeExchange::on_eof() {
  switch (phase_) {
    case Phase::upgrading:
      // A refusal may end at EOF (no Content-Length): still "answered 503".
      if (response_->on_eof() == ResponseReader::Status::done) {
        if (judge_response() != Phase::ponging) {
          return phase_;
        }
        return fail("closed the connection right after its 101");
      }
      return fail("closed the connection before answering the upgrade");
    case Phase::ponging: return fail("closed the connection before the pong");
    case Phase::closing:
      phase_ = Phase::done;  // a close reply is polite, EOF is enough
      return phase_;
    default: return phase_;
  }
}

ProbeExchange::Phase ProbeExchange::on_timeout(int64_t timeout_ms) {
  return fail(std::string("no ") + awaited(phase_) + " within " + std::to_string(timeout_ms) + " ms");
}

ProbeExchange::Phase ProbeExchange::on_error(const std::string& why) { return fail(why); }

}  // namespace wsgate::worker
