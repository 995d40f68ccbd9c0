#include "compute/cpu/elementwise_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "compute/cpu/parallel.hpp"
#include "error.hpp"

namespace alloy::cpu {
namespace {

template <typename F>
void map(float* dst, const float* src, uint64_t n, F f) {
  parallel_for(n, [&](int64_t i) { dst[i] = f(src[i]); });
}

}  // namespace

void fill(float* dst, uint64_t n, float value) {
  parallel_for(n, [&](int64_t i) { dst[i] = value; });
}

void unary(int32_t op, float* dst, const float* src, uint64_t n, float alpha, float beta) {
  switch (op) {
    case ALLOY_UNARY_SIGN:  // branch-free, so random signs cost no mispredictions; NaN stays NaN
      return map(dst, src, n,
                 [](float v) { return v != v ? v : static_cast<float>((v > 0) - (v < 0)); });
    case ALLOY_UNARY_EXP:
      return map(dst, src, n, [](float v) { return std::exp(v); });
    case ALLOY_UNARY_LOG:
      return map(dst, src, n, [](float v) { return std::log(v); });
    case ALLOY_UNARY_CLIP:
      return map(dst, src, n, [=](float v) { return std::min(std::max(v, alpha), beta); });
    default:
      fail(ALLOY_ERR_INTERNAL, "unary: no own CPU kernel for op {}", op);
  }
}

void axpby(float alpha, const float* x, float beta, float* y, uint64_t n) {
  parallel_for(n, [&](int64_t i) { y[i] = alpha * x[i] + beta * y[i]; });
}

void where(float* dst, const float* cond, const float* a, const float* b, uint64_t n) {
  if (b) {
    parallel_for(n, [&](int64_t i) { dst[i] = cond[i] != 0 ? a[i] : b[i]; });
  } else {
    parallel_for(n, [&](int64_t i) { dst[i] = cond[i] != 0 ? a[i] : 0.0f; });
  }
}

void sign_elect(int32_t method, float* dst, const std::vector<const float*>& xs, uint64_t n) {
  if (method == ALLOY_ELECT_SUM) {
    // In double a few f32 values add up exactly unless their magnitudes lie ~2^29 apart, so a
    // total near zero gets its true sign, not one decided by f32 rounding in model order.
    parallel_for(n, [&](int64_t i) {
      double sum = 0;
      for (const float* x : xs) sum += x[i];
      dst[i] = sum >= 0 ? 1.0f : -1.0f;
    });
  } else {
    parallel_for(n, [&](int64_t i) {
      int64_t votes = 0;
      for (const float* x : xs) votes += (x[i] > 0) - (x[i] < 0);
      dst[i] = votes >= 0 ? 1.0f : -1.0f;
    });
  }
}

}  // namespace alloy::cpu
