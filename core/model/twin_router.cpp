#include "model/twin_router.hpp"

#include <alloy/alloy.h>

#include "error.hpp"
#include "model/layers.hpp"

namespace alloy {

std::string twin_router_param(const std::string& leaf) { return "twin.router." + leaf; }

const std::vector<std::string>& twin_router_leaves() {
  static const std::vector<std::string> leaves = {
      "0.weight",       "0.bias",        "1.weight", "1.bias",   "1.running_mean",
      "1.running_var",  "4.weight",      "4.bias",   "5.weight", "5.bias",
      "5.running_mean", "5.running_var", "8.weight", "8.bias"};
  return leaves;
}

bool is_twin_router_statistic(const std::string& leaf) {
  return leaf.find("running_") != std::string::npos;
}

namespace {

Tensor like(Provider& p, const Tensor& t) { return p.allocate(DType::F32, t.shape()); }

Tensor filled(Provider& p, const Shape& shape, double value) {
  Tensor t = p.allocate(DType::F32, shape);
  p.fill(t, value);
  return t;
}

// max(x, slope * x): LeakyReLU for a slope below 1.
Tensor leaky_relu(Provider& p, const Tensor& x) {
  Tensor scaled = like(p, x);
  p.binary_scalar(ALLOY_BINARY_MUL, scaled, x, kTwinLeakySlope);
  Tensor y = like(p, x);
  p.binary(ALLOY_BINARY_MAX, y, x, scaled);
  return y;
}

// dy * (x > 0 ? 1 : slope), torch's gradient (slope at 0).
Tensor leaky_relu_backward(Provider& p, const Tensor& dy, const Tensor& x) {
  Tensor factor = like(p, x);
  p.binary_scalar(ALLOY_BINARY_GT, factor, x, 0.0);
  p.unary(ALLOY_UNARY_LINEAR, factor, factor, 1.0 - kTwinLeakySlope, kTwinLeakySlope);
  Tensor dx = like(p, dy);
  p.binary(ALLOY_BINARY_MUL, dx, dy, factor);
  return dx;
}

Tensor affine(Provider& p, const Tensor& x, const Tensor& scale, const Tensor& shift) {
  Tensor y = like(p, x);
  p.binary(ALLOY_BINARY_MUL, y, x, scale);
  p.binary(ALLOY_BINARY_ADD, y, y, shift);
  return y;
}

// Training: each feature normalised over the batch, which is LayerNorm over the rows of the
// transposed batch [H, B] (biased variance, eps inside the root, as torch's BatchNorm). The
// running statistics move towards the batch's, the variance unbiased as torch keeps it.
Tensor batch_norm_train(Provider& p, const Tensor& h, const TwinBatchNorm& norm,
                        TwinStageSaved& s) {
  const int64_t batch = h.shape()[0], width = h.shape()[1];
  if (batch < 2) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "the Twin-Merging router's BatchNorm trains on batches of 2 or more inputs (got {})",
         batch);
  }
  s.transposed = p.allocate(DType::F32, {width, batch});
  p.permute(s.transposed, h, {1, 0});
  Tensor normalized_t = like(p, s.transposed);
  s.mean = p.allocate(DType::F32, {width});
  s.rstd = p.allocate(DType::F32, {width});
  p.layer_norm(normalized_t, s.mean, s.rstd, s.transposed, filled(p, {batch}, 1.0),
               filled(p, {batch}, 0.0), kTwinBatchNormEps);
  s.normalized = like(p, h);
  p.permute(s.normalized, normalized_t, {1, 0});

  const double m = kTwinBatchNormMomentum;
  const double unbias = static_cast<double>(batch) / static_cast<double>(batch - 1);
  Tensor variance = like(p, s.rstd);  // 1 / rstd^2 - eps
  p.unary(ALLOY_UNARY_SQUARE, variance, s.rstd, 0, 0);
  p.binary(ALLOY_BINARY_DIV, variance, filled(p, {width}, 1.0), variance);
  p.unary(ALLOY_UNARY_LINEAR, variance, variance, unbias, -kTwinBatchNormEps * unbias);
  p.axpby(m, s.mean, 1.0 - m, *norm.running_mean);
  p.axpby(m, variance, 1.0 - m, *norm.running_var);
  return affine(p, s.normalized, *norm.weight, *norm.bias);
}

// Inference: y = (h - running_mean) / sqrt(running_var + eps) * weight + bias.
Tensor batch_norm_eval(Provider& p, const Tensor& h, const TwinBatchNorm& norm) {
  Tensor scale = like(p, *norm.weight);
  p.binary_scalar(ALLOY_BINARY_ADD, scale, *norm.running_var, kTwinBatchNormEps);
  p.unary(ALLOY_UNARY_SQRT, scale, scale, 0, 0);
  p.binary(ALLOY_BINARY_DIV, scale, *norm.weight, scale);
  Tensor shift = like(p, scale);
  p.binary(ALLOY_BINARY_MUL, shift, *norm.running_mean, scale);
  p.binary(ALLOY_BINARY_SUB, shift, *norm.bias, shift);
  return affine(p, h, scale, shift);
}

