// A whole file mapped read-only into memory. Tensors read from it point straight into the
// mapping (zero-copy); the kernel pages data in on demand and can drop it again, so a model
// larger than RAM can be read. Reads are guarded against the file shrinking meanwhile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace alloy {

class MappedFile {
 public:
  // Throws alloy::Error (ALLOY_ERR_IO) naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const char* data() const { return static_cast<const char*>(data_); }
  uint64_t size() const { return size_; }
  // Hints that bytes [offset, offset+bytes) will be read soon (MADV_WILLNEED).
  void prefetch(uint64_t offset, uint64_t bytes) const;
  // Drops the pages of [offset, offset+bytes) from this process (MADV_DONTNEED) so the
  // resident set stays bounded by the tensors in flight; the page cache may keep them.
  void release(uint64_t offset, uint64_t bytes) const;
  // Whether a read found the file shorter than when it was mapped (truncated while alloy read
  // it); such reads return zeros instead of raising SIGBUS (see sigbus_guard.hpp).
  bool damaged() const;
  // The offset of the first byte that could not be read, when damaged().
  uint64_t damaged_at() const;

 private:
  MappedFile(std::string path, void* data, uint64_t size);
  std::string path_;
  void* data_;
  uint64_t size_;
  int guard_;  // sigbus_guard handle
};

}  // namespace alloy
