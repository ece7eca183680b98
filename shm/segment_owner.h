// Who owns a named segment that already exists: shared by every segment kind,
// so a stale one (its master died) is replaced and a live one refused alike.
#pragma once

#include <cstdint>
#include <string>

namespace wsgate::shm {

// True when `pid` is a live process named wsgate. The name check keeps a
// recycled pid from making a stale segment look owned.
bool is_live_wsgate(int pid);

// The master pid stamped in an existing segment's Prefix; 0 when the segment
// is too short or its magic is not `magic`.
int existing_owner(const std::string& name, uint64_t magic);

// Why an existing object under `name` is not ours to trust, or "" when it
// is: its file in /dev/shm must be a regular file owned by this process's
// effective uid. Anyone may create a name there first (it is a hash of the
// config path), and what a stranger wrote, master pid included, is not read.
// "owned by uid 65534 (nobody)" and the like.
std::string foreign_owner(const std::string& name);

}  // namespace wsgate::shm
