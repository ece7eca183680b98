#include "worker/log/escape.h"

namespace wsgate::worker {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no
// overlongs, no surrogates, nothing past U+10FFFF), or 0 when there is none.
size_t valid_sequence(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  size_t length = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    lo = b0 == 0xE0 ? 0xA0 : 0x80;
    hi = b0 == 0xED ? 0x9F : 0xBF;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    lo = b0 == 0xF0 ? 0x90 : 0x80;
    hi = b0 == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (s.size() < length) {
    return 0;
  }
  const auto b1 = static_cast<unsigned char>(s[1]);
  if (b1 < lo || b1 > hi) {
    return 0;
  }
  for (size_t i = 2; i < length; ++i) {
    if (!continuation(static_cast<unsigned char>(s[i]))) {
      return 0;
    }
  }
  return length;
}

void append_control(std::string& out, unsigned code, Quoting quoting) {
  if (quoting == Quoting::prometheus) {
    if (code == '\n') {
      out += "\\n";
      return;
    }
    out += '\\';  // the escape below then reads as text
  }
  switch (code) {
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    default: break;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u00";
  out += kHex[(code >> 4) & 0xf];
  out += kHex[code & 0xf];
}

}  // namespace

void append_escaped(std::string& out, std::string_view s, Quoting quoting) {
  size_t i = 0;
  while (i < s.size()) {
    const auto byte = static_cast<unsigned char>(s[i]);
    if (byte < 0x80) {
      if (byte < 0x20 || byte == 0x7f) {
        append_control(out, byte, quoting);
      } else if ((byte == '"' || byte == '\\') && quoting != Quoting::log) {
        out += '\\';
        out += static_cast<char>(byte);
      } else {
        out += static_cast<char>(byte);
      }
      ++i;
      continue;
    }
    const size_t n = valid_sequence(s.substr(i));
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else if (n == 2 && byte == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      append_control(out, static_cast<unsigned char>(s[i + 1]), quoting);  // C1: U+0080..U+009F
      i += n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
}

std::string escaped(std::string_view s, Quoting quoting) {
  std::string out;
  out.reserve(s.size());
  append_escaped(out, s, quoting);
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  append_escaped(out, s, Quoting::json);
  return out + "\"";
}

}  // namespace wsgate::worker
