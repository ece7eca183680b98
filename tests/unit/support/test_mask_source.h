// Masking keys for unit tests of the frame codec and what stands on it: any
// bytes do there (a worker passes its CSPRNG), and these are repeatable.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::worker::test_support {

inline void test_mask_source(uint8_t* out, size_t len) {
  static uint32_t x = 0x9e3779b9u;  // xorshift32
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<uint8_t>(x);
  }
}

}  // namespace wsgate::worker::test_support
