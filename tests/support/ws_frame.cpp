#include "tests/support/ws_frame.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace wsgate::test {

namespace {

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_be(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

LengthForm shortest_form(std::uint64_t length) {
  if (length <= 125) return LengthForm::k7Bit;
  if (length <= 0xffff) return LengthForm::k16Bit;
  return LengthForm::k64Bit;
}

}  // namespace

std::string encode_header(const FrameHeader& h, LengthForm form) {
  if (form == LengthForm::kShortest) form = shortest_form(h.length);
  std::string out;
  out.push_back(static_cast<char>((h.fin ? 0x80 : 0) | ((h.rsv & 0x7) << 4) | (h.opcode & 0xf)));
  const std::uint8_t mask_bit = h.masked ? 0x80 : 0;
  switch (form) {
    case LengthForm::k7Bit: out.push_back(static_cast<char>(mask_bit | (h.length & 0x7f))); break;
    case LengthForm::k16Bit:
      out.push_back(static_cast<char>(mask_bit | 126));
      put_be(out, h.length, 2);
      break;
    default:
      out.push_back(static_cast<char>(mask_bit | 127));
      put_be(out, h.length, 8);
      break;
  }
  if (h.masked) out.append(reinterpret_cast<const char*>(h.mask.data()), h.mask.size());
  return out;
}

void apply_mask(std::span<std::uint8_t> data, const MaskKey& key, std::uint64_t offset) {
  for (std::size_t i = 0; i < data.size(); ++i) data[i] ^= key[(offset + i) & 3];
}

void random_bytes(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom() failed");
    }
    done += static_cast<std::size_t>(n);
  }
}

MaskKey random_mask() {
  MaskKey key{};
  random_bytes(key);
  return key;
}

std::size_t FrameParser::header_size() const {
  if (have_ < 2) return 2;
  const std::uint8_t len7 = buf_[1] & 0x7f;
  const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const std::size_t mask = (buf_[1] & 0x80) ? 4 : 0;
  return 2 + ext + mask;
}

void FrameParser::decode_header() {
  header_.fin = (buf_[0] & 0x80) != 0;
  header_.rsv = (buf_[0] >> 4) & 0x7;
  header_.opcode = buf_[0] & 0xf;
  header_.masked = (buf_[1] & 0x80) != 0;
  const std::uint8_t len7 = buf_[1] & 0x7f;
  std::size_t pos = 2;
  if (len7 == 126) {
    header_.length = get_be(&buf_[2], 2);
    pos += 2;
  } else if (len7 == 127) {
    header_.length = get_be(&buf_[2], 8);
    pos += 8;
  } else {
    header_.length = len7;
  }
  if (header_.masked) std::memcpy(header_.mask.data(), &buf_[pos], 4);
  offset_ = 0;
}

FrameParser::Event FrameParser::next(std::span<std::uint8_t> in, std::size_t& used) {
  used = 0;
  if (state_ == State::kHeader) {
    // The header size is only known after two bytes, so fill it in steps.
    while (have_ < header_size()) {
      if (used == in.size()) return {};
      buf_[have_++] = in[used++];
    }
    decode_header();
    have_ = 0;
    state_ = State::kPayload;
    return {Kind::kHeader, {}};
  }
  if (remaining() == 0) {
    state_ = State::kHeader;
    return {Kind::kEnd, {}};
  }
  if (in.empty()) return {};
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining(), in.size()));
  std::span<std::uint8_t> chunk = in.first(n);
  if (header_.masked) apply_mask(chunk, header_.mask, offset_);
  offset_ += n;
  used = n;
  return {Kind::kPayload, chunk};
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string out;
  put_be(out, code, 2);
  out.append(reason);
  return out;
}

std::optional<CloseBody> parse_close_payload(std::string_view payload) {
  if (payload.empty()) return CloseBody{};
  if (payload.size() == 1) return std::nullopt;
  const auto* p = reinterpret_cast<const std::uint8_t*>(payload.data());
  return CloseBody{static_cast<std::uint16_t>(get_be(p, 2)), std::string(payload.substr(2))};
}

}  // namespace wsgate::test
