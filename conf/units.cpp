#include "conf/units.h"

#include <array>
#include <charconv>
#include <limits>
#include <system_error>

namespace wsgate::conf {

namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// The suffixes are exact and case-sensitive: "16kb" or "16KB" (decimal or
// binary?) is a question we refuse to guess the answer to.
constexpr std::array<Unit, 4> kSizeUnits{{
    {"B", 1},
    {"KiB", KiB},
    {"MiB", MiB},
    {"GiB", GiB},
}};

constexpr std::array<Unit, 4> kDurationUnits{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
}};

struct Quantity {
  uint64_t number;
  std::string_view suffix;
};

// Splits "16KiB" into 16 and "KiB". Needs at least one leading digit; a sign,
// a space or a fraction leaves garbage in the suffix, which no unit matches.
std::optional<Quantity> split_quantity(std::string_view text) {
  uint64_t number = 0;
  const char* end = text.data() + text.size();
  const auto [rest, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc()) {
    return std::nullopt;  // no digits, or more than 64 bits of them
  }
  return Quantity{number, std::string_view(rest, static_cast<size_t>(end - rest))};
}

// number * unit factor, or nullopt if the unit is unknown or the product
// does not fit under `max`.
template <size_t N>
std::optional<uint64_t> scale(const Quantity& q, const std::array<Unit, N>& units, uint64_t max) {
  for (const Unit& unit : units) {
    if (unit.suffix == q.suffix) {
      if (q.number > max / unit.factor) {
        return std::nullopt;
      }
      return q.number * unit.factor;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
  const auto q = split_quantity(text);
  if (!q) {
    return std::nullopt;
  }
  if (q->suffix.empty()) {
    return q->number;  // a plain integer counts bytes
  }
  return scale(*q, kSizeUnits, std::numeric_limits<uint64_t>::max());
}

std::optional<Duration> parse_duration(std::string_view text) {
  const auto q = split_quantity(text);
  if (!q) {
    return std::nullopt;
  }
  // No default unit: "5" could mean seconds to one reader and ms to another.
  constexpr auto max_ms = static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max());
  const auto ms = scale(*q, kDurationUnits, max_ms);
  if (!ms) {
    return std::nullopt;
  }
  return Duration(static_cast<Duration::rep>(*ms));
}

std::optional<uint64_t> parse_rate(std::string_view text) {
  const auto q = split_quantity(text);
  if (!q || (!q->suffix.empty() && q->suffix != "/s")) {
    return std::nullopt;
  }
  return q->number;
}

}  // namespace wsgate::conf
