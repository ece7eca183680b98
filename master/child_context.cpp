#include <algorithm>

#include "master/launch.h"

namespace wsgate::master {

std::vector<int> ChildContext::shed(const std::vector<int>& keep, bool keep_admin) const {
  std::vector<int> out;
  for (int fd : listeners->all()) {
    if (std::find(keep.begin(), keep.end(), fd) == keep.end()) {
      out.push_back(fd);
    }
  }
  if (!keep_admin && admin_fd >= 0) {
    out.push_back(admin_fd);
  }
  return out;
}

uint32_t ChildContext::current_generation() const { return table->header.generation.load(); }

}  // namespace wsgate::master
