#include "shm/config_blob.h"

#include <unistd.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstring>

#include "shm/segment.h"

namespace wsgate::shm {

namespace bip = boost::interprocess;

namespace {

struct BlobHeader {
  std::atomic<uint64_t> seq;     // odd while the master writes
  std::atomic<uint64_t> length;  // bytes of text
};

constexpr size_t kWords = ConfigBlob::kCapacity / sizeof(uint64_t);
constexpr size_t kSize = sizeof(BlobHeader) + ConfigBlob::kCapacity;
constexpr int kReadTries = 100;

}  // namespace

struct ConfigBlob::Mapping {
  bip::mapped_region region;
  BlobHeader* header() { return static_cast<BlobHeader*>(region.get_address()); }
  std::atomic<uint64_t>* words() { return reinterpret_cast<std::atomic<uint64_t>*>(header() + 1); }
};

ConfigBlob ConfigBlob::create(const std::string& name) {
  bip::shared_memory_object::remove(name.c_str());
  try {
    bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write, bip::permissions(0600));
    obj.truncate(kSize);  // sparse: only the pages the text touches use memory
    auto mapping = std::make_unique<Mapping>(Mapping{bip::mapped_region(obj, bip::read_write)});
    ::new (mapping->region.get_address()) BlobHeader{};
    return ConfigBlob(name, std::move(mapping));
  } catch (const bip::interprocess_exception& e) {
    throw SegmentError("cannot create shared memory /dev/shm/" + name + ": " + e.what());
  }
}

ConfigBlob::ConfigBlob(std::string name, std::unique_ptr<Mapping> mapping)
    : name_(std::move(name)), mapping_(std::move(mapping)), owner_pid_(getpid()) {}

ConfigBlob::ConfigBlob(ConfigBlob&& other) noexcept
    : name_(std::move(other.name_)), mapping_(std::move(other.mapping_)), owner_pid_(other.owner_pid_) {
  other.owner_pid_ = 0;
}

ConfigBlob& ConfigBlob::operator=(ConfigBlob&& other) noexcept {
  if (this != &other) {
    ConfigBlob gone(std::move(*this));
    name_ = std::move(other.name_);
    mapping_ = std::move(other.mapping_);
    owner_pid_ = other.owner_pid_;
    other.owner_pid_ = 0;
  }
  return *this;
}

ConfigBlob::~ConfigBlob() {
  // Forked children inherit this object; only the creating process unlinks.
  if (mapping_ && owner_pid_ == getpid()) {
    bip::shared_memory_object::remove(name_.c_str());
  }
}

bool ConfigBlob::publish(const std::string& text) {
  if (text.size() > kCapacity) {
    return false;
  }
  BlobHeader* h = mapping_->header();
  std::atomic<uint64_t>* words = mapping_->words();
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

uint64_t ConfigBlob::sequence() const { return mapping_->header()->seq.load(std::memory_order_acquire); }

std::optional<std::pair<std::string, uint64_t>> ConfigBlob::read() const {
  BlobHeader* h = mapping_->header();
  std::atomic<uint64_t>* words = mapping_->words();
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
