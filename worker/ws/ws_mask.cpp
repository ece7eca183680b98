#include "worker/ws/ws_mask.h"

#include <cstring>

namespace wsgate::worker {

void mask_copy(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t key[4], uint64_t offset) {
  // The key turned to this offset, twice: one 64-bit word masks 8 bytes.
  uint8_t turned[8];
  for (size_t i = 0; i < 8; ++i) {
    turned[i] = key[(offset + i) % 4];
  }
  uint64_t word_key;
  std::memcpy(&word_key, turned, 8);
  size_t i = 0;
  // memcpy loads and stores: no alignment or aliasing assumptions, and the
  // compiler turns the loop into vector instructions.
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= word_key;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) {
    dst[i] = static_cast<uint8_t>(src[i] ^ turned[i % 8]);
  }
}

}  // namespace wsgate::worker
