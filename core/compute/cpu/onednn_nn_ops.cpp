#include "compute/cpu/onednn_nn_ops.hpp"

#include <cmath>
#include <vector>

#include "compute/cpu/onednn_context.hpp"
#include "compute/cpu/parallel.hpp"

namespace alloy::cpu::onednn {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

float* floats(Tensor& tensor) { return tensor.data_as<float>(); }
const float* floats(const Tensor& tensor) { return tensor.data_as<const float>(); }

// x as [rows, channels]: the last axis against all the others.
memory::dims rows_by_channels(const Tensor& x) {
  const memory::dim channels = x.shape().back();
  return {static_cast<memory::dim>(x.numel()) / channels, channels};
}

// Scratch memory of the calling thread, reused across calls.
float* scratch(std::size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

void scale_in_place(float* x, uint64_t n, float scale) {
  parallel_for(n, [&](int64_t i) { x[i] *= scale; });
}

const auto kNormalizationFlags =
    dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;

dnnl::layer_normalization_forward::primitive_desc layer_norm_forward_desc(const memory::desc& data,
                                                                          const memory::desc& stats,
                                                                          float eps) {
  return {{prop_kind::forward_training, data, stats, eps, kNormalizationFlags}, cpu_engine()};
}

dnnl::softmax_v2_forward::primitive_desc softmax_forward_desc(const memory::desc& data) {
  return {{prop_kind::forward_training, algorithm::softmax_accurate, data, data, 1}, cpu_engine()};
}

struct Eltwise {
  algorithm alg;
  float alpha;
};

Eltwise eltwise(Activation kind) {
  switch (kind) {
    case Activation::gelu:
      return {algorithm::eltwise_gelu_erf, 0.0f};
    case Activation::gelu_tanh:
      return {algorithm::eltwise_gelu_tanh, 0.0f};
    case Activation::quick_gelu:  // x * sigmoid(alpha x)
      return {algorithm::eltwise_swish, 1.702f};
    case Activation::relu:  // alpha is the negative slope; backward passes dy where x > 0
      return {algorithm::eltwise_relu, 0.0f};
  }
  fail(ALLOY_ERR_INTERNAL, "activation: no oneDNN algorithm for activation {}",
       static_cast<int32_t>(kind));
}

dnnl::eltwise_forward::primitive_desc eltwise_forward_desc(const Eltwise& e,
                                                           const memory::desc& data) {
  return {{prop_kind::forward_training, e.alg, data, e.alpha, 0.0f}, cpu_engine()};
}

}  // namespace

void layer_norm(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                const Tensor& beta, float eps) {
  const memory::dims dims = rows_by_channels(x);
  const memory::desc data = dense(dims);
  const memory::desc stats = dense({dims[0]});
  const memory::desc params = dense({dims[1]});
  // oneDNN saves the variance; it goes into rstd, which is then turned into 1 / sqrt(var + eps)
  // as oneDNN computed it.
  execute_cached(
      "layer_norm", fmt::format("layer_norm {} {} {}", dims[0], dims[1], eps),
      [&] { return dnnl::layer_normalization_forward(layer_norm_forward_desc(data, stats, eps)); },
      {{DNNL_ARG_SRC, bind(data, x.data())},
       {DNNL_ARG_DST, bind(data, y.data())},
       {DNNL_ARG_SCALE, bind(params, gamma.data())},
       {DNNL_ARG_SHIFT, bind(params, beta.data())},
       {DNNL_ARG_MEAN, bind(stats, mean.data())},
       {DNNL_ARG_VARIANCE, bind(stats, rstd.data())}});
  float* r = floats(rstd);
  parallel_for(rstd.numel(), [&](int64_t i) { r[i] = 1.0f / std::sqrt(r[i] + eps); });
}

void layer_norm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                         const Tensor& x, const Tensor& mean, const Tensor& rstd,
                         const Tensor& gamma) {
  const memory::dims dims = rows_by_channels(x);
  const memory::desc data = dense(dims);
  const memory::desc stats = dense({dims[0]});
  const memory::desc params = dense({dims[1]});
  // oneDNN takes the variance and eps; var = 1 / rstd^2 with eps 0 gives it rstd back (within
  // an ulp) without knowing the forward eps. Its parameter gradients overwrite, alloy's add.
  float* variance = scratch(dims[0] + 2 * dims[1]);
  float* dgamma_step = variance + dims[0];
  float* dbeta_step = dgamma_step + dims[1];
  const float* r = floats(rstd);
  parallel_for(dims[0], [&](int64_t i) {
    variance[i] = static_cast<float>(1.0 / (static_cast<double>(r[i]) * r[i]));
  });
  execute_cached(
      "layer_norm_backward", fmt::format("layer_norm_backward {} {}", dims[0], dims[1]),
      [&] {
        const dnnl::layer_normalization_backward::desc desc(prop_kind::backward, data, data, stats,
                                                            0.0f, kNormalizationFlags);
        return dnnl::layer_normalization_backward(
            {desc, cpu_engine(), layer_norm_forward_desc(data, stats, 0.0f)});
      },
      {{DNNL_ARG_SRC, bind(data, x.data())},
       {DNNL_ARG_MEAN, bind(stats, mean.data())},
       {DNNL_ARG_VARIANCE, bind(stats, variance)},
       {DNNL_ARG_DIFF_DST, bind(data, dy.data())},
       {DNNL_ARG_SCALE, bind(params, gamma.data())},
       // oneDNN 2.6 refuses to run without a shift, which the gradients do not depend on.
       {DNNL_ARG_SHIFT, bind(params, gamma.data())},
       {DNNL_ARG_DIFF_SRC, bind(data, dx.data())},
       {DNNL_ARG_DIFF_SCALE, bind(params, dgamma_step)},
       {DNNL_ARG_DIFF_SHIFT, bind(params, dbeta_step)}});
  float* dg = floats(dgamma);
  float* db = floats(dbeta);
#pragma omp simd
  for (memory::dim i = 0; i < dims[1]; ++i) {
    dg[i] += dgamma_step[i];
    db[i] += dbeta_step[i];
  }
}

