// Exit codes every role process returns to its master.
#pragma once

namespace wsgate::worker {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFatal = 2;  // a fatal setup error: respawning would fail the same way

}  // namespace wsgate::worker
