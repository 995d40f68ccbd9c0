#include "compute/cpu/training_kernels.hpp"

#include <cmath>
#include <limits>

#include "compute/cpu/parallel.hpp"

namespace alloy::cpu {
namespace {

// ATen's lerp: start + weight * (end - start), from the nearer end.
float lerp(float start, float end, float weight) {
  return std::fabs(weight) < 0.5f ? start + weight * (end - start)
                                  : end - (end - start) * (1.0f - weight);
}

// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014).
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;

// The largest float below x and the smallest float at or above x.
float float_below(double x) {
  const auto f = static_cast<float>(x);
  return f < x ? f : std::nextafter(f, -std::numeric_limits<float>::infinity());
}
float float_at_or_above(double x) {
  const auto f = static_cast<float>(x);
  return f >= x ? f : std::nextafter(f, std::numeric_limits<float>::infinity());
}

}  // namespace

void adam(float* param, const float* grad, float* m, float* v, uint64_t n, const AdamStep& step) {
  // torch.optim.AdamW (_single_tensor_adamw): the scalars in double, rounded to F32 for the
  // element-wise F32 arithmetic, as ATen does with Python scalars.
  const auto decay = static_cast<float>(1.0 - step.lr * step.weight_decay);
  const auto m_weight = static_cast<float>(1.0 - step.beta1);
  const auto beta2 = static_cast<float>(step.beta2);
  const auto v_weight = static_cast<float>(1.0 - step.beta2);
  const double correction1 = 1.0 - std::pow(step.beta1, static_cast<double>(step.step));
  const double correction2 = 1.0 - std::pow(step.beta2, static_cast<double>(step.step));
  const auto neg_step_size = static_cast<float>(-(step.lr / correction1));
  const auto correction2_sqrt = static_cast<float>(std::sqrt(correction2));
  const auto eps = static_cast<float>(step.eps);
  parallel_for(n, [&](int64_t i) {
    const float g = grad[i];
    const float p = param[i] * decay;        // param.mul_(1 - lr * wd)
    m[i] = lerp(m[i], g, m_weight);          // exp_avg.lerp_(grad, 1 - beta1)
    v[i] = v[i] * beta2 + v_weight * g * g;  // exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
    const float denom = std::sqrt(v[i]) / correction2_sqrt + eps;
    param[i] = p + neg_step_size * (m[i] / denom);  // param.addcdiv_(m, denom, -step_size)
  });
}

void fill_random(float* dst, uint64_t n, Distribution dist, double a, double b, uint64_t seed) {
  const uint64_t key = mix64(seed);
  const auto bits = [&](int64_t i) {
    return mix64(key + (static_cast<uint64_t>(i) + 1) * kGoldenGamma);
  };
  constexpr double k2to32 = 4294967296.0;
  if (dist == Distribution::uniform) {
    const float low = float_at_or_above(a);
    const float high = float_below(b);
    parallel_for(n, [&](int64_t i) {
      const double u = static_cast<double>(bits(i) >> 11) * 0x1p-53;
      const auto value = static_cast<float>(a + (b - a) * u);
      dst[i] = value < a ? low : value >= b ? high : value;
    });
    return;
  }
  constexpr double kTwoPi = 6.283185307179586;
  parallel_for(n, [&](int64_t i) {
    const uint64_t r = bits(i);
    const double u1 = (static_cast<double>(r >> 32) + 1.0) / k2to32;  // (0, 1]
    const double u2 = static_cast<double>(r & 0xffffffffu) / k2to32;  // [0, 1)
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
    dst[i] = static_cast<float>(a + b * z);
  });
}

}  // namespace alloy::cpu
