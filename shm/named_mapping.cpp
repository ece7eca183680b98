#include "shm/named_mapping.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "shm/segment.h"
#include "shm/segment_owner.h"

namespace wsgate::shm {

namespace bip = boost::interprocess;

struct NamedMapping::Region {
  bip::mapped_region region;
};

namespace {

// Creates the object (O_EXCL), gives it `mode`'s group and size.
bip::shared_memory_object create_object(const std::string& name, uint64_t size, const SegmentMode& mode) {
  bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write, bip::permissions(mode.permissions()));
  if (mode.reader_group >= 0 && fchown(obj.get_mapping_handle().handle, static_cast<uid_t>(-1),
                                       static_cast<gid_t>(mode.reader_group)) != 0) {
    const int error = errno;
    bip::shared_memory_object::remove(name.c_str());
    throw SegmentError("cannot give shared memory /dev/shm/" + name + " to group " +
                       std::to_string(mode.reader_group) + ": " + strerror(error));
  }
  obj.truncate(static_cast<bip::offset_t>(size));
  return obj;
}

}  // namespace

NamedMapping NamedMapping::create_exclusive(const std::string& name, uint64_t size, const SegmentMode& mode,
                                            uint64_t magic, int master_pid, const std::string& what) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      bip::shared_memory_object obj = create_object(name, size, mode);
      return NamedMapping(name, std::make_unique<Region>(Region{bip::mapped_region(obj, bip::read_write)}), true);
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::already_exists_error || attempt > 0) {
        throw SegmentError("cannot create shared memory /dev/shm/" + name + what + ": " + e.what());
      }
    }
    // Another user may have made the name first, with a Prefix that names a
    // live wsgate to keep us out: a foreign object is replaced unread when we
    // may unlink it (root may, in sticky /dev/shm), else refused.
    if (const std::string foreign = foreign_owner(name); !foreign.empty()) {
      if (!bip::shared_memory_object::remove(name.c_str())) {
        throw SegmentError("shared memory /dev/shm/" + name + " already exists, " + foreign +
                           ", and cannot be replaced: another local user made it; remove it (as root)");
      }
      continue;
    }
    int owner = existing_owner(name, magic);
    if (owner != 0 && owner != master_pid && is_live_wsgate(owner)) {
      throw SegmentError("shared memory /dev/shm/" + name + " belongs to a running wsgate (master pid " +
                         std::to_string(owner) + "): another instance uses this config");
    }
    // Stale: its master died without cleaning up (SIGKILL, power loss).
    bip::shared_memory_object::remove(name.c_str());
  }
  throw SegmentError("cannot create shared memory /dev/shm/" + name);
}

NamedMapping NamedMapping::create_replacing(const std::string& name, uint64_t size, const SegmentMode& mode) {
  bip::shared_memory_object::remove(name.c_str());
  try {
    bip::shared_memory_object obj = create_object(name, size, mode);
    return NamedMapping(name, std::make_unique<Region>(Region{bip::mapped_region(obj, bip::read_write)}), true);
  } catch (const bip::interprocess_exception& e) {
    const std::string foreign = e.get_error_code() == bip::already_exists_error ? foreign_owner(name) : "";
    throw SegmentError("cannot create shared memory /dev/shm/" + name + ": " + e.what() +
                       (foreign.empty() ? "" : " (it is " + foreign + ")"));
  }
}

NamedMapping NamedMapping::attach(const std::string& name, Access access, bool missing_means_no_instance,
                                  uint64_t min_size) {
  const bip::mode_t mode = access == Access::read_write ? bip::read_write : bip::read_only;
  try {
    bip::shared_memory_object obj(bip::open_only, name.c_str(), mode);
    bip::offset_t size = 0;
    if (min_size > 0 && (!obj.get_size(size) || size < static_cast<bip::offset_t>(min_size))) {
      throw SegmentError("/dev/shm/" + name + " is not a wsgate segment (size " + std::to_string(size) + ")");
    }
    return NamedMapping(name, std::make_unique<Region>(Region{bip::mapped_region(obj, mode)}), false);
  } catch (const bip::interprocess_exception& e) {
    if (missing_means_no_instance && e.get_error_code() == bip::not_found_error) {
      throw SegmentError("no running wsgate for this config (shared memory /dev/shm/" + name + " not found)");
    }
    throw SegmentError("cannot open shared memory /dev/shm/" + name + ": " + e.what());
  }
}

NamedMapping::NamedMapping(std::string name, std::unique_ptr<Region> region, bool creator)
    : name_(std::move(name)),
      region_(std::move(region)),
      address_(region_->region.get_address()),
      size_(region_->region.get_size()),
      creator_(creator),
      creator_pid_(getpid()) {}

NamedMapping::NamedMapping(NamedMapping&& other) noexcept
    : name_(std::move(other.name_)),
      region_(std::move(other.region_)),
      address_(other.address_),
      size_(other.size_),
      creator_(other.creator_),
      creator_pid_(other.creator_pid_) {
  other.address_ = nullptr;
  other.size_ = 0;
  other.creator_ = false;
}

NamedMapping& NamedMapping::operator=(NamedMapping&& other) noexcept {
  if (this != &other) {
    release();
    name_ = std::move(other.name_);
    region_ = std::move(other.region_);
    address_ = other.address_;
    size_ = other.size_;
    creator_ = other.creator_;
    creator_pid_ = other.creator_pid_;
    other.address_ = nullptr;
    other.size_ = 0;
    other.creator_ = false;
  }
  return *this;
}

NamedMapping::NamedMapping() = default;

NamedMapping::~NamedMapping() { release(); }

void NamedMapping::release() {
  if (unlinks_here()) {
    bip::shared_memory_object::remove(name_.c_str());
  }
  region_.reset();
  address_ = nullptr;
  size_ = 0;
  creator_ = false;
}

bool NamedMapping::unlinks_here() const { return creator_ && region_ && creator_pid_ == getpid(); }

}  // namespace wsgate::shm
