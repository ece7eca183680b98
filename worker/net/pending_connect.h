// One pending uv_tcp_connect, owned by an object that may be gone before
// libuv answers. libuv owns the request until its callback runs (with
// UV_ECANCELED once the handle closes), so the request is freed there; the
// owner cancels by cutting the back-pointer, and the callback then reaches no
// one. Every dial (sessions, health checks, stream sources) goes through this.
#pragma once

#include <uv.h>

#include <memory>

namespace wsgate::worker {

class PendingConnect {
 public:
  PendingConnect() = default;
  ~PendingConnect() { cancel(); }
  PendingConnect(const PendingConnect&) = delete;
  PendingConnect& operator=(const PendingConnect&) = delete;

  // Connects `tcp` to `address`; owner.on_connect_done(status) runs once,
  // unless cancel() or the destructor comes first. Returns uv_tcp_connect's
  // result: nonzero means no callback will come.
  template <class Owner>
  int start(uv_tcp_t* tcp, const sockaddr* address, Owner& owner) {
    return start(tcp, address, &owner, [](void* o, int status) { static_cast<Owner*>(o)->on_connect_done(status); });
  }
  void cancel() {
    if (req_ != nullptr) {
      req_->self = nullptr;
      req_ = nullptr;
    }
  }
  bool pending() const { return req_ != nullptr; }

 private:
  using Done = void (*)(void* owner, int status);
  struct Req {
    uv_connect_t req{};
    PendingConnect* self = nullptr;
    void* owner = nullptr;
    Done done = nullptr;
  };

  int start(uv_tcp_t* tcp, const sockaddr* address, void* owner, Done done) {
    cancel();
    auto req = std::make_unique<Req>();
    req->self = this;
    req->owner = owner;
    req->done = done;
    const int r = uv_tcp_connect(&req->req, tcp, address, &PendingConnect::on_connect);
    if (r == 0) {
      req_ = req.release();  // libuv's until on_connect
    }
    return r;
  }
  static void on_connect(uv_connect_t* raw, int status) {
    std::unique_ptr<Req> req(reinterpret_cast<Req*>(raw));
    if (req->self != nullptr) {
      req->self->req_ = nullptr;
      req->done(req->owner, status);
    }
  }

  Req* req_ = nullptr;
};

}  // namespace wsgate::worker
