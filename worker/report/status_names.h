// The words `wsgate status`, /status and /metrics use for what the shared
// table holds, in one place so the three always agree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shm/backend_table.h"
#include "shm/stream_layout.h"

namespace wsgate::worker {

// "draining" or "removed" is an operator's (or a reload's) decision and
// wins; otherwise a backend is "down" when the prober (or `fall` passive
// failures) took it down or it is inside a passive fail_timeout window.
const char* backend_state_name(const shm::BackendTable& t, uint32_t backend, int64_t now_ms);
// The checked state alone: "up" or "down".
const char* backend_health_name(const shm::BackendTable& t, uint32_t backend);
const char* slot_role_name(uint32_t role);
const char* upstream_state_name(uint32_t state);
bool channel_active(const shm::ChannelEntry& e);

// Milliseconds with one decimal ("0.4"), or `none` when nothing was measured.
std::string format_rtt_ms(int64_t rtt_us, const char* none);

}  // namespace wsgate::worker
