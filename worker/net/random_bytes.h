// Masking keys and WebSocket keys come from the kernel's CSPRNG (RFC 6455
// section 10.3), drawn in blocks so a mask costs a memcpy, not a system call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::worker {

void fill_random(uint8_t* out, size_t len);

}  // namespace wsgate::worker
