// The named shared-memory segment that holds one instance's Table.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "shm/layout.h"
#include "shm/named_mapping.h"

namespace wsgate::shm {

class SegmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "/wsgate-<16 hex digits>": a hash of the config file's real path, so
// `wsgate status -c FILE` finds the instance started with the same FILE.
std::string segment_name_for(const std::string& config_realpath);

// RAII owner of the mapping. The creator also owns the name and unlinks it on
// destruction; attachers only unmap. A mapping made before fork() stays valid
// in the children (it is MAP_SHARED), so workers use the master's.
class Segment {
 public:
  // Creates a fresh, zeroed Table under `name`, stamped with `master_pid`.
  // A leftover segment whose master is dead (or that is not a wsgate segment
  // of any version) is replaced; one whose master still runs is refused; one
  // another uid made is replaced or refused (NamedMapping::create_exclusive).
  static Segment create(const std::string& name, int master_pid, const SegmentMode& mode = {});

  // Maps an existing segment read-only; refuses a foreign magic, another
  // layout version or a short size with a message that says which.
  static Segment attach_read_only(const std::string& name);
  // The same, mapped read-write: for runtime control (`wsgate drain`,
  // `rebalance`), which writes only the fields shm/control_layout.h names.
  static Segment attach_read_write(const std::string& name);

  Table* table() { return static_cast<Table*>(mapping_.address()); }
  const Table* table() const { return static_cast<const Table*>(mapping_.address()); }
  const std::string& name() const { return mapping_.name(); }

 private:
  explicit Segment(NamedMapping mapping) : mapping_(std::move(mapping)) {}
  static Segment attach(const std::string& name, NamedMapping::Access access);

  NamedMapping mapping_;
};

}  // namespace wsgate::shm
