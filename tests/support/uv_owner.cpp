#include "tests/support/uv_owner.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace wsgate::test {

UvLoop::UvLoop() {
  const int rc = uv_loop_init(&loop_);
  if (rc < 0) throw std::runtime_error("uv_loop_init() failed: " + uv_error_text(rc));
}

UvLoop::~UvLoop() {
  // Only close callbacks should be left; anything still active is a leak in
  // this program, so say so loudly rather than block here forever.
  uv_run(&loop_, UV_RUN_NOWAIT);
  const int rc = uv_loop_close(&loop_);
  if (rc < 0) {
    std::fprintf(stderr, "uv_loop_close() failed (%s): a handle was left open\n", uv_error_text(rc).c_str());
    std::abort();
  }
}

std::string uv_error_text(int status) { return std::to_string(-status) + ": " + uv_strerror(status); }

}  // namespace wsgate::test
