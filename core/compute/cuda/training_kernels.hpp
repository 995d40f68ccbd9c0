// Element-wise kernels of the model runtime and its training loop: the activations and their
// gradients, the optimiser step, the random initialisation. Launchers take raw device
// pointers, enqueue on `stream` and return at once; the provider has checked the arguments
// (nn_checks.hpp): n >= 1, outputs alias no input.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "compute/provider.hpp"

namespace alloy::cuda {

// y = act(x); dx = dy * act'(x).
void activation(Activation kind, float* y, const float* x, uint64_t n, cudaStream_t stream);
void activation_backward(Activation kind, float* dx, const float* dy, const float* x, uint64_t n,
                         cudaStream_t stream);

// x *= alpha, rounded once per element (gemm_batched's beta * c when K is 0).
void scale(float* x, uint64_t n, float alpha, cudaStream_t stream);

// One AdamW step on n elements, in F32 with torch's order of operations, rounding exactly as
// the CPU provider does (no contraction into FMAs).
void adam(float* param, const float* grad, float* m, float* v, uint64_t n, const AdamStep& step,
          cudaStream_t stream);

// The counter-based fill documented at Provider::fill_random, bit for bit the CPU provider's.
void fill_random(float* dst, uint64_t n, Distribution dist, double a, double b, uint64_t seed,
                 cudaStream_t stream);

}  // namespace alloy::cuda
