#include "compute/cpu/reduction_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "compute/cpu/parallel.hpp"
#include "error.hpp"

namespace alloy::cpu {
namespace {

template <typename Term>
double sum_of(const float* x, uint64_t n, Term term) {
  const auto count = static_cast<int64_t>(n);
  double sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum) if (count >= kParallelGrain)
  for (int64_t i = 0; i < count; ++i) sum += term(x[i]);
  return sum;
}

double max_abs(const float* x, uint64_t n) {
  const auto count = static_cast<int64_t>(n);
  float max = 0;
#pragma omp parallel for schedule(static) reduction(max : max) if (count >= kParallelGrain)
  for (int64_t i = 0; i < count; ++i) max = std::max(max, std::fabs(x[i]));
  return max;
}

}  // namespace

double reduce(int32_t op, const float* x, uint64_t n) {
  switch (op) {
    case ALLOY_REDUCE_SUM:
      return sum_of(x, n, [](float v) { return static_cast<double>(v); });
    case ALLOY_REDUCE_ABS_SUM:
      return sum_of(x, n, [](float v) { return static_cast<double>(std::fabs(v)); });
    case ALLOY_REDUCE_L2_NORM:
      return std::sqrt(sum_of(x, n, [](float v) { return static_cast<double>(v) * v; }));
    case ALLOY_REDUCE_MAX_ABS:
      return max_abs(x, n);
    case ALLOY_REDUCE_COUNT_NONZERO:
      return sum_of(x, n, [](float v) { return v != 0 ? 1.0 : 0.0; });
    default:
      fail(ALLOY_ERR_INTERNAL, "reduce: no CPU kernel for op {}", op);
  }
}

}  // namespace alloy::cpu
