#include <cmath>
#include <limits>

#include "compute/cuda/cuda_device.hpp"
#include "compute/cuda/kernel_launch.cuh"
#include "compute/cuda/training_kernels.hpp"

namespace alloy::cuda {
namespace {

// --- activations -----------------------------------------------------------------------------

constexpr float kSqrtHalf = 0.70710678118654752f;    // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1 / sqrt(2 pi)
constexpr float kTanhScale = 0.79788456080286536f;   // sqrt(2 / pi)
constexpr float kTanhCubic = 0.044715f;
constexpr float kQuickScale = 1.702f;

// sigmoid(t) = 1 / (1 + e) with e = exp(-t), and 1 - sigmoid(t) as e * sigmoid(t), which keeps
// its digits where sigmoid(t) is close to 1 (e = inf: sigmoid 0, 1 - sigmoid 1).
struct Sigmoid {
  float s;
  float one_minus_s;
};
__device__ __forceinline__ Sigmoid sigmoid(float t) {
  const float e = expf(-t);
  const float s = 1.0f / (1.0f + e);
  return {s, isinf(e) ? 1.0f : e * s};
}

// The forms below are the definitions rewritten to avoid cancellation: x Phi(x) with Phi from
// erfc (1 + erf(x) loses Phi's digits at negative x), and 0.5 (1 + tanh u) = sigmoid(2u).
template <Activation kKind>
__device__ __forceinline__ float activate(float x) {
  if constexpr (kKind == Activation::gelu) {
    return x * (0.5f * erfcf(-x * kSqrtHalf));
  } else if constexpr (kKind == Activation::gelu_tanh) {
    const float u = kTanhScale * (x + kTanhCubic * x * x * x);
    return x * sigmoid(2.0f * u).s;
  } else if constexpr (kKind == Activation::quick_gelu) {
    return x * sigmoid(kQuickScale * x).s;
  } else {
    return x > 0.0f || isnan(x) ? x : 0.0f;  // NaN propagates, as in torch
  }
}

// dy * act'(x).
template <Activation kKind>
__device__ __forceinline__ float activate_backward(float dy, float x) {
  if constexpr (kKind == Activation::gelu) {
    const float phi = kInvSqrt2Pi * expf(-0.5f * x * x);
    return dy * (0.5f * erfcf(-x * kSqrtHalf) + x * phi);
  } else if constexpr (kKind == Activation::gelu_tanh) {
    const float x2 = x * x;
    const Sigmoid g = sigmoid(2.0f * kTanhScale * (x + kTanhCubic * x2 * x));
    // d/dx x sigmoid(2u) = s + 2 x s (1 - s) u'
    const float du = kTanhScale * (1.0f + 3.0f * kTanhCubic * x2);
    return dy * (g.s + 2.0f * x * g.s * g.one_minus_s * du);
  } else if constexpr (kKind == Activation::quick_gelu) {
    const Sigmoid g = sigmoid(kQuickScale * x);
    return dy * (g.s + kQuickScale * x * g.s * g.one_minus_s);
  } else {
    return x > 0.0f ? dy : 0.0f;  // no gradient at 0 (nor -0), as torch's
  }
}

template <Activation kKind>
__global__ void activation_kernel(float* __restrict__ y, const float* __restrict__ x, uint64_t n) {
  ALLOY_GRID_STRIDE(i, n) { y[i] = activate<kKind>(x[i]); }
}

template <Activation kKind>
__global__ void activation_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                           const float* __restrict__ x, uint64_t n) {
  ALLOY_GRID_STRIDE(i, n) { dx[i] = activate_backward<kKind>(dy[i], x[i]); }
}

__global__ void scale_kernel(float* __restrict__ x, uint64_t n, float alpha) {
  ALLOY_GRID_STRIDE(i, n) { x[i] *= alpha; }
}

// --- adam ------------------------------------------------------------------------------------

// The step's scalars, computed in double on the host and rounded to F32, as ATen does with
// Python scalars.
struct AdamScalars {
  float decay;
  float m_weight;
  float beta2;
  float v_weight;
  float neg_step_size;
  float correction2_sqrt;
  float eps;
};

// ATen's lerp: start + weight * (end - start), from the nearer end. The _rn intrinsics round
// each operation as written (nvcc would otherwise contract products and sums into FMAs), so
// that the step is bit for bit the CPU provider's.
__device__ __forceinline__ float lerp(float start, float end, float weight) {
  const float diff = __fsub_rn(end, start);
  return fabsf(weight) < 0.5f ? __fadd_rn(start, __fmul_rn(weight, diff))
                              : __fsub_rn(end, __fmul_rn(diff, __fsub_rn(1.0f, weight)));
}

__global__ void adam_kernel(float* __restrict__ param, const float* __restrict__ grad,
                            float* __restrict__ m, float* __restrict__ v, uint64_t n,
                            AdamScalars s) {
  ALLOY_GRID_STRIDE(i, n) {
    const float g = grad[i];
    const float p = __fmul_rn(param[i], s.decay);  // param.mul_(1 - lr * wd)
    const float mi = lerp(m[i], g, s.m_weight);    // exp_avg.lerp_(grad, 1 - beta1)
    // exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
    const float vi = __fadd_rn(__fmul_rn(v[i], s.beta2), __fmul_rn(__fmul_rn(s.v_weight, g), g));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), s.correction2_sqrt), s.eps);
    param[i] = __fadd_rn(p, __fmul_rn(s.neg_step_size, __fdiv_rn(mi, denom)));
  }
}

