// One health check's conversation with a backend, without I/O: the upgrade
// request for `health.path` with a fresh key, the judgement of the 101 (the
// same ResponseReader a session uses), a masked ping whose payload must come
// back in a pong, then a close 1000 and the backend's reply. The caller moves
// the bytes (worker/prober/prober_check.h); unit tests drive it with strings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "worker/ws/client_handshake.h"
#include "worker/ws/frame_codec.h"
#include "worker/ws/upstream_handshake.h"

namespace wsgate::worker {

class ProbeExchange {
 public:
  enum class Phase {
    upgrading,  // request sent, waiting for a valid 101
    ponging,    // ping sent, waiting for the pong that echoes it
    closing,    // close 1000 sent, waiting for the backend's close (or EOF)
    done,       // a clean check
    failed,     // error() says why
  };

  // `out` gets every byte to send (the request, the ping, the close); `frames`
  // lends wslay contexts and must serve masked output only.
  ProbeExchange(std::string host, std::string path, ByteSink& out, FrameContextPool& frames);
  ~ProbeExchange();
  ProbeExchange(const ProbeExchange&) = delete;
  ProbeExchange& operator=(const ProbeExchange&) = delete;

  // Once connected: writes the upgrade request.
  void start();
  // Bytes from the backend; returns the phase they lead to.
  Phase on_bytes(const uint8_t* data, size_t n);
  // The backend closed its side.
  Phase on_eof();
  // The check ran out of time in the current phase.
  Phase on_timeout(int64_t timeout_ms);
  // A transport error (reset, failed write) while `while_doing`.
  Phase on_error(const std::string& why);

  Phase phase() const { return phase_; }
  bool finished() const { return phase_ == Phase::done || phase_ == Phase::failed; }
  const std::string& error() const { return error_; }
  const std::string& key() const { return request_.key; }
  const std::string& ping_payload() const { return ping_payload_; }

 private:
  Phase fail(std::string why);
  Phase on_response_bytes(const uint8_t* data, size_t n);
  Phase judge_response();
  Phase on_frame_bytes(const uint8_t* data, size_t n);
  bool on_chunk(const FrameChunk& chunk);
  void on_control_frame();
  void send_close();

  ByteSink& out_;
  FrameContextPool& frames_;
  ClientRequest request_;  // what ResponseReader::judge checks the 101 against
  Phase phase_ = Phase::upgrading;
  std::string error_;
  std::string received_;  // the response so far; dropped after the 101
  std::unique_ptr<ResponseReader> response_;
  std::unique_ptr<FrameCodec> codec_;
  std::string ping_payload_;
  uint8_t frame_opcode_ = 0;
  std::string control_payload_;  // at most 125 bytes (wslay enforces it)
};

}  // namespace wsgate::worker
