// RAII owners for libuv objects used by the echo backend.
//
// A uv handle's memory may only be freed in its close callback (libuv docs),
// so UvHandle keeps the handle on the heap, apart from its owner: closing hands
// the allocation to libuv, and the close callback frees it. close() also clears
// handle->data, so callbacks that libuv still delivers after the owner is gone
// (a write request cancelled by uv_close) see nullptr instead of a dangling
// owner.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

namespace wsgate::test {

template <class T>
class UvHandle {
 public:
  UvHandle() = default;
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { close(); }

  // Allocates the handle and runs `init` on it (uv_tcp_init, uv_timer_init...).
  // On failure nothing is kept: libuv does not register a handle whose init
  // failed, so plain freeing is right there.
  template <class Init>
  int init(Init&& init_fn, void* owner) {
    auto handle = std::make_unique<T>();
    const int rc = init_fn(handle.get());
    if (rc < 0) return rc;
    handle->data = owner;
    close();
    handle_ = std::move(handle);
    return 0;
  }

  T* get() const { return handle_.get(); }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(handle_.get()); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(handle_.get()); }
  explicit operator bool() const { return handle_ != nullptr; }

  // Idempotent. Ownership of the memory passes to libuv until the close callback.
  void close() {
    if (!handle_) return;
    handle_->data = nullptr;
    uv_close(base(), &free_on_close);
    (void)handle_.release();  // freed by free_on_close
  }

 private:
  static void free_on_close(uv_handle_t* h) { std::unique_ptr<T> owned(reinterpret_cast<T*>(h)); }

  std::unique_ptr<T> handle_;
};

// Owns a uv_loop_t. Its owner must be declared before (destroyed after) every
// UvHandle on the loop: the destructor runs the loop once more so the close
// callbacks of handles closed by their owners' destructors free their memory.
class UvLoop {
 public:
  UvLoop();
  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;
  ~UvLoop();
  uv_loop_t* get() { return &loop_; }

 private:
  uv_loop_t loop_{};
};

// "what (errno: text)" for log lines.
std::string uv_error_text(int status);

}  // namespace wsgate::test
