// Where encoded frames go. The protocol code writes through this and never
// sees a socket: a connection's owner forwards to its output queue, a test to
// a buffer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::worker {

class ByteSink {
 public:
  virtual void append(const uint8_t* data, size_t n) = 0;

 protected:
  ~ByteSink() = default;
};

// A sink over anything with append(data, n), such as a connection. For
// objects that hold it next to their connection; per-session sides implement
// ByteSink themselves instead, which costs no extra pointer.
template <class Target>
class SinkTo final : public ByteSink {
 public:
  explicit SinkTo(Target& target) : target_(target) {}
  void append(const uint8_t* data, size_t n) override { target_.append(data, n); }

 private:
  Target& target_;
};

}  // namespace wsgate::worker