void softmax(Tensor& y, const Tensor& x, float scale) {
  const memory::dims dims = rows_by_channels(x);
  const memory::desc data = dense(dims);
  // softmax_v2 has no input scale: y = scale * x first, then softmax in place.
  void* src = x.data();
  if (scale != 1.0f) {
    const float* in = floats(x);
    float* out = floats(y);
    parallel_for(x.numel(), [&](int64_t i) { out[i] = scale * in[i]; });
    src = y.data();
  }
  execute_cached("softmax", fmt::format("softmax {} {}", dims[0], dims[1]),
                 [&] { return dnnl::softmax_v2_forward(softmax_forward_desc(data)); },
                 {{DNNL_ARG_SRC, bind(data, src)}, {DNNL_ARG_DST, bind(data, y.data())}});
}

void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, float scale) {
  const memory::dims dims = rows_by_channels(y);
  const memory::desc data = dense(dims);
  execute_cached(
      "softmax_backward", fmt::format("softmax_backward {} {}", dims[0], dims[1]),
      [&] {
        const dnnl::softmax_v2_backward::desc desc(algorithm::softmax_accurate, data, data, data,
                                                   1);
        return dnnl::softmax_v2_backward({desc, cpu_engine(), softmax_forward_desc(data)});
      },
      {{DNNL_ARG_DST, bind(data, y.data())},
       {DNNL_ARG_DIFF_DST, bind(data, dy.data())},
       {DNNL_ARG_DIFF_SRC, bind(data, dx.data())}});
  if (scale != 1.0f) scale_in_place(floats(dx), dx.numel(), scale);
}

void activation(Activation kind, Tensor& y, const Tensor& x) {
  const Eltwise e = eltwise(kind);
  const memory::desc data = dense({static_cast<memory::dim>(x.numel())});
  execute_cached("activation",
                 fmt::format("activation {} {}", static_cast<int32_t>(kind), x.numel()),
                 [&] { return dnnl::eltwise_forward(eltwise_forward_desc(e, data)); },
                 {{DNNL_ARG_SRC, bind(data, x.data())}, {DNNL_ARG_DST, bind(data, y.data())}});
}

void activation_backward(Activation kind, Tensor& dx, const Tensor& dy, const Tensor& x) {
  const Eltwise e = eltwise(kind);
  const memory::desc data = dense({static_cast<memory::dim>(x.numel())});
  execute_cached(
      "activation_backward",
      fmt::format("activation_backward {} {}", static_cast<int32_t>(kind), x.numel()),
      [&] {
        const dnnl::eltwise_backward::desc desc(e.alg, data, data, e.alpha, 0.0f);
        return dnnl::eltwise_backward({desc, cpu_engine(), eltwise_forward_desc(e, data)});
      },
      {{DNNL_ARG_SRC, bind(data, x.data())},
       {DNNL_ARG_DIFF_DST, bind(data, dy.data())},
       {DNNL_ARG_DIFF_SRC, bind(data, dx.data())}});
}

}  // namespace alloy::cpu::onednn
