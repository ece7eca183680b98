#include "shm/config_blob.h"

#include <unistd.h>

#include <cstring>
#include <new>

namespace wsgate::shm {

namespace {

constexpr size_t kWords = ConfigBlob::kCapacity / sizeof(uint64_t);
constexpr int kReadTries = 100;

}  // namespace

struct ConfigBlob::BlobHeader {
  std::atomic<uint64_t> seq;     // odd while the master writes
  std::atomic<uint64_t> length;  // bytes of text
};

ConfigBlob::BlobHeader* ConfigBlob::header() const { return static_cast<BlobHeader*>(mapping_.address()); }

std::atomic<uint64_t>* ConfigBlob::words() const { return reinterpret_cast<std::atomic<uint64_t>*>(header() + 1); }

ConfigBlob ConfigBlob::create(const std::string& name) {
  // Sparse: only the pages the text touches use memory.
  NamedMapping mapping = NamedMapping::create_replacing(name, sizeof(BlobHeader) + kCapacity, SegmentMode{});
  ::new (mapping.address()) BlobHeader{};
  return ConfigBlob(std::move(mapping));
}

bool ConfigBlob::publish(const std::string& text) {
  if (text.size() > kCapacity) {
    return false;
  }
  BlobHeader* h = header();
  std::atomic<uint64_t>* words = this->words();
  const uint64_t seq = h->seq.load(std::memory_order_relaxed);
  h->seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i * 8 < text.size(); ++i) {
    uint64_t w = 0;
    std::memcpy(&w, text.data() + i * 8, std::min<size_t>(8, text.size() - i * 8));
    words[i].store(w, std::memory_order_relaxed);
  }
  h->length.store(text.size(), std::memory_order_relaxed);
  h->seq.store(seq + 2, std::memory_order_release);
  return true;
}

uint64_t ConfigBlob::sequence() const { return header()->seq.load(std::memory_order_acquire); }

std::optional<std::pair<std::string, uint64_t>> ConfigBlob::read() const {
  BlobHeader* h = header();
  std::atomic<uint64_t>* words = this->words();
  for (int attempt = 0; attempt < kReadTries; ++attempt) {
    const uint64_t before = h->seq.load(std::memory_order_acquire);
    if (before == 0) {
      return std::nullopt;
    }
    if (before % 2 != 0) {
      usleep(1000);
      continue;
    }
    const uint64_t length = std::min<uint64_t>(h->length.load(std::memory_order_relaxed), kCapacity);
    std::string text(length, '\0');
    for (size_t i = 0; i * 8 < length && i < kWords; ++i) {
      const uint64_t w = words[i].load(std::memory_order_relaxed);
      std::memcpy(text.data() + i * 8, &w, std::min<size_t>(8, length - i * 8));
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h->seq.load(std::memory_order_relaxed) == before) {
      return std::make_pair(std::move(text), before);
    }
  }
  return std::nullopt;
}

}  // namespace wsgate::shm
