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
#include "model/vit_config.hpp"

namespace alloy {

using TensorMap = std::map<std::string, Tensor>;

class VitModel {
 public:
  // Parameters allocated on `provider` (zero-filled); see init_random() and load().
  VitModel(const VitConfig& config, Provider& provider);

  // Reads DIR/config.json and DIR's safetensors (sharded or not). Every parameter must be there
  // with its shape (any float dtype, converted to F32); other tensors are ignored. Throws
  // naming the file and tensor.
  static VitModel load(const std::string& dir, Provider& provider);
  // Writes DIR (config.json + model.safetensors, F32), atomically like a merge output.
  void save(const std::string& dir, bool overwrite = false) const;
  // CLIP's initialisation (transformers' CLIPPreTrainedModel._init_weights), deterministic.
  void init_random(uint64_t seed);

  const VitConfig& config() const { return config_; }
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
  // Accumulates into `grads` (from zeros_like()) the gradient of the loss given dembeds.
  void backward(const Tensor& dembeds, const Saved& saved, TensorMap& grads) const;

 private:
  void add_param(const std::string& name, const Shape& shape);
  VitConfig config_;
  Provider& provider_;
  std::vector<std::string> names_;
  TensorMap params_;
};

// Hugging Face name of parameter `leaf` of encoder layer `layer`
// ("vision_model.encoder.layers.3.mlp.fc1.weight").
std::string vit_layer_param(int64_t layer, const std::string& leaf);

}  // namespace alloy
