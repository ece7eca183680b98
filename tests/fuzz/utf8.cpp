// UTF-8 validation (worker/ws/utf8.cpp, a DFA with an eight-byte ASCII fast
// path) against a plain reference written from RFC 3629's definition, fed in
// pieces cut at points drawn from the input: after every piece, the
// validator must refuse exactly when the bytes so far cannot begin valid
// UTF-8, and at the end call them complete exactly when they are.
#include <algorithm>
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"
#include "worker/ws/utf8.h"

using namespace wsgate;

namespace {

enum class Ref { invalid, complete, partial };

// Code points by arithmetic: a lead byte gives the length and the top bits,
// continuation bytes 10xxxxxx the rest; valid is U+0000..U+10FFFF in the
// shortest form, surrogates excluded. A cut-off last character is `partial`
// when some continuation would make it valid.
bool some_valid_in(uint32_t lo, uint32_t hi, uint32_t min) {
  auto meets = [&](uint32_t a, uint32_t b) { return lo <= b && hi >= a; };
  return meets(min, 0xD7FF) || meets(std::max<uint32_t>(min, 0xE000), 0x10FFFF);
}

Ref reference(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return Ref::invalid;  // a continuation byte, or 0xF8..0xFF
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    size_t k = 1;
    for (; k < len && i + k < n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        return Ref::invalid;
      }
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    const uint32_t missing_bits = static_cast<uint32_t>(6 * (len - k));
    const uint32_t lo = cp << missing_bits;
    const uint32_t hi = lo | ((uint32_t{1} << missing_bits) - 1);
    if (!some_valid_in(lo, hi, min)) {
      return Ref::invalid;
    }
    if (k < len) {
      return Ref::partial;
    }
    i += len;
  }
  return Ref::complete;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  worker::Utf8Validator v;
  fuzz::Splitter cuts(data, size);
  size_t done = 0;
  while (done < size) {
    const size_t n = cuts.next(size - done);
    const bool ok = v.feed(data + done, n);
    done += n;
    const Ref ref = reference(data, done);
    FUZZ_CHECK(ok == (ref != Ref::invalid));
    if (!ok) {
      return 0;
    }
    FUZZ_CHECK(v.complete() == (ref == Ref::complete));
  }
  FUZZ_CHECK(v.complete() == (reference(data, size) == Ref::complete));
  return 0;
}
