// A CLIP-style vision transformer (Hugging Face's CLIPVisionModelWithProjection): patch
// embedding, class token, position embedding, pre-LayerNorm, blocks of self-attention and MLP,
// LayerNorm of the class token, projection. Parameters carry Hugging Face's names, so a real
// CLIP vision checkpoint loads unchanged and alloy's checkpoints load in transformers.
//
// Forward and backward are written out layer by layer (layers.hpp), in float32, on a provider.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compute/provider.hpp"
#include "model/layers.hpp"
#include "model/moe_mlp.hpp"
#include "model/twin_parts.hpp"
#include "model/vit_config.hpp"
#include "tensor/registry.hpp"

namespace alloy {

using TensorMap = std::map<std::string, Tensor>;

// Hugging Face names of the parameters outside the encoder layers (the LayerNorms' are prefixes
// of "weight" and "bias").
inline const std::string kVitClassEmbedding = "vision_model.embeddings.class_embedding";
inline const std::string kVitPatchEmbedding = "vision_model.embeddings.patch_embedding.weight";
inline const std::string kVitPositionEmbedding =
    "vision_model.embeddings.position_embedding.weight";
inline const std::string kVitPreNorm = "vision_model.pre_layrnorm.";  // sic: Hugging Face's
inline const std::string kVitPostNorm = "vision_model.post_layernorm.";
inline const std::string kVitProjection = "visual_projection.weight";

// Which MLPs of a model are upscaled into WEMoE modules (docs/model.md, "Upscaled models"):
// the MLP's own tensors are the base of dynamic linear layers, `experts` task vectors are the
// deltas, and a router with `router_layers` hidden layers gives the gates.
struct MlpExperts {
  int64_t experts = 0;  // T; 0: a plain MLP
  int router_layers = 2;
};
using ExpertLayout = std::vector<MlpExperts>;  // one per encoder layer; empty: none upscaled

// The layout a model's tensor names describe. Throws ALLOY_ERR_INVALID_ARGUMENT naming the
// model and layer when experts are numbered with gaps, miss a tensor, or have no router.
ExpertLayout detect_expert_layout(const VitConfig& config, const Model& model);
// The layout as the `modules` entry of a safetensors __metadata__ (JSON; docs/model.md).
std::string expert_layout_json(const ExpertLayout& layout);

class VitModel {
 public:
  // Parameters allocated on `provider` (zero-filled); see init_random() and load(). A Twin-Merging
  // router adds its parameters ("twin.router.*").
  VitModel(const VitConfig& config, Provider& provider, const ExpertLayout& experts = {},
           const TwinRouterShape& twin_router = {});

  // Reads DIR/config.json and DIR's safetensors (sharded or not). Every parameter must be there
  // with its shape (any float dtype, converted to F32); other tensors are ignored. Upscaled MLPs
  // and Twin-Merging models are recognised by their tensor names (detect_expert_layout,
  // twin_parts.hpp). Throws naming the file and tensor.
  static VitModel load(const std::string& dir, Provider& provider);
  // The parameters from registry models: each from `primary`, or when `primary` lacks it, from
  // `fallback` (may be null). Throws naming the model and tensor missing or misshapen.
  static VitModel from_models(const VitConfig& config, const Model& primary, const Model* fallback,
                              Provider& provider);
  // Writes DIR (config.json + model.safetensors, F32, and `extra_files`: file name -> text),
  // atomically like a merge output.
  void save(const std::string& dir, bool overwrite = false,
            const std::map<std::string, std::string>& extra_files = {}) const;
  // CLIP's initialisation (transformers' CLIPPreTrainedModel._init_weights), deterministic.
  void init_random(uint64_t seed);

