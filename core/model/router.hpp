// WEMoE's router: gate values for T experts from the tokens of a sample.
//   hidden_layers 2: r(h) = W2 relu(W1 h + b1) + b2   (W1 [d, d], W2 [T, d])
//   hidden_layers 1: r(h) = W h + b                   (W [T, d])
//   hidden_layers 0: r = c, a learned vector [T] (the same for every input)
// r is computed per token and averaged over the sample's tokens: gates [B, T]. No softmax, no
// clamping (the official code's choice: gates are task-arithmetic coefficients, not a
// distribution). With batch_mean the gates are also averaged over the batch: [1, T].
#pragma once

#include "compute/provider.hpp"

namespace alloy {

struct RouterWeights {
  int hidden_layers = 2;
  // 2 layers: w1, b1, w2, b2. 1 layer: w1 [T, d], b1 [T]. 0 layers: b1 = c [T].
  const Tensor* w1 = nullptr;
  const Tensor* b1 = nullptr;
  const Tensor* w2 = nullptr;
  const Tensor* b2 = nullptr;
  int64_t experts() const;  // T, from the last layer's shape
};

// A null member is frozen.
struct RouterGrads {
  Tensor* w1 = nullptr;
  Tensor* b1 = nullptr;
  Tensor* w2 = nullptr;
  Tensor* b2 = nullptr;
};

struct RouterSaved {
  Tensor h;            // [B*N, d]
  Tensor pre;          // 2 layers: W1 h + b1 [B*N, d]
  Tensor activated;    // 2 layers: relu(pre)
  int64_t batch = 0;   // B
  int64_t tokens = 0;  // N
  bool batch_mean = false;
};

// h [B, N, d] -> gates [B, T], or [1, T] with batch_mean.
Tensor router_forward(Provider& p, const Tensor& h, const RouterWeights& w, bool batch_mean,
                      RouterSaved* saved);
// dgates like the forward's gates -> dh [B, N, d] (zeros for 0 hidden layers); accumulates the
// wanted gradients.
Tensor router_backward(Provider& p, const Tensor& dgates, const RouterWeights& w,
                       const RouterSaved& saved, const RouterGrads& grads);

}  // namespace alloy
