// One pending uv_getaddrinfo, owned by an object that may be gone before the
// resolver answers (as PendingConnect for connects): the request is freed in
// its callback, and the owner cancels by cutting the back-pointer. The
// lookup runs on libuv's thread pool, never blocking the loop.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wsgate::worker {

class PendingResolve {
 public:
  using Addresses = std::vector<sockaddr_storage>;
  static constexpr size_t kMaxAddresses = 16;  // tried in turn; more are not worth waiting for

  PendingResolve() = default;
  ~PendingResolve() { cancel(); }
  PendingResolve(const PendingResolve&) = delete;
  PendingResolve& operator=(const PendingResolve&) = delete;

  // Resolves `host` (A and AAAA, in the resolver's order, duplicates
  // dropped, at most kMaxAddresses) with `port` filled in;
  // owner.on_resolved(status, addresses) runs once unless cancel() or the
  // destructor comes first. Nonzero: no callback will come.
  template <class Owner>
  int start(uv_loop_t* loop, const std::string& host, uint16_t port, Owner& owner) {
    return start(loop, host, port, &owner,
                 [](void* o, int status, Addresses a) { static_cast<Owner*>(o)->on_resolved(status, std::move(a)); });
  }
  void cancel();
  bool pending() const { return req_ != nullptr; }

 private:
  using Done = void (*)(void* owner, int status, Addresses addresses);
  struct Req;
  int start(uv_loop_t* loop, const std::string& host, uint16_t port, void* owner, Done done);
  static void on_resolved(uv_getaddrinfo_t* raw, int status, addrinfo* res);

  Req* req_ = nullptr;
};

}  // namespace wsgate::worker
