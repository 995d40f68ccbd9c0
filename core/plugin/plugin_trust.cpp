#include "plugin/plugin_trust.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace alloy {

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
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return fmt::format(
        "{}: refused: the plugin {} is writable by {} (mode {:04o}), so they could change the "
        "code alloy runs; fix with `chmod go-w {}` or pass --allow-insecure-plugins",
        path, kind, (st.st_mode & S_IWOTH) ? "every user" : "its group", st.st_mode & 07777, path);
  }
  return {};
}

}  // namespace alloy
