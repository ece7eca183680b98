#include "shm/segment.h"

#include "shm/segment_owner.h"

#include <signal.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>

namespace wsgate::shm {

namespace bip = boost::interprocess;

struct Segment::Mapping {
  bip::mapped_region region;
};

std::string segment_name_for(const std::string& config_realpath) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across builds and hosts
  for (unsigned char c : config_realpath) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "wsgate-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Segment Segment::create(const std::string& name, int master_pid) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write, bip::permissions(0644));
      obj.truncate(sizeof(Table));
      auto mapping = std::make_unique<Mapping>(Mapping{bip::mapped_region(obj, bip::read_write)});
      auto* table = ::new (mapping->region.get_address()) Table();
      Prefix& p = table->header.prefix;
      p.magic = kMagic;
      p.version = kLayoutVersion;
      p.prefix_size = sizeof(Prefix);
      p.total_size = sizeof(Table);
      p.master_pid.store(master_pid);
      return Segment(name, std::move(mapping), true);
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::already_exists_error || attempt > 0) {
        throw SegmentError("cannot create shared memory /dev/shm/" + name + ": " + e.what());
      }
    }
    int owner = existing_owner(name, kMagic);
    if (owner != 0 && owner != master_pid && is_live_wsgate(owner)) {
      throw SegmentError("shared memory /dev/shm/" + name + " belongs to a running wsgate (master pid " +
                         std::to_string(owner) + "): another instance uses this config");
    }
    // Stale: its master died without cleaning up (SIGKILL, power loss).
    bip::shared_memory_object::remove(name.c_str());
  }
  throw SegmentError("cannot create shared memory /dev/shm/" + name);
}

Segment Segment::attach_read_only(const std::string& name) { return attach(name, false); }

Segment Segment::attach_read_write(const std::string& name) { return attach(name, true); }

Segment Segment::attach(const std::string& name, bool writable) {
  const bip::mode_t mode = writable ? bip::read_write : bip::read_only;
  std::unique_ptr<Mapping> mapping;
  try {
    bip::shared_memory_object obj(bip::open_only, name.c_str(), mode);
    bip::offset_t size = 0;
    if (!obj.get_size(size) || size < static_cast<bip::offset_t>(sizeof(Prefix))) {
      throw SegmentError("/dev/shm/" + name + " is not a wsgate segment (size " + std::to_string(size) + ")");
    }
    mapping = std::make_unique<Mapping>(Mapping{bip::mapped_region(obj, mode)});
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      throw SegmentError("no running wsgate for this config (shared memory /dev/shm/" + name + " not found)");
    }
    throw SegmentError("cannot open shared memory /dev/shm/" + name + ": " + e.what());
  }
  const auto* prefix = static_cast<const Prefix*>(mapping->region.get_address());
  if (prefix->magic != kMagic) {
    throw SegmentError("/dev/shm/" + name + " is not a wsgate segment (bad magic)");
  }
  if (prefix->version != kLayoutVersion) {
    throw SegmentError("/dev/shm/" + name + " has shared-memory layout version " + std::to_string(prefix->version) +
                       ", this wsgate reads version " + std::to_string(kLayoutVersion) +
                       ": use the wsgate binary that started the instance");
  }
  if (prefix->total_size != sizeof(Table) || mapping->region.get_size() < sizeof(Table)) {
    throw SegmentError("/dev/shm/" + name + " has size " + std::to_string(mapping->region.get_size()) +
                       ", expected " + std::to_string(sizeof(Table)) + " for layout version " +
                       std::to_string(kLayoutVersion));
  }
  return Segment(name, std::move(mapping), false);
}

Segment::Segment(std::string name, std::unique_ptr<Mapping> mapping, bool owner)
    : name_(std::move(name)),
      mapping_(std::move(mapping)),
      table_(static_cast<Table*>(mapping_->region.get_address())),
      owner_(owner),
      owner_pid_(getpid()) {}

Segment::Segment(Segment&& other) noexcept
    : name_(std::move(other.name_)),
      mapping_(std::move(other.mapping_)),
      table_(other.table_),
      owner_(other.owner_),
      owner_pid_(other.owner_pid_) {
  other.table_ = nullptr;
  other.owner_ = false;
}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    Segment gone(std::move(*this));
    name_ = std::move(other.name_);
    mapping_ = std::move(other.mapping_);
    table_ = other.table_;
    owner_ = other.owner_;
    owner_pid_ = other.owner_pid_;
    other.table_ = nullptr;
    other.owner_ = false;
  }
  return *this;
}

Segment::~Segment() {
  // Forked children inherit this object; only the creating process unlinks.
  if (owner_ && owner_pid_ == getpid()) {
    bip::shared_memory_object::remove(name_.c_str());
  }
}

}  // namespace wsgate::shm
