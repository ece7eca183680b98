#include "tests/support/backend_commands.h"

#include <charconv>

namespace wsgate::test {

namespace {

Command make(Command::Kind kind) {
  Command c;
  c.kind = kind;
  return c;
}

template <class Int>
std::optional<Int> parse_uint(std::string_view s) {
  Int v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<Command> parse_close(std::string_view args) {
  const std::size_t colon = args.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Command c = make(Command::Kind::kClose);
  const std::string_view code = args.substr(0, colon);
  c.text = std::string(args.substr(colon + 1));
  if (code.empty()) {
    if (!c.text.empty()) return std::nullopt;  // a reason needs a code
    return c;
  }
  c.close_code = parse_uint<std::uint16_t>(code);
  if (!c.close_code) return std::nullopt;
  return c;
}

std::optional<Command> parse_flood(std::string_view args) {
  const std::size_t colon = args.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto n = parse_uint<std::uint64_t>(args.substr(0, colon));
  const auto size = parse_uint<std::uint64_t>(args.substr(colon + 1));
  if (!n || !size) return std::nullopt;
  Command c = make(Command::Kind::kFlood);
  c.count = *n;
  c.size = *size;
  return c;
}

}  // namespace

std::optional<Command> parse_command(std::string_view m) {
  using K = Command::Kind;
  if (m == "whoami") return make(K::kWhoami);
  if (m == "headers") return make(K::kHeaders);
  if (m == "drop") return make(K::kDrop);
  if (m == "send-masked") return make(K::kSendMasked);
  if (m == "stats") return make(K::kStats);
  if (m == "pongs") return make(K::kPongs);
  if (m.starts_with("close:")) return parse_close(m.substr(6));
  if (m.starts_with("flood:")) return parse_flood(m.substr(6));
  if (m.starts_with("ping:") && m.size() - 5 <= 125) {
    Command c = make(K::kPing);
    c.text = std::string(m.substr(5));
    return c;
  }
  return std::nullopt;
}

}  // namespace wsgate::test
