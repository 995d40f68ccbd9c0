#include "compute/cpu/row_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "compute/cpu/parallel.hpp"

namespace alloy::cpu {
namespace {

float row_max(const float* x, int64_t n) {
  float m = x[0];
  for (int64_t j = 1; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

// e[j] = exp(x[j] - max) and their sum: the stable form of the softmax denominator, with
// log(sum) + max = logsumexp(x).
double shifted_exps(float* e, const float* x, int64_t n, float max) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    e[j] = std::exp(x[j] - max);
    sum += e[j];
  }
  return sum;
}

}  // namespace

void l2_normalize(float* y, float* norm, const float* x, int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, cols, [&](int64_t r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    double squares = 0;
#pragma omp simd reduction(+ : squares)
    for (int64_t j = 0; j < cols; ++j) squares += static_cast<double>(in[j]) * in[j];
    norm[r] = static_cast<float>(std::sqrt(squares));
    const float divisor = std::max(norm[r], eps);
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) out[j] = in[j] / divisor;
  });
}

void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norm,
                           int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, cols, [&](int64_t r) {
    const float* g = dy + r * cols;
    const float* out = y + r * cols;
    float* d = dx + r * cols;
    if (norm[r] < eps) {  // y = x / eps: clamped, as torch's clamp_min passes no gradient
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) d[j] = g[j] / eps;
      return;
    }
    // y = x / |x|: dx = (dy - y (y . dy)) / |x|
    double dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; ++j) dot += static_cast<double>(out[j]) * g[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) {
      d[j] = static_cast<float>((g[j] - out[j] * dot) / norm[r]);
    }
  });
}

void cross_entropy(float* losses, float* dlogits, const float* logits, const int32_t* labels,
                   int64_t rows, int64_t classes, float grad_scale) {
  parallel_for(rows, classes, [&](int64_t r) {
    const float* x = logits + r * classes;
    float* d = dlogits + r * classes;
    const float max = row_max(x, classes);
    const double sum = shifted_exps(d, x, classes, max);
    losses[r] = static_cast<float>(max + std::log(sum) - x[labels[r]]);
    for (int64_t j = 0; j < classes; ++j) {
      const double target = j == labels[r] ? 1.0 : 0.0;
      d[j] = static_cast<float>(grad_scale * (d[j] / sum - target));
    }
  });
}

void softmax_entropy(float* entropies, float* dlogits, const float* logits, int64_t rows,
                     int64_t classes, float grad_scale) {
  parallel_for(rows, classes, [&](int64_t r) {
    const float* x = logits + r * classes;
    float* d = dlogits + r * classes;
    const float max = row_max(x, classes);
    const double sum = shifted_exps(d, x, classes, max);
    const double log_sum = std::log(sum);
    // log p = x - max - log(sum): finite even where p underflows to 0.
    double entropy = 0;
    for (int64_t j = 0; j < classes; ++j) entropy -= d[j] / sum * (x[j] - max - log_sum);
    entropies[r] = static_cast<float>(entropy);
    for (int64_t j = 0; j < classes; ++j) {
      const double p = d[j] / sum;
      d[j] = static_cast<float>(-grad_scale * p * (x[j] - max - log_sum + entropy));
    }
  });
}

void argmax(int32_t* indices, const float* x, int64_t rows, int64_t cols) {
  parallel_for(rows, cols, [&](int64_t r) {
    const float* v = x + r * cols;
    int64_t best = 0;
    for (int64_t j = 1; j < cols && !std::isnan(v[best]); ++j) {
      if (v[j] > v[best] || std::isnan(v[j])) best = j;
    }
    indices[r] = static_cast<int32_t>(best);
  });
}

}  // namespace alloy::cpu
