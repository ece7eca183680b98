// An HTTP answer wsgate gives itself (4xx/5xx) instead of upgrading.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace wsgate::worker {

struct HttpError {
  int status = 400;
  std::string why;                                           // for the log line and the short text/plain body
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Retry-After
};

// "HTTP/1.1 426 Upgrade Required\r\n...Connection: close\r\nContent-Length: N\r\n\r\n<why>\n"
// Always carries Connection: close: wsgate never keeps a failed handshake's
// connection for another request.
std::string format_http_error(const HttpError& e);

// The standard reason phrase ("Bad Request"); "Unknown" for codes it does not know.
const char* reason_phrase(int status);

}  // namespace wsgate::worker
