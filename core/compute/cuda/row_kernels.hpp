// Kernels of the ops that work row by row (a row is the last axis): layer normalisation,
// softmax, L2 normalisation, the losses on logits, argmax. One warp per row, or one block per
// row for rows longer than 1024 floats; rows of up to 32 floats a thread are held in registers
// between passes. Reductions run in a fixed order, so results do not depend on timing.
// Launchers take raw device pointers, enqueue on `stream` and return at once; the provider has
// checked the arguments (nn_checks.hpp): rows >= 1 and cols >= 1 unless said otherwise, outputs
// alias no input.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace alloy::cuda {

// y = (x - mean) * rstd * gamma + beta per row, with the biased variance; mean and rstd saved.
void layer_norm(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                const float* beta, int64_t rows, int64_t cols, float eps, cudaStream_t stream);
// Floats of scratch layer_norm_backward needs (0: it needs none).
uint64_t layer_norm_backward_scratch(int64_t rows, int64_t cols);
// dx overwritten; dgamma and dbeta accumulated into (+=), reduced over rows without atomics.
void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* gamma, int64_t rows,
                         int64_t cols, float* scratch, cudaStream_t stream);

// y = softmax(scale * x); dx = scale * y * (dy - sum(dy * y)).
void softmax(float* y, const float* x, int64_t rows, int64_t cols, float scale,
             cudaStream_t stream);
void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols,
                      float scale, cudaStream_t stream);

// cols may be 0 (norms of 0).
void l2_normalize(float* y, float* norm, const float* x, int64_t rows, int64_t cols, float eps,
                  cudaStream_t stream);
void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norm,
                           int64_t rows, int64_t cols, float eps, cudaStream_t stream);

// labels (device memory) are in [0, classes): the provider checked them on the host.
void cross_entropy(float* losses, float* dlogits, const float* logits, const int32_t* labels,
                   int64_t rows, int64_t classes, float grad_scale, cudaStream_t stream);
void softmax_entropy(float* entropies, float* dlogits, const float* logits, int64_t rows,
                     int64_t classes, float grad_scale, cudaStream_t stream);

// The first position of each row's maximum; NaN counts as larger than any number.
void argmax(int32_t* indices, const float* x, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace alloy::cuda
