// Twin-Merging's router (the official code's SimpleMLP): from a sample's features [D] (the mean
// over tokens of the shared model's last hidden state), logits over the T experts,
//   Linear(D, H) - BatchNorm - LeakyReLU - Dropout - Linear(H, H) - BatchNorm - LeakyReLU -
//   Dropout - Linear(H, T)
// with H = 2D in the paper, BatchNorm1d's eps 1e-5 and momentum 0.1, LeakyReLU's slope 0.01 and
// dropout 0.5, as torch's defaults and the official code have them. Parameter names follow
// torch's Sequential numbering of those nine modules (docs/model.md): 0, 4, 8 are the linear
// layers, 1 and 5 the BatchNorms (weight, bias, running_mean, running_var).
//
// Inference uses the running statistics and no dropout. Training uses the batch's statistics,
// updates the running ones in place, and drops activations with a seeded mask.
#pragma once

#include <string>
#include <vector>

#include "compute/provider.hpp"

namespace alloy {

constexpr double kTwinBatchNormEps = 1e-5;
constexpr double kTwinBatchNormMomentum = 0.1;
constexpr double kTwinLeakySlope = 0.01;
constexpr double kTwinDropout = 0.5;

// "twin.router.<leaf>"
std::string twin_router_param(const std::string& leaf);
// Every leaf, in torch's order: 0.weight, 0.bias, 1.weight, 1.bias, 1.running_mean, ...
const std::vector<std::string>& twin_router_leaves();
// The BatchNorms' running statistics: tensors of the model, but not trained by gradients.
bool is_twin_router_statistic(const std::string& leaf);

struct TwinBatchNorm {
  const Tensor* weight = nullptr;  // [H]
  const Tensor* bias = nullptr;
  Tensor* running_mean = nullptr;  // updated in place while training
  Tensor* running_var = nullptr;
};

struct TwinRouterWeights {
  const Tensor *w0 = nullptr, *b0 = nullptr;  // [H, D], [H]
  TwinBatchNorm norm1;
  const Tensor *w4 = nullptr, *b4 = nullptr;  // [H, H], [H]
  TwinBatchNorm norm5;
  const Tensor *w8 = nullptr, *b8 = nullptr;  // [T, H], [T]
};

// A null member is frozen.
struct TwinRouterGrads {
  Tensor *w0 = nullptr, *b0 = nullptr, *norm1_weight = nullptr, *norm1_bias = nullptr;
  Tensor *w4 = nullptr, *b4 = nullptr, *norm5_weight = nullptr, *norm5_bias = nullptr;
  Tensor *w8 = nullptr, *b8 = nullptr;
};

// One hidden stage (Linear - BatchNorm - LeakyReLU - Dropout) as training keeps it.
struct TwinStageSaved {
  Tensor x;           // the linear layer's input [B, in]
  Tensor transposed;  // the linear layer's output, [H, B]: BatchNorm is LayerNorm over the batch
  Tensor mean, rstd;  // [H]
  Tensor normalized;  // before the affine, [B, H]
  Tensor scaled;      // after the affine, the LeakyReLU's input
  Tensor mask;        // the dropout's: 0 or 1 / (1 - p)
};

struct TwinRouterSaved {
  TwinStageSaved stage1, stage2;
  Tensor last_input;  // [B, H]
};

// features [B, D] -> logits [B, T]. With `saved` the router trains: batch statistics (B >= 2),
// running statistics updated, dropout masks drawn from `seed`.
Tensor twin_router_forward(Provider& p, const Tensor& features, const TwinRouterWeights& w,
                           TwinRouterSaved* saved, uint64_t seed = 0);
// Accumulates the wanted gradients from dlogits [B, T].
void twin_router_backward(Provider& p, const Tensor& dlogits, const TwinRouterWeights& w,
                          const TwinRouterSaved& saved, const TwinRouterGrads& grads);

}  // namespace alloy
