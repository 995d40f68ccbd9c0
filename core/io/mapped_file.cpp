#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "error.hpp"
#include "io/sigbus_guard.hpp"

namespace alloy {
namespace {

// Closes the descriptor on every path out of open(); the mapping does not need it.
struct FdGuard {
  int fd;
  ~FdGuard() { ::close(fd); }
};

uint64_t page_size() {
  static const uint64_t size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ALLOY_ERR_IO, "cannot open {}: {}", path, std::strerror(errno));
  FdGuard guard{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) fail(ALLOY_ERR_IO, "cannot stat {}: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(ALLOY_ERR_IO, "cannot map {}: not a regular file", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // mmap rejects a zero length; an empty file simply has no data.
  void* data = nullptr;
  if (size > 0) {
    data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) fail(ALLOY_ERR_IO, "cannot map {}: {}", path, std::strerror(errno));
  }
  return std::shared_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::MappedFile(std::string path, void* data, uint64_t size)
    : path_(std::move(path)), data_(data), size_(size), guard_(sigbus_guard::watch(data, size)) {}

MappedFile::~MappedFile() {
  sigbus_guard::unwatch(guard_);
  if (data_) ::munmap(data_, size_);
}

bool MappedFile::damaged() const { return damaged_at() != sigbus_guard::kIntact; }

uint64_t MappedFile::damaged_at() const { return sigbus_guard::damaged_at(guard_); }

namespace {

// madvise needs a page-aligned start and rounds the length up itself, so the range grows
// outward to whole pages. That may touch a page shared with a neighbouring tensor; for a read-only
// file mapping that only costs a re-fault from the file. Failures are ignored: both calls are hints
// and the data stays correct either way.
void advise(void* base, uint64_t mapped, uint64_t offset, uint64_t bytes, int advice,
            const std::string& path) {
  if (bytes == 0) return;
  if (offset > mapped || bytes > mapped - offset) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: range [{}, {}) lies outside the {}-byte file", path,
         offset, offset + bytes, mapped);
  }
  const uint64_t page = page_size();
  const uint64_t begin = offset / page * page;
  const uint64_t end = offset + bytes;
  ::madvise(static_cast<char*>(base) + begin, end - begin, advice);
}

}  // namespace

void MappedFile::prefetch(uint64_t offset, uint64_t bytes) const {
  advise(data_, size_, offset, bytes, MADV_WILLNEED, path_);
}

void MappedFile::release(uint64_t offset, uint64_t bytes) const {
  advise(data_, size_, offset, bytes, MADV_DONTNEED, path_);
}

}  // namespace alloy
