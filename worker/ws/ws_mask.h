// RFC 6455 masking (section 5.3) of payload bytes, eight bytes at a time.
// wslay masks and unmasks one byte per loop step (and, on input, stores its
// state after every byte): on 16 KiB and 1 MiB messages those loops were 44%
// of a worker's CPU in a perf profile, so large frames' payload is masked here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::worker {

// dst[i] = src[i] ^ key[(offset + i) % 4] for i < n; `offset` is the position
// of src[0] in its frame's payload. dst may equal src (in place).
void mask_copy(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t key[4], uint64_t offset);

}  // namespace wsgate::worker
