// The bytes of every certificate, key and client CA the TLS listeners name.
// The master reads and checks them (at start, `wsgate -t` and every SIGHUP)
// as the user it runs as, then publishes them to the workers through a 0600
// shared-memory blob mapped before any fork: a worker that dropped its
// privileges still gets keys only root can read, and a reload that changes
// only file contents swaps certificates in place (see tls_listener.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace wsgate::worker {

struct CertificatePem {
  std::string cert;  // leaf, then chain
  std::string key;
  bool operator==(const CertificatePem&) const = default;
};

// One per TLS listener, in `listen` order (plain listeners have none).
struct ListenerPem {
  std::string address;  // "0.0.0.0:8443": which listener it belongs to
  std::vector<CertificatePem> certificates;
  std::string client_ca;  // empty without mutual TLS
  bool operator==(const ListenerPem&) const = default;
};

// What `wsgate status` and /metrics show of a certificate.
struct CertificateSummary {
  std::string file;
  std::vector<std::string> names;  // DNS SANs, else the subject CN
  int64_t not_after = 0;           // unix seconds
};

struct TlsMaterial {
  std::vector<ListenerPem> listeners;

  std::string serialize() const;
  // nullopt for text that serialize() did not write.
  static std::optional<TlsMaterial> parse(std::string_view text);
  const ListenerPem* find(const std::string& address) const;
  bool operator==(const TlsMaterial&) const = default;
};

// Reads and checks every file: readable and at most 1 MiB, PEM that OpenSSL
// parses, a key that matches its certificate, a chain in order (each
// certificate issued by the next), a client CA file with certificates.
// Throws conf::ConfigError naming the config file, the line of the entry,
// the key and the file. Certificates that have expired or expire within 14
// days are not errors (a refusal would block every other change of a
// reload): they are returned in *warnings.
TlsMaterial load_tls_material(const conf::Config& config, std::vector<std::string>* warnings);

// Names and expiry of one PEM chain's leaf; nullopt when it does not parse.
std::optional<CertificateSummary> summarize_certificate(const std::string& pem);

}  // namespace wsgate::worker
