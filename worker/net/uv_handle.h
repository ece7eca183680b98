// RAII owner of one libuv handle. libuv owns a handle's memory from uv_*_init
// until its close callback, so the memory is freed there and nowhere else
// (libuv docs; h2o free_sock). The owner may be destroyed at any time: its
// destructor starts the close and clears `data`, so no callback of the
// closing handle can reach the dead owner.
#pragma once

#include <uv.h>

#include <memory>
#include <type_traits>

namespace wsgate::worker {

template <class T>
class UvHandle {
 public:
  UvHandle() : box_(std::make_unique<Box>()) {}
  ~UvHandle() { close(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  T* get() const { return live_ ? &live_->handle : &box_->handle; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(get()); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(get()); }

  // uv_*_init and the hand-over in one step, so no path can leave an
  // initialized handle unowned: `init(uv_timer_init, loop, this)`. On success
  // libuv owns the memory and the handle's `data` is `data`.
  template <class Init, class... Args>
  int init(Init init_fn, uv_loop_t* loop, void* data, Args... args) {
    const int r = init_fn(loop, get(), args...);
    if (r == 0) {
      initialized();
      get()->data = data;
    }
    return r;
  }

  // Call right after uv_*_init succeeded: from now on only the close callback frees it.
  void initialized() { live_ = box_.release(); }
  bool is_initialized() const { return live_ != nullptr; }

  void close() {
    if (live_ == nullptr) {
      return;
    }
    live_->handle.data = nullptr;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&live_->handle))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&live_->handle), &UvHandle::on_closed);
    }
    live_ = nullptr;
  }

 private:
  struct Box {
    T handle{};
  };
  static_assert(std::is_standard_layout_v<Box>, "the handle must be the box's first member");

  static void on_closed(uv_handle_t* h) { std::unique_ptr<Box> gone(reinterpret_cast<Box*>(h)); }

  std::unique_ptr<Box> box_;  // before init: ours to free
  Box* live_ = nullptr;       // after init: libuv's until on_closed
};

}  // namespace wsgate::worker
