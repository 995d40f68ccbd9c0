#include "model/layers.hpp"

#include <cmath>

#include <alloy/alloy.h>

namespace alloy {
namespace {

int64_t rows_of(const Tensor& x) { return static_cast<int64_t>(x.numel()) / x.shape().back(); }

// [B*T, D] -> [B*H, T, hd]: heads become a batch axis for gemm_batched.
Tensor split_heads(Provider& p, const Tensor& x, int64_t batch, int64_t tokens, int64_t heads) {
  const int64_t head_dim = x.shape().back() / heads;
  Tensor out = p.allocate(DType::F32, {batch, heads, tokens, head_dim});
  p.permute(out, x.reshaped({batch, tokens, heads, head_dim}), {0, 2, 1, 3});
  return out.reshaped({batch * heads, tokens, head_dim});
}

// The inverse: [B*H, T, hd] -> [B*T, D].
Tensor merge_heads(Provider& p, const Tensor& x, int64_t batch, int64_t heads) {
  const int64_t tokens = x.shape()[1];
  const int64_t head_dim = x.shape()[2];
  Tensor out = p.allocate(DType::F32, {batch, tokens, heads, head_dim});
  p.permute(out, x.reshaped({batch, heads, tokens, head_dim}), {0, 2, 1, 3});
  return out.reshaped({batch * tokens, heads * head_dim});
}

}  // namespace

Tensor add(Provider& p, const Tensor& a, const Tensor& b) {
  Tensor out = p.allocate(DType::F32, a.shape());
  p.binary(ALLOY_BINARY_ADD, out, a, b);
  return out;
}

Tensor linear_forward(Provider& p, const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = p.allocate(DType::F32, {rows_of(x), w.shape()[0]});
  p.gemm(false, true, 1.0, x.reshaped({rows_of(x), x.shape().back()}), w, 0.0, y);
  if (b.defined()) p.binary(ALLOY_BINARY_ADD, y, y, b);
  return y;
}

Tensor linear_backward(Provider& p, const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dw,
                       Tensor* db, bool dx_wanted) {
  const Tensor x2 = x.reshaped({rows_of(x), x.shape().back()});
  const Tensor dy2 = dy.reshaped({rows_of(dy), dy.shape().back()});
  if (dw) p.gemm(true, false, 1.0, dy2, x2, 1.0, *dw);
  if (db) p.sum_to(*db, dy2, 1.0);
  if (!dx_wanted) return {};
  Tensor dx = p.allocate(DType::F32, x2.shape());
  p.gemm(false, false, 1.0, dy2, w, 0.0, dx);
  return dx;
}

Tensor layer_norm_forward(Provider& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          double eps, LayerNormSaved* saved) {
  const int64_t rows = rows_of(x);
  Tensor y = p.allocate(DType::F32, x.shape());
  Tensor mean = p.allocate(DType::F32, {rows});
  Tensor rstd = p.allocate(DType::F32, {rows});
  p.layer_norm(y, mean, rstd, x, gamma, beta, eps);
  if (saved) *saved = {x, mean, rstd};
  return y;
}

Tensor layer_norm_backward(Provider& p, const Tensor& dy, const LayerNormSaved& saved,
                           const Tensor& gamma, Tensor* dgamma, Tensor* dbeta) {
  Tensor dx = p.allocate(DType::F32, saved.x.shape());
  // The provider op always accumulates both; a frozen one goes to scratch (D floats).
  Tensor scratch_gamma = dgamma ? Tensor() : p.allocate(DType::F32, gamma.shape());
  Tensor scratch_beta = dbeta ? Tensor() : p.allocate(DType::F32, gamma.shape());
  p.layer_norm_backward(dx, dgamma ? *dgamma : scratch_gamma, dbeta ? *dbeta : scratch_beta,
                        dy.reshaped(saved.x.shape()), saved.x, saved.mean, saved.rstd, gamma);
  return dx;
}

Tensor attention_context(Provider& p, const Tensor& queries, const Tensor& keys,
                         const Tensor& values, int64_t batch, int64_t heads,
                         AttentionSaved* saved) {
  const int64_t tokens = queries.shape()[0] / batch;
  const int64_t width = queries.shape()[1];
  const Tensor q = split_heads(p, queries, batch, tokens, heads);
  const Tensor k = split_heads(p, keys, batch, tokens, heads);
  const Tensor v = split_heads(p, values, batch, tokens, heads);
  const double scale = 1.0 / std::sqrt(static_cast<double>(width / heads));
  Tensor scores = p.allocate(DType::F32, {batch * heads, tokens, tokens});
  p.gemm_batched(false, true, 1.0, q, k, 0.0, scores);
  Tensor probs = p.allocate(DType::F32, scores.shape());
  p.softmax(probs, scores, scale);
  Tensor context_heads = p.allocate(DType::F32, q.shape());
  p.gemm_batched(false, false, 1.0, probs, v, 0.0, context_heads);
  const Tensor context = merge_heads(p, context_heads, batch, heads);
  if (saved) {
    saved->q = q;
    saved->k = k;
    saved->v = v;
    saved->probs = probs;
    saved->context = context;
  }
  return context;
}

Tensor attention_forward(Provider& p, const Tensor& x, int64_t heads, const AttentionWeights& w,
                         AttentionSaved* saved) {
  const int64_t batch = x.shape()[0];
  const int64_t tokens = x.shape()[1];
  const int64_t width = x.shape()[2];
  const Tensor x2 = x.reshaped({batch * tokens, width});
  const Tensor context = attention_context(
      p, linear_forward(p, x2, *w.q_w, *w.q_b), linear_forward(p, x2, *w.k_w, *w.k_b),
      linear_forward(p, x2, *w.v_w, *w.v_b), batch, heads, saved);
  Tensor y = linear_forward(p, context, *w.o_w, *w.o_b);
  if (saved) saved->x = x2;
  return y.reshaped({batch, tokens, width});
}

Tensor attention_backward(Provider& p, const Tensor& dy, int64_t heads, const AttentionWeights& w,
                          const AttentionSaved& s, const AttentionGrads& g) {
  const int64_t batch = s.q.shape()[0] / heads;
  const int64_t tokens = s.q.shape()[1];
  const int64_t width = s.x.shape()[1];
  const double scale = 1.0 / std::sqrt(static_cast<double>(width / heads));
  const Tensor dcontext = linear_backward(p, dy, s.context, *w.o_w, g.o_w, g.o_b);
  const Tensor dcontext_heads = split_heads(p, dcontext, batch, tokens, heads);
  Tensor dprobs = p.allocate(DType::F32, s.probs.shape());
  p.gemm_batched(false, true, 1.0, dcontext_heads, s.v, 0.0, dprobs);
  Tensor dv = p.allocate(DType::F32, s.v.shape());
  p.gemm_batched(true, false, 1.0, s.probs, dcontext_heads, 0.0, dv);
  Tensor dscores = p.allocate(DType::F32, s.probs.shape());
  p.softmax_backward(dscores, dprobs, s.probs, scale);
  Tensor dq = p.allocate(DType::F32, s.q.shape());
  p.gemm_batched(false, false, 1.0, dscores, s.k, 0.0, dq);
  Tensor dk = p.allocate(DType::F32, s.k.shape());
  p.gemm_batched(true, false, 1.0, dscores, s.q, 0.0, dk);
  Tensor dx = linear_backward(p, merge_heads(p, dq, batch, heads), s.x, *w.q_w, g.q_w, g.q_b);
  const Tensor dx_k =
      linear_backward(p, merge_heads(p, dk, batch, heads), s.x, *w.k_w, g.k_w, g.k_b);
  const Tensor dx_v =
      linear_backward(p, merge_heads(p, dv, batch, heads), s.x, *w.v_w, g.v_w, g.v_b);
  p.binary(ALLOY_BINARY_ADD, dx, dx, dx_k);
  p.binary(ALLOY_BINARY_ADD, dx, dx, dx_v);
  return dx.reshaped({batch, tokens, width});
}

Tensor mlp_forward(Provider& p, const Tensor& x, Activation act, const Tensor& fc1_w,
                   const Tensor& fc1_b, const Tensor& fc2_w, const Tensor& fc2_b, MlpSaved* saved) {
  const Tensor hidden = linear_forward(p, x, fc1_w, fc1_b);
  Tensor activated = p.allocate(DType::F32, hidden.shape());
  p.activation(act, activated, hidden);
  Tensor y = linear_forward(p, activated, fc2_w, fc2_b);
  if (saved) *saved = {x.reshaped({rows_of(x), x.shape().back()}), hidden, activated};
  return y.reshaped(x.shape());
}

Tensor mlp_backward(Provider& p, const Tensor& dy, Activation act, const Tensor& fc1_w,
                    const Tensor& fc2_w, const MlpSaved& s, Tensor* dfc1_w, Tensor* dfc1_b,
                    Tensor* dfc2_w, Tensor* dfc2_b) {
  const Tensor dactivated = linear_backward(p, dy, s.activated, fc2_w, dfc2_w, dfc2_b);
  Tensor dhidden = p.allocate(DType::F32, s.hidden.shape());
  p.activation_backward(act, dhidden, dactivated, s.hidden);
  return linear_backward(p, dhidden, s.x, fc1_w, dfc1_w, dfc1_b);
}

}  // namespace alloy
