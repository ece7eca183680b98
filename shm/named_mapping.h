// One named POSIX shared-memory object mapped into this process, owned the
// same way for every segment kind (the table, the stream rings, the config
// blob): the process that created the name unlinks it when the owner goes;
// a forked child inherits the object and only unmaps; a reader only unmaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace wsgate::shm {

// Who may open a segment by name. Workers never do: they inherit the
// master's mappings across fork(), so the mode only matters to `wsgate
// status` and the control commands, and to every other local user. The
// creating uid gets read-write; `reader_group` (>= 0) read-only, so that the
// service user of a root master (`user:`) can run `wsgate status`; nobody
// else anything: the rings hold the market data, the table every address.
struct SegmentMode {
  int reader_group = -1;
  unsigned permissions() const { return reader_group >= 0 ? 0640 : 0600; }
};

class NamedMapping {
 public:
  enum class Access { read_only, read_write };

  // Creates `name` with `size` zeroed bytes and maps it read-write. A
  // leftover one is first checked: one not owned by this uid (shm/segment_owner.h)
  // is never read but replaced when this process may unlink it (root), else
  // refused naming its owner; one whose Prefix has `magic` and names a live
  // wsgate master other than `master_pid` is refused; anything else (its
  // master died, or it is no wsgate segment of any version) is replaced.
  // `what` follows the name in the error ("" or " (N bytes for ...)").
  // Throws SegmentError.
  static NamedMapping create_exclusive(const std::string& name, uint64_t size, const SegmentMode& mode, uint64_t magic,
                                       int master_pid, const std::string& what = "");
  // Creates `name` anew, replacing whatever had it (the caller checked the
  // owner elsewhere). Throws SegmentError.
  static NamedMapping create_replacing(const std::string& name, uint64_t size, const SegmentMode& mode);
  // Maps an existing object. Throws SegmentError: "no running wsgate ..."
  // when it does not exist and `missing_means_no_instance`, "not a wsgate
  // segment" when it is shorter than `min_size`, else "cannot open". The
  // caller checks what is inside.
  static NamedMapping attach(const std::string& name, Access access, bool missing_means_no_instance = false,
                             uint64_t min_size = 0);

  NamedMapping();
  NamedMapping(NamedMapping&& other) noexcept;
  NamedMapping& operator=(NamedMapping&& other) noexcept;
  NamedMapping(const NamedMapping&) = delete;
  NamedMapping& operator=(const NamedMapping&) = delete;
  ~NamedMapping();

  void* address() const { return address_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }
  // True in the process that created the name: it unlinks it on destruction.
  bool unlinks_here() const;

 private:
  struct Region;
  NamedMapping(std::string name, std::unique_ptr<Region> region, bool creator);
  void release();

  std::string name_;
  std::unique_ptr<Region> region_;
  void* address_ = nullptr;  // the region's, kept here so the accessors stay inline
  size_t size_ = 0;
  bool creator_ = false;
  int creator_pid_ = 0;  // forked children inherit the object: only this pid unlinks
};

}  // namespace wsgate::shm
