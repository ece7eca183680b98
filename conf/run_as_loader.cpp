// The top-level `user:` and `group:` keys: who the workers run as. Names are
// looked up here, at load time, so that a typo is a config error naming the
// line (and `wsgate -t` catches it) rather than a worker that dies after fork,
// and so that a worker switches identity with plain syscalls and no lookup.
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>
#include <vector>

#include "conf/loader_fields.h"

namespace wsgate::conf::detail {

namespace {

// getpwnam_r()/getgrnam_r() answer ERANGE when the buffer is too small for a
// record (a group with many members); a few doublings cover any real one.
constexpr size_t kFirstBuffer = 4096;
constexpr size_t kMaxBuffer = 1 << 20;

// User and group names as useradd/groupadd accept them (and no
// whitespace), so that a stray value reads as a mistake, not as a lookup
// that found nothing.
std::string read_name(const Field& f, const std::string& what) {
  std::string name = read_scalar(f, "a " + what + " name like wsgate");
  if (name.empty() || name.size() > 32 || has_space_or_control(name) || name.front() == '-' ||
      name.find_first_of(":,/") != std::string::npos) {
    f.fail("expected a " + what + " name like wsgate, got " + quote(name));
  }
  return name;
}

// A lookup either finds the record, finds nothing (0 or ENOENT/ESRCH/EBADF/
// EPERM by the glibc manual's list of "not found" answers), or fails.
bool not_found(int error) {
  return error == 0 || error == ENOENT || error == ESRCH || error == EBADF || error == EPERM;
}

void resolve_user(const Field& f, RunAs& run_as) {
  std::vector<char> buffer(kFirstBuffer);
  passwd record{};
  passwd* found = nullptr;
  int error = 0;
  while ((error = getpwnam_r(run_as.user.c_str(), &record, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < kMaxBuffer) {
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr) {
    f.fail(not_found(error)
               ? "no such user " + quote(run_as.user) + " in the user database"
               : "cannot look up user " + quote(run_as.user) + ": " + std::generic_category().message(error));
  }
  run_as.uid = record.pw_uid;
  run_as.gid = record.pw_gid;
}

void resolve_group(const Field& f, RunAs& run_as) {
  std::vector<char> buffer(kFirstBuffer);
  group record{};
  group* found = nullptr;
  int error = 0;
  while ((error = getgrnam_r(run_as.group.c_str(), &record, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < kMaxBuffer) {
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr) {
    f.fail(not_found(error)
               ? "no such group " + quote(run_as.group) + " in the group database"
               : "cannot look up group " + quote(run_as.group) + ": " + std::generic_category().message(error));
  }
  run_as.gid = record.gr_gid;
}

// The user's memberships, as initgroups() would set them, with run_as.gid
// first. getgrouplist() says how many there are when the array is too small.
void resolve_supplementary(const Field& f, RunAs& run_as) {
  int count = 32;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  for (int attempt = 0; attempt < 4; ++attempt) {
    int n = count;
    if (getgrouplist(run_as.user.c_str(), run_as.gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<size_t>(n));
      run_as.groups = std::move(groups);
      return;
    }
    count = std::max(n, count * 2);
    groups.resize(static_cast<size_t>(count));
  }
  f.fail("cannot list the groups of user " + quote(run_as.user));
}

}  // namespace

std::optional<RunAs> parse_run_as(const std::optional<Field>& user, const std::optional<Field>& group) {
  if (!user && !group) {
    return std::nullopt;
  }
  if (!user) {
    // Workers that keep the master's user but change group gain nothing and
    // read like a forgotten `user:` line.
    group->fail("group needs user: name the user the workers run as too");
  }
  RunAs run_as;
  run_as.user = read_name(*user, "user");
  run_as.line = user->line;
  resolve_user(*user, run_as);
  if (group) {
    run_as.group = read_name(*group, "group");
    resolve_group(*group, run_as);
  }
  resolve_supplementary(*user, run_as);
  return run_as;
}

}  // namespace wsgate::conf::detail
