// The `listen:` section: a plain "host:port" is a ws listener; a map with
// `address` and `tls` is a wss listener. Only the settings are read here; the
// certificate and key files are read and checked by the master
// (worker/net/tls_material.h), which has OpenSSL to tell a key from garbage.
#include <algorithm>

#include "conf/loader_fields.h"

namespace wsgate::conf::detail {

namespace {

constexpr size_t kMaxCertificates = 64;  // SNI names per listener
constexpr size_t kMaxCipherList = 1024;

std::string read_path(const Field& f, const std::string& example) {
  std::string path = read_scalar(f, "a path like " + example);
  if (path.empty() || path.find('\0') != std::string::npos) {
    f.fail("expected a path like " + example + ", got " + quote(path));
  }
  return resolve_path(f.file, path);
}

TlsCertificate read_certificate(const Field& f) {
  if (!f.node.IsMap()) {
    f.fail("expected { cert: site.pem, key: site.key }, got " + describe(f.node));
  }
  const Section s(f, {"cert", "key"});
  TlsCertificate c;
  c.cert = read_path(s.require("cert"), "site.pem");
  c.key = read_path(s.require("key"), "site.key");
  c.line = f.line;
  return c;
}

std::string read_cipher_list(const Field& f) {
  std::string v = read_scalar(f, "an OpenSSL cipher list");
  if (v.empty() || v.size() > kMaxCipherList || has_space_or_control(v)) {
    f.fail("expected an OpenSSL cipher list without spaces (at most " + std::to_string(kMaxCipherList) +
           " characters), got " + quote(v));
  }
  return v;
}

VerifyClient read_verify(const Field& f) {
  const std::string v = read_scalar(f, "off, optional or required");
  if (v == "off") return VerifyClient::off;
  if (v == "optional") return VerifyClient::optional;
  if (v == "required") return VerifyClient::required;
  f.fail("expected off, optional or required, got " + quote(v));
}

ListenTls read_tls(const Field& f) {
  if (!f.node.IsMap()) {
    f.fail("expected a map with certificates, got " + describe(f.node));
  }
  const Section s(f, {"certificates", "protocols", "ciphers", "ciphersuites", "session_tickets", "ticket_rotation",
                      "strict_sni", "client_ca", "verify_client"});
  ListenTls tls;
  tls.line = f.line;
  const Field certs = s.require("certificates");
  for (const Field& item : list_items(certs, "a list of { cert: site.pem, key: site.key }")) {
    if (tls.certificates.size() == kMaxCertificates) {
      item.fail("at most " + std::to_string(kMaxCertificates) + " certificates per listener");
    }
    tls.certificates.push_back(read_certificate(item));
  }
  if (tls.certificates.empty()) {
    certs.fail("expected at least one { cert: site.pem, key: site.key }");
  }
  if (auto v = s.find("protocols")) read_tls_protocols(*v, tls.tls12, tls.tls13);
  if (auto v = s.find("ciphers")) tls.ciphers = read_cipher_list(*v);
  if (auto v = s.find("ciphersuites")) tls.ciphersuites = read_cipher_list(*v);
  if (auto v = s.find("session_tickets")) tls.session_tickets = read_bool(*v);
  if (auto v = s.find("ticket_rotation")) {
    tls.ticket_rotation = read_duration(*v, std::chrono::minutes(1), std::chrono::hours(24 * 7));
  }
  if (auto v = s.find("strict_sni")) tls.strict_sni = read_bool(*v);
  if (auto v = s.find("client_ca")) tls.client_ca = read_path(*v, "clients-ca.pem");
  if (auto v = s.find("verify_client")) {
    tls.verify_client = read_verify(*v);
    if (tls.verify_client != VerifyClient::off && tls.client_ca.empty()) {
      v->fail("verify_client: optional and required need client_ca (the CA that signs client certificates)");
    }
  }
  if (!tls.client_ca.empty() && tls.verify_client == VerifyClient::off) {
    s.require("client_ca").fail("client_ca is set but verify_client is off; say optional or required");
  }
  return tls;
}

Listen read_listen_entry(const Field& item) {
  if (!item.node.IsMap()) {
    return Listen{read_endpoint(item), std::nullopt};
  }
  const Section s(item, {"address", "tls"});
  Listen l;
  l.address = read_endpoint(s.require("address"));
  if (auto v = s.find("tls")) l.tls = read_tls(*v);
  return l;
}

}  // namespace

void read_tls_protocols(const Field& f, bool& tls12, bool& tls13) {
  tls12 = false;
  tls13 = false;
  for (const Field& item : list_items(f, "a list like [TLSv1.2, TLSv1.3]")) {
    const std::string v = read_scalar(item, "TLSv1.2 or TLSv1.3");
    if (v == "TLSv1.2") {
      tls12 = true;
    } else if (v == "TLSv1.3") {
      tls13 = true;
    } else if (v == "SSLv3" || v == "TLSv1" || v == "TLSv1.0" || v == "TLSv1.1") {
      item.fail(v + " is broken and not offered; use TLSv1.2 and/or TLSv1.3");
    } else {
      item.fail("expected TLSv1.2 or TLSv1.3, got " + quote(v));
    }
  }
  if (!tls12 && !tls13) {
    f.fail("expected at least one of TLSv1.2 and TLSv1.3");
  }
}

std::vector<Listen> parse_listen(const Field& f) {
  // One address may be written bare; several as a list.
  const std::vector<Field> items = f.node.IsSequence() ? list_items(f, "a list of addresses") : std::vector<Field>{f};
  if (items.empty()) {
    f.fail("expected at least one address like 127.0.0.1:8080");
  }
  std::vector<Listen> listen;
  for (const Field& item : items) {
    Listen entry = read_listen_entry(item);
    const auto earlier = std::find_if(listen.begin(), listen.end(),
                                      [&](const Listen& l) { return l.address == entry.address; });
    if (earlier != listen.end()) {
      item.fail(entry.address.to_string() + " is already listed as listen[" +
                std::to_string(earlier - listen.begin()) + "]");
    }
    listen.push_back(std::move(entry));
  }
  return listen;
}

}  // namespace wsgate::conf::detail

namespace wsgate::conf {

std::vector<Endpoint> Config::listen_addresses() const {
  std::vector<Endpoint> out;
  out.reserve(listen.size());
  for (const Listen& l : listen) {
    out.push_back(l.address);
  }
  return out;
}

bool Config::has_tls() const {
  return std::any_of(listen.begin(), listen.end(), [](const Listen& l) { return l.tls.has_value(); });
}

}  // namespace wsgate::conf
