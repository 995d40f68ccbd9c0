// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON, then the
// tensor data. Reading validates everything the header claims before any tensor is touched.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/mapped_file.hpp"
#include "tensor/tensor.hpp"

namespace alloy {

// Largest JSON header alloy reads (the reference implementation's limit).
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t offset = 0;  // absolute byte offset of the data in the file
  uint64_t bytes = 0;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // in data order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + N
};

// Empty when `name` may name a tensor: not empty, no control characters (bytes below 0x20 and
// 0x7f), no path separators ('/', '\\'), as the reader, the writer and index files require.
// Otherwise a phrase for an error message saying why not, with the name's control characters
// escaped.
std::string tensor_name_problem(std::string_view name);

// Parses and validates the first bytes of a file of `file_size` bytes (`size` bytes of it are
// in `data`; at least 8 + N are needed). Throws alloy::Error (ALLOY_ERR_IO) naming
// `file_label` and, where one is at fault, the tensor: bad header length, broken JSON,
// unknown dtype, bad shape, data offsets past the end, overlapping or leaving gaps, byte count
// not matching shape and dtype, names with control characters or
// path separators.
SafetensorsHeader parse_safetensors_header(const char* data, uint64_t size, uint64_t file_size,
                                           const std::string& file_label);

// One opened safetensors file.
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  const MappedFile& mapped() const { return *file_; }
  // A read-only host tensor viewing the mapping (zero-copy); keeps the mapping alive.
  Tensor tensor(const TensorEntry& entry) const;
  // Throws alloy::Error (ALLOY_ERR_IO) naming the file and the tensor that could not be read
  // when the file shrank after it was opened (the reads saw zeros instead; see
  // sigbus_guard.hpp). Anything computed from this file since then is wrong.
  void check_intact() const;

 private:
  SafetensorsFile(std::shared_ptr<MappedFile> file, SafetensorsHeader header);
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
};

}  // namespace alloy
