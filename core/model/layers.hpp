// The layers of the model runtime, one forward and one backward function each, written out in
// the spirit of llm.c: every op goes through the compute provider, activations a backward pass
// needs are returned to the caller to keep, gradients of weights are accumulated (+=) so that
// several batches or several uses can add up.
#pragma once

#include "compute/provider.hpp"

namespace alloy {

// y [N, out] = x [N, in] @ w[out, in]^T + b[out] (b may be undefined: no bias).
Tensor linear_forward(Provider& p, const Tensor& x, const Tensor& w, const Tensor& b);
// Returns dx; *dw += dy^T x; *db += column sums of dy. A null dw or db is a frozen parameter:
// its gradient is not computed. `dx_wanted` false skips dx (first layer).
Tensor linear_backward(Provider& p, const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dw,
                       Tensor* db, bool dx_wanted = true);

// Layer normalisation over the last axis of x [N, D].
struct LayerNormSaved {
  Tensor x, mean, rstd;
};
Tensor layer_norm_forward(Provider& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          double eps, LayerNormSaved* saved);
// dgamma and dbeta may be null (frozen).
Tensor layer_norm_backward(Provider& p, const Tensor& dy, const LayerNormSaved& saved,
                           const Tensor& gamma, Tensor* dgamma, Tensor* dbeta);

// Multi-head self-attention over x [B, T, D] with `heads` heads (CLIP's: q scaled by
// head_dim^-1/2, no mask, output projection).
struct AttentionWeights {
  const Tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
};
// A null member is a frozen parameter.
struct AttentionGrads {
  Tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
};
struct AttentionSaved {
  Tensor x;        // [B*T, D] input
  Tensor q, k, v;  // [B*H, T, hd]
  Tensor probs;    // [B*H, T, T]
  Tensor context;  // [B*T, D] input of the output projection
};
Tensor attention_forward(Provider& p, const Tensor& x, int64_t heads, const AttentionWeights& w,
                         AttentionSaved* saved);
// The attention itself, between the projections: queries, keys and values [B*T, D] -> the
// context [B*T, D] the output projection takes. Fills saved's q, k, v, probs and context.
Tensor attention_context(Provider& p, const Tensor& queries, const Tensor& keys,
                         const Tensor& values, int64_t batch, int64_t heads, AttentionSaved* saved);
Tensor attention_backward(Provider& p, const Tensor& dy, int64_t heads, const AttentionWeights& w,
                          const AttentionSaved& saved, const AttentionGrads& g);

// The MLP of a block: fc2(act(fc1(x))).
struct MlpSaved {
  Tensor x, hidden, activated;
};
Tensor mlp_forward(Provider& p, const Tensor& x, Activation act, const Tensor& fc1_w,
                   const Tensor& fc1_b, const Tensor& fc2_w, const Tensor& fc2_b, MlpSaved* saved);
// Null gradients are frozen parameters.
Tensor mlp_backward(Provider& p, const Tensor& dy, Activation act, const Tensor& fc1_w,
                    const Tensor& fc2_w, const MlpSaved& saved, Tensor* dfc1_w, Tensor* dfc1_b,
                    Tensor* dfc2_w, Tensor* dfc2_b);

// a + b, elementwise (residual connections); the result is new.
Tensor add(Provider& p, const Tensor& a, const Tensor& b);

}  // namespace alloy
