// RFC 6455 frame codec shared by the test client and the echo backend.
// Written apart from wsgate's own wslay-based code on purpose: the test pieces
// must check wsgate, not agree with it. The parser is purely structural (it
// never rejects anything) so callers decide what is a protocol violation and
// the client can observe whatever a peer puts on the wire.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wsgate::test {

enum Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

inline bool is_control(std::uint8_t opcode) { return (opcode & 0x8) != 0; }
inline bool is_known_opcode(std::uint8_t opcode) { return opcode <= kBinary || (opcode >= kClose && opcode <= kPong); }

using MaskKey = std::array<std::uint8_t, 4>;

struct FrameHeader {
  bool fin = true;
  std::uint8_t rsv = 0;  // the three RSV bits, RSV1 = 0x4
  std::uint8_t opcode = kText;
  bool masked = false;
  MaskKey mask{};
  std::uint64_t length = 0;  // as written on the wire, possibly >= 2^63
};

// How to write the length field. kShortest is what a correct peer sends; the
// others let tests send non-minimal encodings.
enum class LengthForm { kShortest, k7Bit, k16Bit, k64Bit };

// Encodes a frame header. `length` is written verbatim in the chosen form;
// the caller guarantees it fits (7-bit form: <= 125, 16-bit: <= 65535).
std::string encode_header(const FrameHeader& h, LengthForm form = LengthForm::kShortest);

// XORs `data` with `key`, starting at key offset `offset` (so a payload can be
// unmasked chunk by chunk).
void apply_mask(std::span<std::uint8_t> data, const MaskKey& key, std::uint64_t offset);

// A fresh masking key from the kernel CSPRNG (RFC 6455 10.3).
MaskKey random_mask();
// Fills `out` with CSPRNG bytes.
void random_bytes(std::span<std::uint8_t> out);

// Streaming decoder. Feed it bytes with next(); it yields one event at a time:
// kHeader once the header is complete, kPayload for each unmasked chunk of the
// payload (unmasked in place, in the caller's buffer), kEnd when the frame is
// complete. kNeedMore means the input was used up. kEnd consumes no input, so
// keep calling next() until kNeedMore even when the input is empty.
class FrameParser {
 public:
  enum class Kind { kNeedMore, kHeader, kPayload, kEnd };
  struct Event {
    Kind kind = Kind::kNeedMore;
    std::span<std::uint8_t> payload;  // kPayload only
  };

  // Consumes a prefix of `in`; `used` is how many bytes.
  Event next(std::span<std::uint8_t> in, std::size_t& used);

  // The header of the frame being decoded (valid from kHeader to kEnd).
  const FrameHeader& header() const { return header_; }
  // Payload bytes of the current frame not yet delivered.
  std::uint64_t remaining() const { return header_.length - offset_; }
  // True between frames (no partial header or payload buffered).
  bool at_frame_boundary() const { return state_ == State::kHeader && have_ == 0; }

 private:
  enum class State { kHeader, kPayload };
  std::size_t header_size() const;
  void decode_header();

  State state_ = State::kHeader;
  std::array<std::uint8_t, 14> buf_{};
  std::size_t have_ = 0;
  FrameHeader header_;
  std::uint64_t offset_ = 0;
};

// Close frame body helpers (RFC 6455 5.5.1).
std::string close_payload(std::uint16_t code, std::string_view reason);
struct CloseBody {
  std::uint16_t code = 1005;  // 1005 = "no status code was present"
  std::string reason;
};
// Returns nullopt for a one-byte body (malformed).
std::optional<CloseBody> parse_close_payload(std::string_view payload);

}  // namespace wsgate::test
