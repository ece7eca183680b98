#include "worker/admin/admin_control.h"

#include <map>
#include <string>
#include <string_view>

#include "conf/units.h"
#include "shm/backend_control.h"
#include "worker/admin/admin_guard.h"
#include "worker/log/escape.h"
#include "worker/report/status_names.h"

namespace wsgate::worker {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%2F" and "+" decoded; a malformed escape is kept as written (the lookup
// that follows then names it as unknown).
std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// A repeated name sets *repeated (the first one): which of two values a
// request meant is a guess no control operation should make.
std::map<std::string, std::string> query_of(const std::string& target, std::string* repeated) {
  std::map<std::string, std::string> params;
  const size_t q = target.find('?');
  if (q == std::string::npos) {
    return params;
  }
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    std::string name = url_decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    if (!params.emplace(name, std::move(value)).second && repeated->empty()) {
      *repeated = std::move(name);
    }
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return params;
}

AdminResponse json(int status, const std::string& body) {
  AdminResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body + "\n";
  return r;
}

AdminResponse error(int status, const std::string& why) { return json(status, "{\"error\":" + json_string(why) + "}"); }

// `rate` absent: the default; present: N or N/s within the CLI's range.
std::optional<uint32_t> rate_of(const std::map<std::string, std::string>& params, std::string& why) {
  auto it = params.find("rate");
  if (it == params.end()) {
    return shm::kDefaultMoveRate;
  }
  const auto rate = conf::parse_rate(it->second);
  if (!rate || *rate == 0 || *rate > shm::kMaxMoveRate) {
    why = "rate must be 1 to " + std::to_string(shm::kMaxMoveRate) + " per second, got \"" + it->second + "\"";
    return std::nullopt;
  }
  return static_cast<uint32_t>(*rate);
}

std::string backend_label(const shm::Table& t, uint32_t b) {
  return std::string(t.backends[b].pool) + "/" + t.backends[b].address;
}

AdminResponse drain(const std::map<std::string, std::string>& params, shm::Table& t, bool start) {
  auto it = params.find("backend");
  if (it == params.end() || it->second.empty()) {
    return error(400, "backend=POOL/HOST:PORT is required");
  }
  std::string why;
  const auto b = shm::find_backend(t, it->second, why);
  if (!b) {
    return error(404, why);
  }
  if (!start) {
    if (!shm::cancel_drain(t, *b, why)) {
      return error(409, why);
    }
    return json(200, "{\"ok\":true,\"backend\":" + json_string(backend_label(t, *b)) + ",\"state\":\"up\"}");
  }
  const auto rate = rate_of(params, why);
  if (!rate) {
    return error(400, why);
  }
  if (!shm::start_drain(t, *b, *rate, why)) {
    return error(409, why);
  }
  return json(200, "{\"ok\":true,\"backend\":" + json_string(backend_label(t, *b)) +
                       ",\"state\":\"draining\",\"rate\":" + std::to_string(*rate) +
                       ",\"sessions\":" + std::to_string(shm::drain_progress(t, *b).sessions_left) + "}");
}

AdminResponse rebalance(const std::map<std::string, std::string>& params, shm::Table& t, bool start) {
  std::string why;
  if (!start) {
    if (!shm::cancel_rebalance(t, why)) {
      return error(409, why);
    }
    return json(200, "{\"ok\":true,\"rebalance\":\"cancelled\"}");
  }
  const auto rate = rate_of(params, why);
  if (!rate) {
    return error(400, why);
  }
  if (!shm::start_rebalance(t, *rate, why)) {
    return error(409, why);
  }
  const shm::RebalanceProgress p = shm::rebalance_progress(t);
  return json(200, "{\"ok\":true,\"rebalance\":\"" + std::string(shm::rebalance_state_name(p.state)) +
                       "\",\"rate\":" + std::to_string(*rate) + ",\"planned\":" + std::to_string(p.planned) + "}");
}

}  // namespace

std::optional<AdminResponse> control_admin(const AdminRequest& req, shm::Table& table) {
  const std::string& p = req.path;
  if (!is_control_path(p)) {
    return std::nullopt;
  }
  if (req.method != "POST") {
    AdminResponse r = error(405, "use POST");
    r.allow = "POST";
    return r;
  }
  std::string repeated;
  const auto params = query_of(req.target, &repeated);
  if (!repeated.empty()) {
    return error(400, "parameter " + repeated + " given more than once");
  }
  if (p == "/drain" || p == "/undrain") {
    return drain(params, table, p == "/drain");
  }
  return rebalance(params, table, p == "/rebalance");
}

}  // namespace wsgate::worker
