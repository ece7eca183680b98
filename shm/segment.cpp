#include "shm/segment.h"

#include <cstdio>
#include <new>

namespace wsgate::shm {

std::string segment_name_for(const std::string& config_realpath) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across builds and hosts
  for (unsigned char c : config_realpath) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "wsgate-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Segment Segment::create(const std::string& name, int master_pid, const SegmentMode& mode) {
  NamedMapping mapping = NamedMapping::create_exclusive(name, sizeof(Table), mode, kMagic, master_pid);
  auto* table = ::new (mapping.address()) Table();
  Prefix& p = table->header.prefix;
  p.magic = kMagic;
  p.version = kLayoutVersion;
  p.prefix_size = sizeof(Prefix);
  p.total_size = sizeof(Table);
  p.master_pid.store(master_pid);
  return Segment(std::move(mapping));
}

Segment Segment::attach_read_only(const std::string& name) { return attach(name, NamedMapping::Access::read_only); }

Segment Segment::attach_read_write(const std::string& name) { return attach(name, NamedMapping::Access::read_write); }

Segment Segment::attach(const std::string& name, NamedMapping::Access access) {
  NamedMapping mapping = NamedMapping::attach(name, access, true, sizeof(Prefix));
  const auto* prefix = static_cast<const Prefix*>(mapping.address());
  if (prefix->magic != kMagic) {
    throw SegmentError("/dev/shm/" + name + " is not a wsgate segment (bad magic)");
  }
  if (prefix->version != kLayoutVersion) {
    throw SegmentError("/dev/shm/" + name + " has shared-memory layout version " + std::to_string(prefix->version) +
                       ", this wsgate reads version " + std::to_string(kLayoutVersion) +
                       ": use the wsgate binary that started the instance");
  }
  if (prefix->total_size != sizeof(Table) || mapping.size() < sizeof(Table)) {
    throw SegmentError("/dev/shm/" + name + " has size " + std::to_string(mapping.size()) + ", expected " +
                       std::to_string(sizeof(Table)) + " for layout version " + std::to_string(kLayoutVersion));
  }
  return Segment(std::move(mapping));
}

}  // namespace wsgate::shm
