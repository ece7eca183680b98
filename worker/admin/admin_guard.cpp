#include "worker/admin/admin_guard.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "worker/log/escape.h"

namespace wsgate::worker {

namespace {

AdminResponse refuse(int status, const std::string& why) {
  AdminResponse r;
  r.status = status;
  r.body = why + "\n";
  return r;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_ip_literal(const std::string& host, bool ipv6) {
  unsigned char buf[16];
  return inet_pton(ipv6 ? AF_INET6 : AF_INET, host.c_str(), buf) == 1;
}

bool is_loopback(const conf::Endpoint& e) { return e.ipv6 ? e.host == "::1" : e.host.rfind("127.", 0) == 0; }
bool is_wildcard(const conf::Endpoint& e) { return e.ipv6 ? e.host == "::" : e.host == "0.0.0.0"; }

// "127.0.0.1:9100" -> {"127.0.0.1", "9100"}; "[::1]:9100" -> {"::1", "9100", v6}.
struct HostPort {
  std::string host, port;
  bool ipv6 = false;
};

std::optional<HostPort> split_host(std::string_view value) {
  HostPort hp;
  if (!value.empty() && value.front() == '[') {
    const size_t close = value.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    hp.host = std::string(value.substr(1, close - 1));
    hp.ipv6 = true;
    value.remove_prefix(close + 1);
    if (!value.empty() && value.front() != ':') {
      return std::nullopt;
    }
  } else {
    const size_t colon = value.find(':');
    hp.host = std::string(value.substr(0, colon));
    value.remove_prefix(colon == std::string_view::npos ? value.size() : colon);
  }
  if (!value.empty()) {
    hp.port = std::string(value.substr(1));
  }
  return hp;
}

bool host_names_admin(const std::string& value, const conf::Endpoint& admin) {
  const std::optional<HostPort> hp = split_host(value);
  if (!hp) {
    return false;
  }
  // No port means the scheme's default, 80.
  const std::string port = hp->port.empty() ? "80" : hp->port;
  if (port != std::to_string(admin.port)) {
    return false;
  }
  if (hp->ipv6 == admin.ipv6 && hp->host == admin.host) {
    return true;
  }
  if (!hp->ipv6 && iequals(hp->host, "localhost")) {
    return is_loopback(admin) || is_wildcard(admin);
  }
  // A rebinding attack needs a name; an address literal cannot be rebound.
  return is_wildcard(admin) && is_ip_literal(hp->host, hp->ipv6);
}

}  // namespace

bool is_control_path(const std::string& path) {
  return path == "/drain" || path == "/undrain" || path == "/rebalance" || path == "/rebalance/cancel";
}

std::optional<AdminResponse> guard_admin(const AdminRequest& req, const conf::Endpoint& admin) {
  if (req.host_count == 0) {
    return refuse(400, "a Host header is required");
  }
  if (req.host_count > 1) {
    return refuse(400, "more than one Host header");
  }
  if (!host_names_admin(req.host, admin)) {
    return refuse(421, "Host " + json_string(req.host) + " is not this admin endpoint (" + admin.to_string() + ")");
  }
  // GET and HEAD change nothing (control answers them 405).
  if (!is_control_path(req.path) || req.method == "GET" || req.method == "HEAD") {
    return std::nullopt;
  }
  if (req.has_origin) {
    return refuse(403, "control requests with an Origin header (from a browser) are refused");
  }
  if (req.admin_header != "1") {
    return refuse(403, "control requests need the header X-Wsgate-Admin: 1");
  }
  return std::nullopt;
}

}  // namespace wsgate::worker
