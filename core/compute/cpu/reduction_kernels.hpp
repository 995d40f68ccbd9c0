// Own OpenMP kernels for the full reductions (ALLOY_REDUCE_*), accumulating in double.
//
// oneDNN 2.6's reduction primitive accumulates in f32: summing 1e8 uniform [0, 1) values
// with it here came out 3e-6 off in relative terms (about 50 f32 ulps), and norms and sums
// of whole weight tensors feed thresholds and scale factors that CPU and CUDA runs must agree
// on. Double accumulation of f32 inputs costs nothing on these memory-bound loops. MAX_ABS
// is exact in any precision but oneDNN has no max-of-|x| reduction (it would take a max and
// a min pass), and COUNT_NONZERO has no oneDNN counterpart.
#pragma once

#include <cstdint>

namespace alloy::cpu {

// 0 for n == 0 (every op).
double reduce(int32_t op, const float* x, uint64_t n);

}  // namespace alloy::cpu
