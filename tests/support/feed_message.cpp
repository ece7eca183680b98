#include "tests/support/feed_message.h"

#include <time.h>

#include <charconv>

namespace wsgate::test {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at in[i] (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view in, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  const unsigned char c = byte(i);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > in.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  return n;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// A cursor over the message that fails softly: every step returns false on
// a mismatch and the parser gives up.
struct Reader {
  std::string_view s;
  std::size_t pos = 0;

  bool literal(std::string_view lit) {
    if (s.substr(pos, lit.size()) != lit) return false;
    pos += lit.size();
    return true;
  }

  bool number(std::uint64_t& out) {
    const char* begin = s.data() + pos;
    const char* end = s.data() + s.size();
    if (begin == end || (*begin == '0' && end - begin > 1 && begin[1] >= '0' && begin[1] <= '9'))
      return false;  // JSON has no leading zeros
    const auto [p, ec] = std::from_chars(begin, end, out);
    if (ec != std::errc()) return false;
    pos += static_cast<std::size_t>(p - begin);
    return true;
  }

  bool hex4(std::uint32_t& out) {
    if (pos + 4 > s.size()) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s[pos++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') out |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  }

  bool escape(std::string& out) {
    if (pos >= s.size()) return false;
    const char c = s[pos++];
    switch (c) {
      case '"':
      case '\\':
      case '/': out.push_back(c); return true;
      case 'b': out.push_back('\b'); return true;
      case 'f': out.push_back('\f'); return true;
      case 'n': out.push_back('\n'); return true;
      case 'r': out.push_back('\r'); return true;
      case 't': out.push_back('\t'); return true;
      case 'u': break;
      default: return false;
    }
    std::uint32_t cp = 0;
    if (!hex4(cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) return false;  // lone low surrogate
    if (cp >= 0xd800 && cp <= 0xdbff) {
      std::uint32_t low = 0;
      if (!literal("\\u") || !hex4(low) || low < 0xdc00 || low > 0xdfff) return false;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    append_utf8(out, cp);
    return true;
  }

  // The body of a string literal whose opening quote was already read; reads
  // the closing quote too.
  bool string_body(std::string& out) {
    while (pos < s.size()) {
      const char c = s[pos++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out.push_back(c);
      } else if (!escape(out)) {
        return false;
      }
    }
    return false;
  }
};

}  // namespace

void append_json_escaped(std::string& out, std::string_view in) {
  for (std::size_t i = 0; i < in.size();) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
      }
      ++i;
    } else if (const std::size_t n = utf8_sequence(in, i); n > 0) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
      ++i;
    }
  }
}

std::string json_escape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  append_json_escaped(out, in);
  return out;
}

FeedFormatter::FeedFormatter(std::string_view path, std::string_view src, std::size_t size) : size_(size) {
  head_ = ",\"path\":\"";
  append_json_escaped(head_, path);
  head_ += "\",\"src\":\"";
  append_json_escaped(head_, src);
  head_ += "\",\"pad\":\"";
  buf_.reserve(size + 64);
}

std::string_view FeedFormatter::format(std::uint64_t seq, std::uint64_t t) {
  char num[24];
  buf_.assign("{\"seq\":");
  buf_.append(num, std::to_chars(num, num + sizeof num, seq).ptr);
  buf_ += ",\"t\":";
  buf_.append(num, std::to_chars(num, num + sizeof num, t).ptr);
  buf_ += head_;
  constexpr std::size_t kTail = 2;  // "}
  if (buf_.size() + kTail < size_) buf_.append(size_ - buf_.size() - kTail, 'x');
  buf_ += "\"}";
  return buf_;
}

std::string format_feed_message(const FeedMessage& m, std::size_t size) {
  FeedFormatter f(m.path, m.src, size);
  return std::string(f.format(m.seq, m.t));
}

std::optional<FeedMessage> parse_feed_message(std::string_view text) {
  Reader r{text};
  FeedMessage m;
  if (!r.literal("{\"seq\":") || !r.number(m.seq) || !r.literal(",\"t\":") || !r.number(m.t) ||
      !r.literal(",\"path\":\"") || !r.string_body(m.path) || !r.literal(",\"src\":\"") || !r.string_body(m.src) ||
      !r.literal(",\"pad\":\""))
    return std::nullopt;
  while (r.pos < text.size() && text[r.pos] == 'x') ++r.pos;
  if (!r.literal("\"}") || r.pos != text.size()) return std::nullopt;
  return m;
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace wsgate::test
