// The IDX format MNIST-style data sets ship in: two zero bytes, a dtype byte, a rank byte, the
// dimensions as big-endian uint32, then the elements in row-major order. Files are usually
// gzip-compressed; zlib reads plain files too, so both work.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace alloy {

// The one IDX element type alloy reads: unsigned bytes (what image and label files hold).
constexpr uint8_t kIdxUnsignedByte = 0x08;

struct IdxArray {
  Shape shape;
  std::vector<uint8_t> data;  // shape_numel(shape) bytes
};

// Reads a whole IDX file of unsigned bytes. Throws alloy::Error (ALLOY_ERR_IO) naming the file
// when it cannot be opened or decompressed, the magic is wrong, the dtype is not unsigned
// bytes, the rank is 0 or above kMaxRank, or the data is shorter or longer than the dimensions
// say.
IdxArray read_idx(const std::string& path);

}  // namespace alloy
