#include "io/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "error.hpp"

namespace alloy {

std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ALLOY_ERR_IO, "cannot read {} {}: {}", what, path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(ALLOY_ERR_IO, "cannot read {} {}: {}", what, path, std::strerror(errno));
  return text.str();
}

void write_all(int fd, const void* data, uint64_t bytes, uint64_t offset, const std::string& what,
               const std::string& path) {
  constexpr uint64_t kChunk = 1ull << 30;
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd, p, std::min(bytes, kChunk), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail(ALLOY_ERR_IO, "cannot write {} to {}: {}", what, path,
           n < 0 ? std::strerror(errno) : "no progress");
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    bytes -= static_cast<uint64_t>(n);
  }
}

void close_checked(int fd, const std::string& path) {
  if (::close(fd) != 0) fail(ALLOY_ERR_IO, "cannot close {}: {}", path, std::strerror(errno));
}

void sync_checked(int fd, const std::string& path) {
  if (::fsync(fd) != 0) fail(ALLOY_ERR_IO, "cannot sync {}: {}", path, std::strerror(errno));
}

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ALLOY_ERR_IO, "cannot open {}: {}", path, std::strerror(errno));
  try {
    sync_checked(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  close_checked(fd, path);
}

int create_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(ALLOY_ERR_IO, "cannot create {}: {}", path, std::strerror(errno));
  return fd;
}

void write_text_file(const std::string& path, const std::string& text, const std::string& what) {
  const int fd = create_file(path);
  try {
    write_all(fd, text.data(), text.size(), 0, what, path);
    sync_checked(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  close_checked(fd, path);
}

}  // namespace alloy
