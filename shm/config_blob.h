// The config text the master validated last, shared with the workers so a
// reload that changes only pools, backends, limits or keys reaches running
// workers without replacing them. A separate object from the table (mode
// 0600: `wsgate status` users need the table, not the config), mapped by the
// master before any fork so workers keep it after dropping privileges.
//
// One writer (the master), any number of readers: a seqlock over words kept
// in atomics, so a reader never races on plain bytes; a reader that overlaps
// a write sees the sequence move and tries again.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "shm/named_mapping.h"

namespace wsgate::shm {

class ConfigBlob {
 public:
  static constexpr uint64_t kCapacity = 4 * 1024 * 1024;  // bytes of config text

  // Creates "<name>" (replacing a stale one: the table's owner check ran first).
  static ConfigBlob create(const std::string& name);

  // Master: replaces the text; false when it is over kCapacity.
  bool publish(const std::string& text);
  // The version published last: 0 before the first publish, then even numbers.
  uint64_t sequence() const;
  // A consistent copy of the text and the sequence it belongs to; nullopt
  // when writers kept it busy for every retry or nothing was published.
  std::optional<std::pair<std::string, uint64_t>> read() const;

 private:
  explicit ConfigBlob(NamedMapping mapping) : mapping_(std::move(mapping)) {}
  struct BlobHeader;
  BlobHeader* header() const;
  std::atomic<uint64_t>* words() const;

  NamedMapping mapping_;
};

}  // namespace wsgate::shm
