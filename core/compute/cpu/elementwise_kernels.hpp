// Own OpenMP kernels for the element-wise ops oneDNN has no primitive for, or computes less
// exactly than the C library. Arguments are checked by the provider; dst may alias any input.
#pragma once

#include <cstdint>
#include <vector>

namespace alloy::cpu {

void fill(float* dst, uint64_t n, float value);

// ALLOY_UNARY_SIGN, EXP, LOG and CLIP (any bounds); the provider sends the other ops to oneDNN.
void unary(int32_t op, float* dst, const float* src, uint64_t n, float alpha, float beta);

// y = alpha * x + beta * y.
void axpby(float alpha, const float* x, float beta, float* y, uint64_t n);

// dst = cond != 0 ? a : b, with b == nullptr meaning 0.
void where(float* dst, const float* cond, const float* a, const float* b, uint64_t n);

// dst = +1 where the elected sign (ALLOY_ELECT_*) of xs at that element is >= 0, else -1.
void sign_elect(int32_t method, float* dst, const std::vector<const float*>& xs, uint64_t n);

}  // namespace alloy::cpu
