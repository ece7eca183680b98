// Incremental UTF-8 validation (RFC 3629), fed message chunks as they are
// relayed so a text message split over frames and reads is checked whole
// without being buffered.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::worker {

class Utf8Validator {
 public:
  // False as soon as the bytes so far cannot begin valid UTF-8.
  bool feed(const uint8_t* p, size_t n);
  // True when the bytes so far end on a character boundary.
  bool complete() const { return state_ == kAccept; }
  void reset() { state_ = kAccept; }

 private:
  static constexpr uint8_t kAccept = 0;
  static constexpr uint8_t kReject = 12;
  uint8_t state_ = kAccept;
};

}  // namespace wsgate::worker
