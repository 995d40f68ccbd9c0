// Own OpenMP kernels of the ops that work row by row (a row is the last axis): L2
// normalisation, the losses on logits, argmax. One task per row, sums in double, so results do
// not depend on the thread count. Arguments are checked by the provider (nn_checks.hpp);
// outputs alias no input.
#pragma once

#include <cstdint>

namespace alloy::cpu {

// cols may be 0 (norms of 0).
void l2_normalize(float* y, float* norm, const float* x, int64_t rows, int64_t cols, float eps);
void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norm,
                           int64_t rows, int64_t cols, float eps);

// labels are in [0, classes).
void cross_entropy(float* losses, float* dlogits, const float* logits, const int32_t* labels,
                   int64_t rows, int64_t classes, float grad_scale);
void softmax_entropy(float* entropies, float* dlogits, const float* logits, int64_t rows,
                     int64_t classes, float grad_scale);

// cols >= 1. NaN counts as larger than any number.
void argmax(int32_t* indices, const float* x, int64_t rows, int64_t cols);

}  // namespace alloy::cpu
