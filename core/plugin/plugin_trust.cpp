#include "plugin/plugin_trust.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace alloy {
namespace {

// A user private group (Debian's and Ubuntu's default: group "ann" for user "ann" alone) lets
// no one else write, so group write permission in it is harmless; umask 002 makes it common.
// As Debian's OpenSSH decides: the group lists no members and is no other user's primary group.
bool private_group_of(gid_t group, uid_t owner) {
  const struct group* entry = ::getgrgid(group);
  if (!entry || (entry->gr_mem && entry->gr_mem[0])) return false;
  const struct passwd* owner_entry = ::getpwuid(owner);
  if (!owner_entry || owner_entry->pw_gid != group) return false;
  ::setpwent();
  bool alone = true;
  while (const struct passwd* user = ::getpwent()) {
    if (user->pw_gid == group && user->pw_uid != owner) alone = false;
  }
  ::endpwent();
  return alone;
}

}  // namespace

std::string untrusted_reason(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return fmt::format("{}: cannot check its permissions: {}", path, std::strerror(errno));
  }
  const char* kind = S_ISDIR(st.st_mode) ? "folder" : "file";
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return fmt::format(
        "{}: refused: the plugin {} belongs to user id {}, not to you (id {}) or root, so its "
        "owner could change the code alloy runs; fix with `chown {} {}` or pass "
        "--allow-insecure-plugins",
        path, kind, st.st_uid, me, me, path);
  }
  const bool group_writes = (st.st_mode & S_IWGRP) && !private_group_of(st.st_gid, st.st_uid);
  if ((st.st_mode & S_IWOTH) || group_writes) {
    return fmt::format(
        "{}: refused: the plugin {} is writable by {} (mode {:04o}), so they could change the "
        "code alloy runs; fix with `chmod go-w {}` or pass --allow-insecure-plugins",
        path, kind, (st.st_mode & S_IWOTH) ? "every user" : "its group", st.st_mode & 07777, path);
  }
  return {};
}

}  // namespace alloy
