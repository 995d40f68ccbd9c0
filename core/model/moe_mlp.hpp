// WEMoE's upscaled MLP: a router reads the MLP's input and gives per-sample gates; fc1 and fc2
// are dynamic linear layers (dynamic_linear.hpp) over the pretrained MLP and the T task
// vectors, sharing those gates:
//   gates = router(x);  y = fc2_g(act(fc1_g(x)))
#pragma once

#include "model/dynamic_linear.hpp"
#include "model/router.hpp"

namespace alloy {

struct MoeMlpWeights {
  DynamicLinearWeights fc1, fc2;
  RouterWeights router;
};

struct MoeMlpGrads {
  DynamicLinearGrads fc1, fc2;  // their `gates` members are ignored (set internally)
  RouterGrads router;
};

struct MoeMlpOptions {
  bool batch_mean = false;  // one mixture for the whole batch (FusionBench's batch_reduce)
  MixMode mode = MixMode::automatic;
};

struct MoeMlpSaved {
  RouterSaved router;
  Tensor gates;  // [B, T] or [1, T]
  DynamicLinearSaved fc1, fc2;
  Tensor hidden;  // fc1's output, the activation's input
};

// x [B, N, d] -> y [B, N, d]. `gates_out`, when not null, receives the gates (for reports).
Tensor moe_mlp_forward(Provider& p, const Tensor& x, Activation act, const MoeMlpWeights& w,
                       const MoeMlpOptions& options, MoeMlpSaved* saved,
                       Tensor* gates_out = nullptr);
// Returns dx [B, N, d]: through fc1 and through the router. Accumulates the wanted gradients.
Tensor moe_mlp_backward(Provider& p, const Tensor& dy, Activation act, const MoeMlpWeights& w,
                        const MoeMlpSaved& saved, const MoeMlpGrads& grads);

}  // namespace alloy
