// The certificates the TLS listeners serve, as the master last read them:
// what `wsgate status` and /metrics show (names, expiry) without talking to
// a process or reading key files. One writer (the master), a seqlock over
// words kept in atomics like the config blob, so a reader never sees a
// half-written entry.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace wsgate::shm {

inline constexpr size_t kMaxListedCertificates = 64;
inline constexpr size_t kCertWords = 32;  // 256 bytes per text field

struct CertificateEntry {
  std::atomic<uint64_t> listener[kCertWords];
  std::atomic<uint64_t> file[kCertWords];
  std::atomic<uint64_t> names[kCertWords];  // comma-separated
  std::atomic<int64_t> not_after;           // unix seconds
};

struct CertificateList {
  std::atomic<uint64_t> seq;  // odd while the master writes
  std::atomic<uint32_t> count;
  CertificateEntry entries[kMaxListedCertificates];
};

struct CertificateRecord {
  std::string listener;  // "0.0.0.0:8443"
  std::string file;
  std::string names;
  int64_t not_after = 0;
  bool operator==(const CertificateRecord&) const = default;
};

// Master: replaces the list (entries past kMaxListedCertificates are left
// out; texts are cut at 255 bytes).
void publish_certificates(CertificateList& list, const std::vector<CertificateRecord>& records);
// A consistent copy; empty when writes kept it busy for every retry.
std::vector<CertificateRecord> read_certificates(const CertificateList& list);

}  // namespace wsgate::shm
