#include "worker/ws/http_error.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace wsgate::worker {

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {

// Header names and values written here come from wsgate itself (config,
// constants); a CR or LF in one would let it inject headers, which is a bug in
// the caller, not a peer error: fail loudly in every build type.
void require_header_safe(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    std::fprintf(stderr, "wsgate: internal error: CR/LF in an HTTP error header: \"%.*s\"\n",
                 static_cast<int>(text.size()), text.data());
    std::abort();
  }
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  require_header_safe(name);
  require_header_safe(value);
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

std::string format_http_error(const HttpError& e) {
  const std::string body = e.why + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(e.status) + " " + reason_phrase(e.status) + "\r\n";
  append_header(out, "Content-Type", "text/plain");
  for (const auto& [name, value] : e.headers) append_header(out, name, value);
  append_header(out, "Connection", "close");
  append_header(out, "Content-Length", std::to_string(body.size()));
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace wsgate::worker
