#include "worker/net/pending_resolve.h"

#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace wsgate::worker {

struct PendingResolve::Req {
  uv_getaddrinfo_t req{};
  PendingResolve* self = nullptr;
  void* owner = nullptr;
  Done done = nullptr;
};

int PendingResolve::start(uv_loop_t* loop, const std::string& host, uint16_t port, void* owner, Done done) {
  cancel();
  auto req = std::make_unique<Req>();
  req->self = this;
  req->owner = owner;
  req->done = done;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  const std::string service = std::to_string(port);
  const int r = uv_getaddrinfo(loop, &req->req, &PendingResolve::on_resolved, host.c_str(), service.c_str(), &hints);
  if (r == 0) {
    req_ = req.release();  // libuv's until on_resolved
  }
  return r;
}

void PendingResolve::cancel() {
  if (req_ != nullptr) {
    req_->self = nullptr;
    (void)uv_cancel(reinterpret_cast<uv_req_t*>(&req_->req));  // a lookup already running finishes; nobody hears it
    req_ = nullptr;
  }
}

void PendingResolve::on_resolved(uv_getaddrinfo_t* raw, int status, addrinfo* res) {
  std::unique_ptr<Req> req(reinterpret_cast<Req*>(raw));
  Addresses addresses;
  for (const addrinfo* a = res; a != nullptr && addresses.size() < kMaxAddresses; a = a->ai_next) {
    if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addrlen > sizeof(sockaddr_storage)) {
      continue;
    }
    sockaddr_storage ss{};
    std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
    const bool seen = std::any_of(addresses.begin(), addresses.end(),
                                  [&](const sockaddr_storage& o) { return std::memcmp(&o, &ss, sizeof ss) == 0; });
    if (!seen) {
      addresses.push_back(ss);
    }
  }
  uv_freeaddrinfo(res);
  if (req->self != nullptr) {
    req->self->req_ = nullptr;
    if (status == 0 && addresses.empty()) {
      status = UV_EAI_NODATA;
    }
    req->done(req->owner, status, std::move(addresses));
  }
}

}  // namespace wsgate::worker
