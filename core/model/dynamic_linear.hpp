// A linear layer whose weight depends on the sample (the dynamic module of WEMoE and
// Twin-Merging): for sample b of a batch,
//   W(b) = W0 + sum_t gates[b, t] * deltas[t],   bias(b) = b0 + sum_t gates[b, t] * bias_deltas[t]
//   y[b] = x[b] @ W(b)^T + bias(b)
// computed without a weight matrix per token, in one of two ways:
//   - mixing weights: one gemm builds W(b) for every sample ([B, T] @ [T, out*in]), then a
//     batched gemm applies it. Costs B*out*in*(T + N) and B*out*in floats of memory.
//   - mixing outputs: y = x @ W0^T + sum_t gates[:, t] * (x @ deltas[t]^T). Costs
//     B*N*out*in*(T + 1), no per-sample weights.
// Mixing weights wins when a sample has many tokens (N), mixing outputs when it has few;
// MixMode::automatic picks by those costs, with the mixing step's flops counted as a measured
// constant times slower than a large gemm's (bench/dynamic_linear_bench measures both modes).
// Shared gates [1, T] are one sample of B*N tokens: weights mode then mixes once.
#pragma once

#include "compute/provider.hpp"

namespace alloy {

enum class MixMode : int32_t { automatic = 0, weights = 1, outputs = 2 };

struct DynamicLinearWeights {
  const Tensor* weight = nullptr;       // W0 [out, in]
  const Tensor* bias = nullptr;         // b0 [out], or null: no bias (and no bias_deltas)
  const Tensor* deltas = nullptr;       // [T, out, in]
  const Tensor* bias_deltas = nullptr;  // [T, out], or null: the bias does not depend on gates
};

// Gradients wanted; a null member is frozen and not computed.
struct DynamicLinearGrads {
  Tensor* weight = nullptr;       // += sum_b dW(b)
  Tensor* bias = nullptr;         // += column sums of dy
  Tensor* deltas = nullptr;       // [T, out, in] += sum_b gates[b, t] dW(b)
  Tensor* bias_deltas = nullptr;  // [T, out]
  Tensor* gates = nullptr;        // [B, T] (or [1, T]) += d loss / d gates
};

struct DynamicLinearSaved {
  Tensor x;      // [B, N, in]
  Tensor gates;  // [B, T] or [1, T]
  MixMode mode = MixMode::weights;
  Tensor mixed;  // MixMode::weights: W(b) [B, out, in] (or [1, out, in] for shared gates)
  // MixMode::outputs: x @ deltas[t]^T for every t, [B*N, T*out], for the gates' gradient.
  Tensor expert_outputs;
};

// The mode automatic resolves to for these shapes.
MixMode choose_mix_mode(int64_t batch, int64_t tokens, int64_t experts, int64_t in, int64_t out);

// x [B, N, in], gates [B, T] (per sample) or [1, T] (one mixture shared by the whole batch,
// FusionBench's batch_reduce) -> y [B, N, out]. Throws ALLOY_ERR_SHAPE naming the mismatch.
Tensor dynamic_linear_forward(Provider& p, const Tensor& x, const Tensor& gates,
                              const DynamicLinearWeights& w, MixMode mode,
                              DynamicLinearSaved* saved);
// Returns dx [B, N, in] (undefined when !dx_wanted) and accumulates the wanted gradients.
Tensor dynamic_linear_backward(Provider& p, const Tensor& dy, const DynamicLinearWeights& w,
                               const DynamicLinearSaved& saved, const DynamicLinearGrads& grads,
                               bool dx_wanted = true);

}  // namespace alloy