// --- fill_random -----------------------------------------------------------------------------

// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014).
__host__ __device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;
constexpr double k2to32 = 4294967296.0;
constexpr double kTwoPi = 6.283185307179586;

// All double arithmetic through _rn intrinsics: one rounding per operation as written, never an
// FMA, as the CPU provider computes (and Provider::fill_random documents).
__global__ void fill_uniform_kernel(float* __restrict__ dst, uint64_t n, uint64_t key, double a,
                                    double b, float low, float high) {
  ALLOY_GRID_STRIDE(i, n) {
    const uint64_t r = mix64(key + (i + 1) * kGoldenGamma);
    const double u = __dmul_rn(static_cast<double>(r >> 11), 0x1p-53);
    const auto value = static_cast<float>(__dadd_rn(a, __dmul_rn(__dsub_rn(b, a), u)));
    dst[i] = value < a ? low : value >= b ? high : value;
  }
}

// Box-Muller's cosine half. CUDA's double log and cos are within an ulp or two of the correctly
// rounded result, as the host's libm is; after the rounding to F32 they agree but where the
// double result lies within a few double ulps of a rounding boundary of F32.
__global__ void fill_normal_kernel(float* __restrict__ dst, uint64_t n, uint64_t key, double a,
                                   double b) {
  ALLOY_GRID_STRIDE(i, n) {
    const uint64_t r = mix64(key + (i + 1) * kGoldenGamma);
    const double u1 = __ddiv_rn(__dadd_rn(static_cast<double>(r >> 32), 1.0), k2to32);  // (0, 1]
    const double u2 = __ddiv_rn(static_cast<double>(r & 0xffffffffu), k2to32);          // [0, 1)
    const double z = __dmul_rn(__dsqrt_rn(__dmul_rn(-2.0, log(u1))), cos(__dmul_rn(kTwoPi, u2)));
    dst[i] = static_cast<float>(__dadd_rn(a, __dmul_rn(b, z)));
  }
}

// The largest float below x and the smallest float at or above x.
float float_below(double x) {
  const auto f = static_cast<float>(x);
  return f < x ? f : std::nextafter(f, -std::numeric_limits<float>::infinity());
}
float float_at_or_above(double x) {
  const auto f = static_cast<float>(x);
  return f >= x ? f : std::nextafter(f, std::numeric_limits<float>::infinity());
}

