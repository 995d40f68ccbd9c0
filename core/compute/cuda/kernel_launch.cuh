// Launch geometry shared by the provider's kernels: grid-stride loops over 64-bit element
// counts, with a grid that fills the device and never exceeds CUDA's limits.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace alloy::cuda {

constexpr int kBlock = 256;

// Blocks for a grid-stride loop over n elements (at least 1, at most 64K blocks x 256).
inline unsigned grid_for(uint64_t n) {
  const uint64_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(std::clamp<uint64_t>(blocks, 1, 65536));
}

// for (i = global thread index; i < n; i += total threads)
#define ALLOY_GRID_STRIDE(i, n)                                               \
  for (uint64_t i = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += uint64_t(blockDim.x) * gridDim.x)

}  // namespace alloy::cuda
