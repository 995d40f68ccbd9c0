#include "compute/cuda/reduction_kernels.hpp"

#include <alloy/alloy.h>

#include <algorithm>

#include "compute/cuda/cuda_device.hpp"
#include "compute/cuda/kernel_launch.cuh"

namespace alloy::cuda {
namespace {

constexpr int kThreads = 256;
constexpr uint64_t kMaxBlocks = 1024;  // also the final block's width: one partial per thread
// Below this many elements per block, fewer blocks: each should stream a useful amount.
constexpr uint64_t kElementsPerBlock = kThreads * 16;

uint64_t blocks_for(uint64_t n) {
  return std::clamp<uint64_t>((n + kElementsPerBlock - 1) / kElementsPerBlock, 1, kMaxBlocks);
}

template <int Op>
__device__ __forceinline__ double term(float v) {
  if constexpr (Op == ALLOY_REDUCE_SUM) {
    return v;
  } else if constexpr (Op == ALLOY_REDUCE_ABS_SUM) {
    return fabsf(v);
  } else if constexpr (Op == ALLOY_REDUCE_L2_NORM) {
    return static_cast<double>(v) * v;  // exact in double
  } else if constexpr (Op == ALLOY_REDUCE_MAX_ABS) {
    return fabsf(v);
  } else {
    static_assert(Op == ALLOY_REDUCE_COUNT_NONZERO, "unknown reduction");
    return v != 0 ? 1.0 : 0.0;  // NaN counts, as in the CPU's loop
  }
}

// fmax returns the other operand for a NaN one, so a NaN never wins, as in the CPU's
// std::max(max, |x|) (where NaN is the second operand, and so never taken).
template <int Op>
__device__ __forceinline__ double combine(double a, double b) {
  if constexpr (Op == ALLOY_REDUCE_MAX_ABS) {
    return fmax(a, b);
  } else {
    return a + b;
  }
}

// The block's total in thread 0 (blockDim.x a multiple of 32, at most 1024).
template <int Op>
__device__ double block_reduce(double value) {
  __shared__ double warps[32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    value = combine<Op>(value, __shfl_down_sync(0xffffffffu, value, offset));
  }
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  if (lane == 0) warps[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < int(blockDim.x / 32) ? warps[lane] : 0.0;
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      value = combine<Op>(value, __shfl_down_sync(0xffffffffu, value, offset));
    }
  }
  return value;
}

// partials[block] = the reduction of the block's grid-stride share, read as float4 when x is
// 16-byte aligned (the first threads of the grid take the last n % 4 elements).
template <int Op>
__global__ void reduce_blocks(const float* x, uint64_t n, bool vector, double* partials) {
  double acc = 0;
  if (vector) {
    const uint64_t n4 = n / 4;
    ALLOY_GRID_STRIDE(j, n4) {
      const float4 v = reinterpret_cast<const float4*>(x)[j];
      // Pairwise within the four, then into the running total.
      acc = combine<Op>(acc, combine<Op>(combine<Op>(term<Op>(v.x), term<Op>(v.y)),
                                         combine<Op>(term<Op>(v.z), term<Op>(v.w))));
    }
    const uint64_t tail = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x + 4 * n4;
    if (tail < n) acc = combine<Op>(acc, term<Op>(x[tail]));
  } else {
    ALLOY_GRID_STRIDE(i, n) acc = combine<Op>(acc, term<Op>(x[i]));
  }
  acc = block_reduce<Op>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <int Op>
__global__ void reduce_partials(const double* partials, uint64_t count, double* result) {
  double acc = 0;
  for (uint64_t i = threadIdx.x; i < count; i += blockDim.x) acc = combine<Op>(acc, partials[i]);
  acc = block_reduce<Op>(acc);
  if (threadIdx.x == 0) *result = acc;
}

template <int Op>
void launch(const float* x, uint64_t n, double* scratch, cudaStream_t stream) {
  const uint64_t blocks = blocks_for(n);
  const bool vector = reinterpret_cast<uintptr_t>(x) % 16 == 0;
  // A float4 grid needs enough threads for the tail too: kThreads >= 4 always.
  reduce_blocks<Op>
      <<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, n, vector, scratch + 1);
  check_launch("reduce");
  reduce_partials<Op><<<1, kMaxBlocks, 0, stream>>>(scratch + 1, blocks, scratch);
  check_launch("reduce (partials)");
}

}  // namespace

uint64_t reduce_scratch(uint64_t n) { return 1 + blocks_for(n); }

void reduce(int32_t op, const float* x, uint64_t n, double* scratch, cudaStream_t stream) {
  switch (op) {
    case ALLOY_REDUCE_SUM:
      return launch<ALLOY_REDUCE_SUM>(x, n, scratch, stream);
    case ALLOY_REDUCE_ABS_SUM:
      return launch<ALLOY_REDUCE_ABS_SUM>(x, n, scratch, stream);
    case ALLOY_REDUCE_L2_NORM:
      return launch<ALLOY_REDUCE_L2_NORM>(x, n, scratch, stream);
    case ALLOY_REDUCE_MAX_ABS:
      return launch<ALLOY_REDUCE_MAX_ABS>(x, n, scratch, stream);
    case ALLOY_REDUCE_COUNT_NONZERO:
      return launch<ALLOY_REDUCE_COUNT_NONZERO>(x, n, scratch, stream);
    default:
      return;  // the provider checked the code
  }
}

}  // namespace alloy::cuda
