#include "worker/admin/admin_http.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <limits>

#include "worker/ws/http_error.h"

namespace wsgate::worker {

namespace http = boost::beast::http;

struct AdminRequestReader::Impl {
  http::request_parser<http::string_body> parser;
  size_t fed = 0;  // bytes of the request Beast has taken
};

AdminRequestReader::AdminRequestReader(size_t max_request, size_t max_body)
    : max_request_(max_request), max_body_(max_body) {
  reset();
}
AdminRequestReader::~AdminRequestReader() = default;

void AdminRequestReader::reset() {
  impl_ = std::make_unique<Impl>();
  const auto limit = static_cast<std::uint32_t>(std::min<size_t>(max_request_, std::numeric_limits<uint32_t>::max()));
  impl_->parser.header_limit(limit);
  impl_->parser.body_limit(max_body_);
  // Stop at the end of this request: pipelined ones stay for the next parse.
  impl_->parser.eager(false);
  request_ = AdminRequest{};
  consumed_ = 0;
  error_status_ = 0;
  error_text_.clear();
}

AdminRequestReader::Status AdminRequestReader::parse(std::string_view buffered) {
  Impl& p = *impl_;
  while (!p.parser.is_done() && p.fed < buffered.size()) {
    boost::system::error_code ec;
    const size_t n = p.parser.put(boost::asio::buffer(buffered.data() + p.fed, buffered.size() - p.fed), ec);
    p.fed += n;
    if (ec == http::error::need_more) {
      break;
    }
    if (ec == http::error::header_limit) {
      error_status_ = 431;
      error_text_ = "request over " + std::to_string(max_request_) + " bytes";
      return Status::error;
    }
    if (ec == http::error::body_limit) {
      error_status_ = 413;
      error_text_ = "request body over " + std::to_string(max_body_) + " bytes";
      return Status::error;
    }
    if (ec) {
      error_status_ = 400;
      error_text_ = "malformed HTTP request: " + ec.message();
      return Status::error;
    }
    if (n == 0) {
      break;
    }
  }
  if (!p.parser.is_done()) {
    if (buffered.size() > max_request_ + max_body_) {
      error_status_ = 431;
      error_text_ = "request over " + std::to_string(max_request_) + " bytes";
      return Status::error;
    }
    return Status::need_more;
  }
  const auto& msg = p.parser.get();
  request_.method = std::string(msg.method_string());
  request_.target = std::string(msg.target());
  request_.path = request_.target.substr(0, request_.target.find('?'));
  request_.keep_alive = msg.keep_alive();
  request_.host_count = msg.count(http::field::host);
  if (const auto host = msg.find(http::field::host); host != msg.end()) {
    request_.host = std::string(host->value());
  }
  request_.has_origin = msg.count(http::field::origin) > 0;
  if (const auto admin = msg.find("X-Wsgate-Admin"); admin != msg.end()) {
    request_.admin_header = std::string(admin->value());
  }
  consumed_ = p.fed;
  return Status::done;
}

std::string format_admin_response(const AdminResponse& r, bool keep_alive, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
  out.append("Content-Type: ").append(r.content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  out.append("Cache-Control: no-store\r\n");
  if (!r.allow.empty()) {
    out.append("Allow: ").append(r.allow).append("\r\n");
  }
  out.append(keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  out += "\r\n";
  if (!head_only) {
    out += r.body;
  }
  return out;
}

}  // namespace wsgate::worker
