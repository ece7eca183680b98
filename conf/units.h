// Sizes ("16KiB", "1MiB", "512B", "2GiB", plain integer = bytes) and
// durations ("500ms", "5s", "2m", plain integer is refused: a unit is required).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "conf/config.h"

namespace wsgate::conf {

std::optional<uint64_t> parse_size(std::string_view text);
std::optional<Duration> parse_duration(std::string_view text);
// Rates per second: "50/s", or a plain integer meaning the same. Used by
// limits.handshake_rate_per_ip and by `wsgate drain|rebalance --rate`.
std::optional<uint64_t> parse_rate(std::string_view text);

}  // namespace wsgate::conf
