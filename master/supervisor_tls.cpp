// The master's TLS duties: read and check the certificate files (at start
// and on SIGHUP, as the user it runs as), publish them to the workers, and
// rotate the shared session ticket keys.
#include <algorithm>

#include "master/supervisor.h"
#include "shm/clock.h"
#include "worker/log/log.h"

namespace wsgate::master {

std::string Supervisor::read_tls(const conf::Config& config) {
  std::vector<std::string> warnings;
  const worker::TlsMaterial material = worker::load_tls_material(config, &warnings);
  for (const std::string& w : warnings) {
    LOG_WARN("TLS: %s", w.c_str());
  }
  // Allowed, but said at every start and reload (upstream TLS, issue 14).
  for (const conf::Stream& s : config.streams) {
    if (!s.tls.verify) {
      LOG_WARN("stream %s: tls.verify is false: its wss:// sources are not authenticated", s.name.c_str());
    }
  }
  return material.serialize();
}

// What status and /metrics list: each certificate's names and expiry.
void Supervisor::list_certificates(const conf::Config& config, const std::string& material) {
  std::vector<shm::CertificateRecord> records;
  const auto parsed = worker::TlsMaterial::parse(material);
  for (const conf::Listen& l : config.listen) {
    const worker::ListenerPem* pem = parsed && l.tls ? parsed->find(l.address.to_string()) : nullptr;
    if (pem == nullptr) {
      continue;
    }
    for (size_t j = 0; j < pem->certificates.size() && j < l.tls->certificates.size(); ++j) {
      shm::CertificateRecord r;
      r.listener = l.address.to_string();
      r.file = l.tls->certificates[j].cert;
      if (auto summary = worker::summarize_certificate(pem->certificates[j].cert)) {
        for (const std::string& n : summary->names) {
          r.names += (r.names.empty() ? "" : ",") + n;
        }
        r.not_after = summary->not_after;
      }
      records.push_back(std::move(r));
    }
  }
  shm::publish_certificates(segment_.table()->certificates, records);
}

void Supervisor::publish_tls(const conf::Config& config, const std::string& material) {
  if (material == tls_published_) {
    return;
  }
  list_certificates(config, material);
  if (!tls_blobs_.material.publish(material)) {
    LOG_ERROR("TLS: the certificates are larger than %llu bytes; workers keep the ones they have",
              static_cast<unsigned long long>(shm::ConfigBlob::kCapacity));
    return;
  }
  if (!tls_published_.empty()) {
    LOG_INFO("TLS: certificates changed: new handshakes use them; running sessions keep theirs");
  }
  tls_published_ = material;
}

// One set of keys for every listener: the shortest rotation asked for.
void Supervisor::rotate_tickets_if_due() {
  conf::Duration every = conf::Duration::zero();
  for (const conf::Listen& l : config_->listen) {
    if (l.tls && l.tls->session_tickets && (every == conf::Duration::zero() || l.tls->ticket_rotation < every)) {
      every = l.tls->ticket_rotation;
    }
  }
  if (every == conf::Duration::zero()) {
    return;
  }
  const int64_t now = shm::monotonic_ms();
  if (!tickets_.keys.empty() && now < tickets_rotated_ms_ + every.count()) {
    return;
  }
  tickets_ = tickets_.rotated();
  tickets_rotated_ms_ = now;
  tls_blobs_.tickets.publish(tickets_.serialize());
}

}  // namespace wsgate::master
