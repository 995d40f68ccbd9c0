#include "model/router.hpp"

#include <utility>

#include <alloy/alloy.h>

#include "error.hpp"
#include "model/layers.hpp"

namespace alloy {
namespace {

const char* const kOp = "router";

const Tensor& required(const Tensor* t, const char* role, int hidden_layers) {
  if (!t) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} is required with {} hidden layers", kOp, role,
         hidden_layers);
  }
  return *t;
}

void expect_shape(const char* role, const Tensor& t, const Shape& want) {
  if (t.shape() != want) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {}, expected {}", kOp, role, shape_string(t.shape()),
         shape_string(want));
  }
}

// The weights' shapes for tokens of width d; returns T.
int64_t check_weights(const RouterWeights& w, int64_t d) {
  const int64_t experts = w.experts();
  switch (w.hidden_layers) {
    case 2:
      expect_shape("w1", required(w.w1, "w1", 2), {d, d});
      expect_shape("b1", required(w.b1, "b1", 2), {d});
      expect_shape("w2", *w.w2, {experts, d});
      expect_shape("b2", required(w.b2, "b2", 2), {experts});
      break;
    case 1:
      expect_shape("w1", *w.w1, {experts, d});
      expect_shape("b1", required(w.b1, "b1", 1), {experts});
      break;
    default:
      expect_shape("b1 (the constant gates)", *w.b1, {experts});
  }
  return experts;
}

void expect_grad_shape(const char* role, const Tensor* grad, const Tensor* param) {
  if (grad) expect_shape(role, *grad, param->shape());
}

// The last layer, the one that gives T values.
const Tensor& last_weight(const RouterWeights& w) { return w.hidden_layers == 2 ? *w.w2 : *w.w1; }
const Tensor& last_bias(const RouterWeights& w) { return w.hidden_layers == 2 ? *w.b2 : *w.b1; }

int64_t gate_rows(const RouterSaved& s) { return s.batch_mean ? 1 : s.batch; }
// Tokens averaged into one gate row (at least 1: no tokens give gates = the last bias).
double mean_count(const RouterSaved& s) {
  const int64_t count = s.batch_mean ? s.batch * s.tokens : s.tokens;
  return static_cast<double>(count > 0 ? count : 1);
}

// The last layer's input averaged over each gate row's tokens: [gate rows, width]. The last
// layer is affine, so averaging its input gives the average of the per-token values r.
Tensor token_mean(Provider& p, const RouterSaved& s) {
  const Tensor& features = s.activated.defined() ? s.activated : s.h;
  const int64_t width = features.shape()[1];
  Tensor mean = p.allocate(DType::F32, {gate_rows(s), 1, width});
  p.sum_to(mean, features.reshaped({s.batch, s.tokens, width}), 0.0);
  p.unary(ALLOY_UNARY_LINEAR, mean, mean, 1.0 / mean_count(s), 0.0);
  return mean.reshaped({gate_rows(s), width});
}

}  // namespace

int64_t RouterWeights::experts() const {
  if (hidden_layers < 0 || hidden_layers > 2) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} hidden layers; 0, 1 or 2 are supported", kOp,
         hidden_layers);
  }
  const Tensor& last = hidden_layers == 2   ? required(w2, "w2", 2)
                       : hidden_layers == 1 ? required(w1, "w1", 1)
                                            : required(b1, "b1", 0);
  if (last.ndim() == 0) {
    fail(ALLOY_ERR_SHAPE, "{}: the last layer's {} is a scalar", kOp,
         hidden_layers == 0 ? "b1" : "weight");
  }
  return last.shape()[0];
}

Tensor router_forward(Provider& p, const Tensor& h, const RouterWeights& w, bool batch_mean,
                      RouterSaved* saved) {
  if (h.ndim() != 3) {
    fail(ALLOY_ERR_SHAPE, "{}: h has shape {}, expected [batch, tokens, width]", kOp,
         shape_string(h.shape()));
  }
  const int64_t batch = h.shape()[0];
  const int64_t tokens = h.shape()[1];
  const int64_t width = h.shape()[2];
  const int64_t experts = check_weights(w, width);
  const Tensor h2 = h.reshaped({batch * tokens, width});
  RouterSaved s{h2, {}, {}, batch, tokens, batch_mean};
  Tensor gates;
  if (w.hidden_layers == 0) {
    gates = p.allocate(DType::F32, {gate_rows(s), experts});
    p.broadcast(gates, *w.b1);
  } else {
    if (w.hidden_layers == 2) {
      s.pre = linear_forward(p, h2, *w.w1, *w.b1);
      s.activated = p.allocate(DType::F32, s.pre.shape());
      p.activation(Activation::relu, s.activated, s.pre);
    }
    gates = linear_forward(p, token_mean(p, s), last_weight(w), last_bias(w));
  }
  if (saved) *saved = std::move(s);
  return gates;
}

Tensor router_backward(Provider& p, const Tensor& dgates, const RouterWeights& w,
                       const RouterSaved& saved, const RouterGrads& grads) {
  const int64_t width = saved.h.shape()[1];
  const int64_t experts = check_weights(w, width);
  const int64_t rows = gate_rows(saved);
  expect_shape("dgates", dgates, {rows, experts});
  expect_grad_shape("the gradient of w1", grads.w1, w.w1);
  expect_grad_shape("the gradient of b1", grads.b1, w.b1);
  if (w.hidden_layers == 2) {
    expect_grad_shape("the gradient of w2", grads.w2, w.w2);
    expect_grad_shape("the gradient of b2", grads.b2, w.b2);
  }
  Tensor dh = p.allocate(DType::F32, {saved.batch, saved.tokens, width});
  if (w.hidden_layers == 0) {
    if (grads.b1) p.sum_to(*grads.b1, dgates, 1.0);
    return dh;
  }
  const bool two = w.hidden_layers == 2;
  Tensor dmean = linear_backward(p, dgates, token_mean(p, saved), last_weight(w),
                                 two ? grads.w2 : grads.w1, two ? grads.b2 : grads.b1);
  // Back through the mean: each of a gate row's tokens gets dmean / count.
  p.unary(ALLOY_UNARY_LINEAR, dmean, dmean, 1.0 / mean_count(saved), 0.0);
  Tensor dfeatures = two ? p.allocate(DType::F32, {saved.batch, saved.tokens, width}) : dh;
  p.broadcast(dfeatures, dmean.reshaped({rows, 1, width}));
  if (!two) return dh;
  Tensor dpre = p.allocate(DType::F32, saved.pre.shape());
  p.activation_backward(Activation::relu, dpre, dfeatures.reshaped(saved.pre.shape()), saved.pre);
  return linear_backward(p, dpre, saved.h, *w.w1, grads.w1, grads.b1)
      .reshaped({saved.batch, saved.tokens, width});
}

}  // namespace alloy
