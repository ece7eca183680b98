#include "shm/segment_owner.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <fstream>

#include "shm/layout.h"

namespace wsgate::shm {

namespace bip = boost::interprocess;

bool is_live_wsgate(int pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) {
    return false;
  }
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name.rfind("wsgate", 0) == 0;
}

int existing_owner(const std::string& name, uint64_t magic) {
  bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_only);
  bip::offset_t size = 0;
  if (!obj.get_size(size) || size < static_cast<bip::offset_t>(sizeof(Prefix))) {
    return 0;
  }
  bip::mapped_region region(obj, bip::read_only, 0, sizeof(Prefix));
  const auto* prefix = static_cast<const Prefix*>(region.get_address());
  return prefix->magic == magic ? prefix->master_pid.load() : 0;
}

std::string foreign_owner(const std::string& name) {
  struct stat st {};
  if (lstat(("/dev/shm/" + name).c_str(), &st) != 0) {
    return "";  // gone meanwhile: the next create decides
  }
  if (!S_ISREG(st.st_mode)) {
    return "not a regular file";
  }
  if (st.st_uid == geteuid()) {
    return "";
  }
  std::string who = "owned by uid " + std::to_string(st.st_uid);
  if (const passwd* pw = getpwuid(st.st_uid); pw != nullptr) {
    who += std::string(" (") + pw->pw_name + ")";
  }
  return who + ", not by this process's uid " + std::to_string(geteuid());
}

}  // namespace wsgate::shm