Tensor batch_norm_backward(Provider& p, const Tensor& dy, const TwinBatchNorm& norm,
                           const TwinStageSaved& s, Tensor* dweight, Tensor* dbias) {
  const int64_t batch = dy.shape()[0], width = dy.shape()[1];
  if (dweight) {
    Tensor product = like(p, dy);
    p.binary(ALLOY_BINARY_MUL, product, dy, s.normalized);
    p.sum_to(*dweight, product, 1.0);
  }
  if (dbias) p.sum_to(*dbias, dy, 1.0);
  Tensor dnormalized = like(p, dy);
  p.binary(ALLOY_BINARY_MUL, dnormalized, dy, *norm.weight);
  Tensor dnormalized_t = like(p, s.transposed);
  p.permute(dnormalized_t, dnormalized, {1, 0});
  Tensor dx_t = like(p, s.transposed);
  Tensor unused_gamma = filled(p, {batch}, 0.0), unused_beta = filled(p, {batch}, 0.0);
  p.layer_norm_backward(dx_t, unused_gamma, unused_beta, dnormalized_t, s.transposed, s.mean,
                        s.rstd, filled(p, {batch}, 1.0));
  Tensor dx = p.allocate(DType::F32, {batch, width});
  p.permute(dx, dx_t, {1, 0});
  return dx;
}

// Linear - BatchNorm - LeakyReLU - Dropout.
Tensor stage_forward(Provider& p, const Tensor& x, const Tensor& w, const Tensor& b,
                     const TwinBatchNorm& norm, TwinStageSaved* s, uint64_t seed) {
  const Tensor h = linear_forward(p, x, w, b);
  if (!s) return leaky_relu(p, batch_norm_eval(p, h, norm));
  s->x = x;
  s->scaled = batch_norm_train(p, h, norm, *s);
  const Tensor activated = leaky_relu(p, s->scaled);
  s->mask = like(p, activated);
  p.fill_random(s->mask, Distribution::uniform, 0.0, 1.0, seed);
  p.binary_scalar(ALLOY_BINARY_GE, s->mask, s->mask, kTwinDropout);
  p.unary(ALLOY_UNARY_LINEAR, s->mask, s->mask, 1.0 / (1.0 - kTwinDropout), 0.0);
  Tensor y = like(p, activated);
  p.binary(ALLOY_BINARY_MUL, y, activated, s->mask);
  return y;
}

Tensor stage_backward(Provider& p, const Tensor& dy, const Tensor& w, const TwinBatchNorm& norm,
                      const TwinStageSaved& s, Tensor* dw, Tensor* db, Tensor* dnorm_weight,
                      Tensor* dnorm_bias, bool dx_wanted) {
  Tensor dactivated = like(p, dy);
  p.binary(ALLOY_BINARY_MUL, dactivated, dy, s.mask);
  const Tensor dscaled = leaky_relu_backward(p, dactivated, s.scaled);
  const Tensor dh = batch_norm_backward(p, dscaled, norm, s, dnorm_weight, dnorm_bias);
  return linear_backward(p, dh, s.x, w, dw, db, dx_wanted);
}

void check_weights(const Tensor& features, const TwinRouterWeights& w) {
  const Tensor* required[] = {
      w.w0, w.b0, w.norm1.weight, w.norm1.bias, w.norm1.running_mean, w.norm1.running_var,
      w.w4, w.b4, w.norm5.weight, w.norm5.bias, w.norm5.running_mean, w.norm5.running_var,
      w.w8, w.b8};
  for (const Tensor* t : required) {
    if (!t) fail(ALLOY_ERR_INVALID_ARGUMENT, "twin router: a weight is missing");
  }
  if (features.ndim() != 2 || features.shape()[1] != w.w0->shape()[1]) {
    fail(ALLOY_ERR_SHAPE, "twin router: features {} do not fit its first layer {}",
         shape_string(features.shape()), shape_string(w.w0->shape()));
  }
}

}  // namespace

Tensor twin_router_forward(Provider& p, const Tensor& features, const TwinRouterWeights& w,
                           TwinRouterSaved* saved, uint64_t seed) {
  check_weights(features, w);
  const Tensor h1 =
      stage_forward(p, features, *w.w0, *w.b0, w.norm1, saved ? &saved->stage1 : nullptr, seed * 2);
  const Tensor h2 =
      stage_forward(p, h1, *w.w4, *w.b4, w.norm5, saved ? &saved->stage2 : nullptr, seed * 2 + 1);
  if (saved) saved->last_input = h2;
  return linear_forward(p, h2, *w.w8, *w.b8);
}

void twin_router_backward(Provider& p, const Tensor& dlogits, const TwinRouterWeights& w,
                          const TwinRouterSaved& saved, const TwinRouterGrads& g) {
  const Tensor dh2 = linear_backward(p, dlogits, saved.last_input, *w.w8, g.w8, g.b8);
  const Tensor dh1 = stage_backward(p, dh2, *w.w4, w.norm5, saved.stage2, g.w4, g.b4,
                                    g.norm5_weight, g.norm5_bias, true);
  stage_backward(p, dh1, *w.w0, w.norm1, saved.stage1, g.w0, g.b0, g.norm1_weight, g.norm1_bias,
                 false);
}

}  // namespace alloy