  const VitConfig& config() const { return config_; }
  const ExpertLayout& experts() const { return experts_; }
  bool upscaled() const;
  // A Twin-Merging model (twin_forward.hpp) runs for inference only: forward() without `saved`.
  const TwinParts& twin() const { return twin_; }
  // Twin-Merging: mix the experts with these weights [experts] for every input instead of the
  // router's (e.g. one-hot: the oracle route of an input's own task); undefined: the router.
  void set_fixed_gates(const Tensor& gates);
  // How dynamic modules run: one mixture of gates per batch while training (FusionBench's
  // batch_reduce; inference is per sample), and how dynamic linear layers mix.
  void set_shared_gates(bool shared) { shared_gates_ = shared; }
  void set_mix_mode(MixMode mode) { mix_mode_ = mode; }
  Provider& provider() const { return provider_; }
  // Every parameter name, in a fixed order (embeddings, layers, post-LayerNorm, projection).
  const std::vector<std::string>& names() const { return names_; }
  TensorMap& params() { return params_; }
  const TensorMap& params() const { return params_; }
  const Tensor& param(const std::string& name) const;
  // Zero tensors shaped like every parameter (gradients, optimiser state).
  TensorMap zeros_like() const;

  // What backward() needs from a forward pass.
  struct Saved;
  // images [B, C, H, W] (F32, normalised as the model expects) -> image embeddings [B, P].
  // With `saved`, keeps the activations for backward().
  Tensor forward(const Tensor& images, std::shared_ptr<Saved>* saved = nullptr) const;
  // Accumulates into `grads` (from zeros_like(), or any subset of it: a parameter without an
  // entry is frozen and its gradient is not computed) the gradient of the loss given dembeds.
  void backward(const Tensor& dembeds, const Saved& saved, TensorMap& grads) const;

  // The layers whose inputs layer_inputs() gives, named like their weight without ".weight":
  // every linear layer and LayerNorm, in forward order.
  std::vector<std::string> layer_names() const;
  // The input of each layer in `layers` (every one of layer_names() when empty) in the forward
  // pass that filled `saved`: [B*T, in] inside the encoder (row b*T + t), [B, in] for the
  // post-LayerNorm and the projection (class token only). LayerNorm inputs are before
  // normalisation. The inputs of an upscaled MLP are those of its dynamic fc1 and fc2. Throws
  // ALLOY_ERR_NOT_FOUND for a name not in layer_names().
  TensorMap layer_inputs(const Saved& saved, const std::vector<std::string>& layers) const;

 private:
  // The task vectors of an upscaled MLP, stacked [T, ...] for the dynamic layers; the
  // per-expert parameters are views of their rows.
  struct StackedExperts {
    Tensor fc1_w, fc1_b, fc2_w, fc2_b;
  };
  void add_param(const std::string& name, const Shape& shape);
  void add_experts(int64_t layer, const MlpExperts& experts);
  MoeMlpWeights moe_weights(int64_t layer) const;
  Tensor moe_backward(int64_t layer, const Tensor& dy, const MoeMlpSaved& saved,
                      TensorMap& grads) const;

  VitConfig config_;
  Provider& provider_;
  ExpertLayout experts_;
  std::vector<StackedExperts> stacked_;
  TwinParts twin_;
  Tensor fixed_gates_;
  bool shared_gates_ = false;
  MixMode mix_mode_ = MixMode::automatic;
  std::vector<std::string> names_;
  TensorMap params_;
};

// Hugging Face name of parameter `leaf` of encoder layer `layer`
// ("vision_model.encoder.layers.3.mlp.fc1.weight").
std::string vit_layer_param(int64_t layer, const std::string& leaf);
// The task vector of expert `expert` of an upscaled MLP for `leaf` ("fc1.weight"):
// "vision_model.encoder.layers.3.mlp.experts.5.fc1.weight".
std::string vit_expert_param(int64_t layer, int64_t expert, const std::string& leaf);
// A router parameter of an upscaled MLP: leaf "0.weight", "0.bias", "2.weight", "2.bias" (torch
// Sequential numbering: Linear, ReLU, Linear) or "constant" (no hidden layer):
// "vision_model.encoder.layers.3.mlp.router.0.weight".
std::string vit_router_param(int64_t layer, const std::string& leaf);
// The router parameters a router with `hidden_layers` hidden layers has, as leaves.
std::vector<std::string> router_leaves(int hidden_layers);

}  // namespace alloy
