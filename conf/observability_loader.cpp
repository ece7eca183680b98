// `admin:` and `log:`: where the admin endpoint listens and where the logs go.
#include <filesystem>

#include "conf/loader_fields.h"

namespace wsgate::conf::detail {

namespace {

// Relative to the directory of the config file, as keys files are.
std::string read_log_path(const Field& f) {
  std::string path = read_scalar(f, "a file path like /var/log/wsgate/access.log");
  if (path.empty() || has_space_or_control(path) || path.back() == '/') {
    f.fail("expected a file path like /var/log/wsgate/access.log, got " + quote(path));
  }
  const std::filesystem::path dir = std::filesystem::path(f.file).parent_path();
  if (std::filesystem::path(path).is_absolute() || dir.empty()) {
    return path;
  }
  return (dir / path).string();
}

LogFormat read_log_format(const Field& f) {
  const std::string text = read_scalar(f, "text or json");
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json;
  f.fail("expected text or json, got " + quote(text));
}

}  // namespace

// Any address is accepted: the endpoint has no authentication, and the
// reference says to keep it on loopback, but a private management network
// is the operator's call.
Endpoint parse_admin(const Field& f) { return read_endpoint(f); }

Logs parse_logs(const Field& f) {
  Logs logs;
  if (f.node.IsNull()) {
    return logs;  // "log:" with every key commented out
  }
  const Section s(f, {"access", "format", "error"});
  if (auto v = s.find("access")) logs.access = read_log_path(*v);
  if (auto v = s.find("format")) logs.format = read_log_format(*v);
  if (auto v = s.find("error")) logs.error = read_log_path(*v);
  if (!logs.access.empty() && logs.access == logs.error) {
    s.require("error").fail("the error log cannot be the access log's file");
  }
  return logs;
}

}  // namespace wsgate::conf::detail
