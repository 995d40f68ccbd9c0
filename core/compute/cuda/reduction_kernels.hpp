// Full reductions (ALLOY_REDUCE_*) of the CUDA provider, accumulated in double as the CPU
// provider does: each thread sums its grid-stride share, blocks reduce their threads in a tree
// of warp shuffles, and one last block sums the blocks' partials in a fixed order. The grid
// depends only on n, so a tensor reduces to the same double on every run and every device.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace alloy::cuda {

// Doubles of device scratch reduce() needs for n elements (n >= 1): the result and the
// partials of the blocks.
uint64_t reduce_scratch(uint64_t n);

// scratch[0] = the reduction of x[0, n) (n >= 1) with op, an ALLOY_REDUCE_* code: SUM,
// ABS_SUM, the sum of squares for L2_NORM (the caller takes the square root), MAX_ABS
// (ignoring NaN, as std::max in the CPU's loop does; 0 when all are NaN), COUNT_NONZERO
// (exact: integers below 2^53). scratch holds reduce_scratch(n) doubles.
void reduce(int32_t op, const float* x, uint64_t n, double* scratch, cudaStream_t stream);

}  // namespace alloy::cuda
