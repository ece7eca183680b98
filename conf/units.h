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

}  // namespace wsgate::conf
