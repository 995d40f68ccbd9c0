// Whole-file reads and checked POSIX writes: every failure (a full disk, a failed fsync or
// close) throws alloy::Error (ALLOY_ERR_IO) naming the file, so no write is silently lost.
#pragma once

#include <cstdint>
#include <string>

namespace alloy {

// The whole content of `path`; throws "cannot read <what> <path>: <reason>".
std::string read_text_file(const std::string& path, const std::string& what);
// Creates (or truncates) `path`, writes `text`, syncs and closes it; `what` names the content
// in messages ("the index").
void write_text_file(const std::string& path, const std::string& text, const std::string& what);

// A new file open for writing (mode 0644, truncated); throws naming it.
int create_file(const std::string& path);
// Writes all `bytes` at `offset` (pwrite may write less than asked: loops until all is out).
void write_all(int fd, const void* data, uint64_t bytes, uint64_t offset, const std::string& what,
               const std::string& path);
void sync_checked(int fd, const std::string& path);
void close_checked(int fd, const std::string& path);
// A new file or folder reaches the disk only once the folder holding its name is synced too.
void sync_path(const std::string& path);

}  // namespace alloy
