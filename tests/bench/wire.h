// The bench client's hot path on the wire, kept free of I/O so it can be unit
// tested: masked client frames, the streaming reader for server frames, and
// the payload pattern every echo is checked against.
//
// Payloads: message `seq` of connection `conn` starts with an 8-byte tag
// (conn << 40 | seq, little endian) followed by bytes of a random pattern at
// an offset that depends on (conn, seq). A proxy that drops, reorders,
// truncates or corrupts a message, or mixes two sessions up, fails the check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace wsgate::bench {

inline constexpr std::size_t kTagSize = 8;

// Fast xorshift generator for mask keys and handshake keys. Seeded from the
// kernel CSPRNG; a benchmark needs unpredictable-looking masks, not secrets.
class FastRandom {
 public:
  FastRandom();
  std::uint64_t next();
  std::uint32_t next32() { return static_cast<std::uint32_t>(next() >> 32); }

 private:
  std::uint64_t state_;
};

class Pattern {
 public:
  static constexpr std::size_t kSpread = 4096;
  explicit Pattern(std::size_t max_size);
  std::size_t max_size() const { return max_size_; }
  // Expected byte range [offset, offset + out.size()) of message (conn, seq).
  // Copies; use matches() on the hot path.
  void fill(std::uint64_t conn, std::uint64_t seq, std::size_t offset, std::span<std::uint8_t> out) const;
  // True if `got` equals bytes [offset, offset + got.size()) of message (conn, seq).
  bool matches(std::uint64_t conn, std::uint64_t seq, std::size_t offset, std::span<const std::uint8_t> got) const;
  // p such that p[i] is byte i of message (conn, seq) for kTagSize <= i < max_size().
  const std::uint8_t* body(std::uint64_t conn, std::uint64_t seq) const;
  static void tag(std::uint64_t conn, std::uint64_t seq, std::uint8_t out[kTagSize]);

 private:
  std::size_t max_size_;
  std::vector<std::uint8_t> bytes_;
};

// Appends one complete masked binary frame carrying message (conn, seq) of
// `size` bytes to `out`.
void append_message_frame(std::vector<std::uint8_t>& out, const Pattern& pattern, std::uint64_t conn, std::uint64_t seq,
                          std::size_t size, std::uint32_t mask);
// Appends a masked control frame (close, ping, pong) with a payload <= 125 bytes.
void append_control_frame(std::vector<std::uint8_t>& out, std::uint8_t opcode, std::span<const std::uint8_t> payload,
                          std::uint32_t mask);
// out[i] = in[i] ^ key[(i + key_offset) % 4]; in and out may be the same.
void xor_mask(std::uint8_t* out, const std::uint8_t* in, std::size_t n, std::uint32_t mask, std::size_t key_offset);

// Streaming reader for frames from a server: unmasked, control frames <= 125
// bytes. It never buffers a data payload: feed() hands payload chunks to the
// sink as they arrive. Structural errors (masked server frame, RSV bits,
// unknown opcode, oversized or fragmented control frame) stop the reader.
class FrameReader {
 public:
  struct Sink {
    virtual ~Sink() = default;
    // A chunk of a data message's payload (possibly empty): `message_start`
    // on the message's first chunk, `message_end` on its last.
    virtual bool on_data(std::uint8_t opcode, std::span<const std::uint8_t> chunk, bool message_start,
                         bool message_end) = 0;
    // A complete control frame.
    virtual bool on_control(std::uint8_t opcode, std::span<const std::uint8_t> payload) = 0;
  };

  // Consumes all of `in`; false on a protocol error (see error()) or when the
  // sink returned false.
  bool feed(std::span<const std::uint8_t> in, Sink& sink);
  const std::string& error() const { return error_; }

 private:
  bool header_complete();
  bool start_frame();

  std::uint8_t head_[14]{};
  std::size_t head_have_ = 0;
  bool in_payload_ = false;
  std::uint8_t opcode_ = 0;      // of the current frame
  std::uint8_t msg_opcode_ = 0;  // of the current data message
  bool fin_ = false;
  bool in_message_ = false;       // a fragmented data message is open
  bool message_started_ = false;  // first chunk of the current message not yet delivered
  std::uint64_t remaining_ = 0;
  std::uint8_t control_[125]{};
  std::size_t control_have_ = 0;
  std::string error_;
};

}  // namespace wsgate::bench
