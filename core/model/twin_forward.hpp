// The forward pass of a Twin-Merging model (Lu et al., NeurIPS 2024), for inference: per sample,
//   features = mean over tokens of the shared model's last hidden state
//   w = softmax(router(features))
//   theta(x) = theta* + sum_t w_t v_t       for every parameter with exclusive knowledge
// and the model runs with theta(x), without a weight matrix per sample: a linear layer with
// low-rank deltas computes x theta*^T + sum_t w_t ((x V_t) S_t) U_t^T as two products with every
// expert's factors side by side, the columns scaled by their expert's gate in between; vectors
// (biases, LayerNorms, the class embedding) and the position embedding mix per sample.
#pragma once

#include <vector>

#include "model/preprocessing.hpp"
#include "model/twin_parts.hpp"
#include "model/vit.hpp"

namespace alloy {

// images [B, C, H, W] (normalised) -> the encoder's output [B, T, D] (Hugging Face's
// last_hidden_state) with the parameters mixed by `gates` [B, experts] per sample, or of the
// shared model alone when `gates` is undefined.
Tensor twin_encode(const VitModel& model, const TwinParts& twin, const Tensor& images,
                   const Tensor& gates);
// The router's input: the mean over tokens of the shared model's last hidden state, [B, D].
Tensor twin_router_features(const VitModel& model, const TwinParts& twin, const Tensor& images);
// softmax(router(features)) [B, experts], the router in inference mode.
Tensor twin_gates(const VitModel& model, const Tensor& features);
// images -> image embeddings [B, P], routed per sample, or with `fixed_gates` [experts] (defined:
// every sample mixes the experts with these weights, e.g. one-hot: the oracle route).
Tensor twin_forward(const VitModel& model, const TwinParts& twin, const Tensor& images,
                    const Tensor& fixed_gates);

// The expert each image's gates weigh most (raw images [N, C, H, W] in [0, 1]), in batches.
std::vector<int32_t> twin_routes(const VitModel& model, const Tensor& images,
                                 const Preprocessing& preprocessing, int64_t batch_size = 256);

}  // namespace alloy
