// Sessions per slot and backend (shm/layout.h SessionRow): each slot's
// process writes only its own row; a backend's load is the sum of its column.
#pragma once

#include <cstdint>

#include "shm/layout.h"

namespace wsgate::shm {

class SessionCounts {
 public:
  explicit SessionCounts(Table& table) : t_(&table) {}

  // --- the process in `slot` ---
  void add(uint32_t slot, uint32_t backend, int32_t delta);

  // --- master, after the process in `slot` is gone ---
  void clear_slot(uint32_t slot);

  // --- readers ---
  // The sum of the backend's column over the slots in use.
  int64_t total(uint32_t backend) const;
  int32_t in_slot(uint32_t slot, uint32_t backend) const;

 private:
  Table* t_;
};

}  // namespace wsgate::shm
