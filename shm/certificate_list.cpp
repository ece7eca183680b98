#include "shm/certificate_list.h"

#include <algorithm>
#include <cstring>

namespace wsgate::shm {

namespace {

constexpr int kReadTries = 100;

void store_text(std::atomic<uint64_t> (&words)[kCertWords], const std::string& text) {
  const size_t n = std::min(text.size(), kCertWords * 8 - 1);
  for (size_t w = 0; w < kCertWords; ++w) {
    uint64_t word = 0;
    if (w * 8 < n) {
      std::memcpy(&word, text.data() + w * 8, std::min<size_t>(8, n - w * 8));
    }
    words[w].store(word, std::memory_order_relaxed);
  }
}

std::string load_text(const std::atomic<uint64_t> (&words)[kCertWords]) {
  char buf[kCertWords * 8 + 1] = {};
  for (size_t w = 0; w < kCertWords; ++w) {
    const uint64_t word = words[w].load(std::memory_order_relaxed);
    std::memcpy(buf + w * 8, &word, 8);
  }
  return std::string(buf, strnlen(buf, kCertWords * 8));
}

}  // namespace

void publish_certificates(CertificateList& list, const std::vector<CertificateRecord>& records) {
  const uint64_t seq = list.seq.load(std::memory_order_relaxed);
  list.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  const size_t n = std::min(records.size(), kMaxListedCertificates);
  for (size_t i = 0; i < n; ++i) {
    CertificateEntry& e = list.entries[i];
    store_text(e.listener, records[i].listener);
    store_text(e.file, records[i].file);
    store_text(e.names, records[i].names);
    e.not_after.store(records[i].not_after, std::memory_order_relaxed);
  }
  list.count.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
  list.seq.store(seq + 2, std::memory_order_release);
}

std::vector<CertificateRecord> read_certificates(const CertificateList& list) {
  for (int attempt = 0; attempt < kReadTries; ++attempt) {
    const uint64_t before = list.seq.load(std::memory_order_acquire);
    if (before % 2 != 0) {
      continue;
    }
    const size_t n = std::min<size_t>(list.count.load(std::memory_order_relaxed), kMaxListedCertificates);
    std::vector<CertificateRecord> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const CertificateEntry& e = list.entries[i];
      out.push_back(CertificateRecord{load_text(e.listener), load_text(e.file), load_text(e.names),
                                      e.not_after.load(std::memory_order_relaxed)});
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (list.seq.load(std::memory_order_relaxed) == before) {
      return out;
    }
  }
  return {};
}

}  // namespace wsgate::shm