template <Activation kKind>
void launch_activation(float* y, const float* x, uint64_t n, cudaStream_t stream) {
  activation_kernel<kKind><<<grid_for(n), kBlock, 0, stream>>>(y, x, n);
}

template <Activation kKind>
void launch_activation_backward(float* dx, const float* dy, const float* x, uint64_t n,
                                cudaStream_t stream) {
  activation_backward_kernel<kKind><<<grid_for(n), kBlock, 0, stream>>>(dx, dy, x, n);
}

}  // namespace

void activation(Activation kind, float* y, const float* x, uint64_t n, cudaStream_t stream) {
  switch (kind) {
    case Activation::gelu:
      launch_activation<Activation::gelu>(y, x, n, stream);
      break;
    case Activation::gelu_tanh:
      launch_activation<Activation::gelu_tanh>(y, x, n, stream);
      break;
    case Activation::quick_gelu:
      launch_activation<Activation::quick_gelu>(y, x, n, stream);
      break;
    case Activation::relu:
      launch_activation<Activation::relu>(y, x, n, stream);
      break;
  }
  check_launch("activation");
}

void activation_backward(Activation kind, float* dx, const float* dy, const float* x, uint64_t n,
                         cudaStream_t stream) {
  switch (kind) {
    case Activation::gelu:
      launch_activation_backward<Activation::gelu>(dx, dy, x, n, stream);
      break;
    case Activation::gelu_tanh:
      launch_activation_backward<Activation::gelu_tanh>(dx, dy, x, n, stream);
      break;
    case Activation::quick_gelu:
      launch_activation_backward<Activation::quick_gelu>(dx, dy, x, n, stream);
      break;
    case Activation::relu:
      launch_activation_backward<Activation::relu>(dx, dy, x, n, stream);
      break;
  }
  check_launch("activation_backward");
}

void scale(float* x, uint64_t n, float alpha, cudaStream_t stream) {
  scale_kernel<<<grid_for(n), kBlock, 0, stream>>>(x, n, alpha);
  check_launch("scale");
}

void adam(float* param, const float* grad, float* m, float* v, uint64_t n, const AdamStep& step,
          cudaStream_t stream) {
  // torch.optim.AdamW (_single_tensor_adamw), the scalars exactly as the CPU provider has them.
  const double correction1 = 1.0 - std::pow(step.beta1, static_cast<double>(step.step));
  const double correction2 = 1.0 - std::pow(step.beta2, static_cast<double>(step.step));
  AdamScalars s;
  s.decay = static_cast<float>(1.0 - step.lr * step.weight_decay);
  s.m_weight = static_cast<float>(1.0 - step.beta1);
  s.beta2 = static_cast<float>(step.beta2);
  s.v_weight = static_cast<float>(1.0 - step.beta2);
  s.neg_step_size = static_cast<float>(-(step.lr / correction1));
  s.correction2_sqrt = static_cast<float>(std::sqrt(correction2));
  s.eps = static_cast<float>(step.eps);
  adam_kernel<<<grid_for(n), kBlock, 0, stream>>>(param, grad, m, v, n, s);
  check_launch("adam");
}

void fill_random(float* dst, uint64_t n, Distribution dist, double a, double b, uint64_t seed,
                 cudaStream_t stream) {
  const uint64_t key = mix64(seed);
  if (dist == Distribution::uniform) {
    fill_uniform_kernel<<<grid_for(n), kBlock, 0, stream>>>(dst, n, key, a, b, float_at_or_above(a),
                                                            float_below(b));
  } else {
    fill_normal_kernel<<<grid_for(n), kBlock, 0, stream>>>(dst, n, key, a, b);
  }
  check_launch("fill_random");
}

}  // namespace alloy::cuda
