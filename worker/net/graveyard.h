// Where a role puts an object that ends inside one of its own callbacks
// (a connection that closed, an upstream that failed): destroying it there
// would free the code still running. It is destroyed on the next loop turn
// instead, by an idle handle, never from a callback of its own.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <vector>

#include "worker/net/uv_handle.h"

namespace wsgate::worker {

class Graveyard {
 public:
  // Runs after each burial: a role that stops once its last connection is
  // gone looks here.
  using AfterBurial = std::function<void()>;

  Graveyard() = default;
  ~Graveyard() { close(); }
  Graveyard(const Graveyard&) = delete;
  Graveyard& operator=(const Graveyard&) = delete;

  // Sets up the idle handle on `loop`; the uv error code, 0 on success.
  int start(uv_loop_t* loop, AfterBurial after = {});

  // Destroyed on the next loop turn. Before start() or after close() it waits
  // for clear() (or the destructor): never destroyed here.
  template <class T>
  void bury(std::unique_ptr<T> dead) {
    if (!dead) {
      return;
    }
    dead_.emplace_back(dead.release(), [](void* p) { std::unique_ptr<T> gone(static_cast<T*>(p)); });
    if (idle_.is_initialized()) {
      uv_idle_start(idle_.get(), &Graveyard::on_idle);
    }
  }

  size_t size() const { return dead_.size(); }
  // Destroys what waits now; for callers outside every buried object's callbacks.
  void clear();
  // clear(), and closes the idle handle so the loop can end.
  void close();

 private:
  using Dead = std::unique_ptr<void, void (*)(void*)>;
  static void on_idle(uv_idle_t* h);

  std::vector<Dead> dead_;
  UvHandle<uv_idle_t> idle_;
  AfterBurial after_;
};

}  // namespace wsgate::worker
