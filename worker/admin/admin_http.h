// HTTP/1.1 for the admin endpoint: reads one request at a time from the
// bytes a connection received (Boost.Beast's parser, bounded in size) and
// formats answers. No sockets here: worker/admin/admin_server.cpp feeds it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace wsgate::worker {

struct AdminRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string target;  // as sent: "/metrics?x=1"
  std::string path;    // target up to '?'
  bool keep_alive = true;
  // What worker/admin/admin_guard.h judges a request by.
  std::string host;         // the Host header; empty when absent
  size_t host_count = 0;    // Host headers sent (one is required)
  bool has_origin = false;  // any Origin header: a browser sent it
  std::string admin_header;  // X-Wsgate-Admin, the header control needs
};

class AdminRequestReader {
 public:
  enum class Status { need_more, done, error };

  // `max_request`: the header block; a larger one is an error (431).
  // `max_body`: no path takes a body; a larger one is an error (413).
  explicit AdminRequestReader(size_t max_request, size_t max_body = 1024);
  ~AdminRequestReader();
  AdminRequestReader(const AdminRequestReader&) = delete;
  AdminRequestReader& operator=(const AdminRequestReader&) = delete;

  // Reads the request at the start of `buffered` (everything received and not
  // yet consumed by earlier requests). On done, request() and consumed() are
  // valid; on error, error_status() (400, 413, 431) and error_text().
  Status parse(std::string_view buffered);
  const AdminRequest& request() const { return request_; }
  size_t consumed() const { return consumed_; }
  int error_status() const { return error_status_; }
  const std::string& error_text() const { return error_text_; }
  // Ready for the next request on the same connection.
  void reset();

 private:
  struct Impl;
  size_t max_request_;
  size_t max_body_;
  std::unique_ptr<Impl> impl_;
  AdminRequest request_;
  size_t consumed_ = 0;
  int error_status_ = 0;
  std::string error_text_;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  // the Allow header of a 405
};

// The whole answer: status line, headers (Content-Length, Connection,
// Cache-Control: no-store) and, unless `head_only`, the body.
std::string format_admin_response(const AdminResponse& r, bool keep_alive, bool head_only);

}  // namespace wsgate::worker
