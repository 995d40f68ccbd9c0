// The shape of a CLIP-style vision transformer, read from a Hugging Face config.json: either a
// CLIPVisionConfig ("model_type": "clip_vision_model") or a full CLIPConfig, whose
// "vision_config" and "projection_dim" are used.
#pragma once

#include <cstdint>
#include <string>

#include "compute/provider.hpp"

namespace alloy {

struct VitConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t projection_dim = 512;
  Activation hidden_act = Activation::quick_gelu;
  double layer_norm_eps = 1e-5;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  int64_t tokens() const { return patches() + 1; }  // the class token first
};

// Throws alloy::Error naming `label` and the key when a value is missing, of the wrong type,
// or inconsistent (hidden size not divisible by heads, image not divisible into patches).
VitConfig parse_vit_config(const std::string& json_text, const std::string& label);
VitConfig load_vit_config(const std::string& path);
// The config as JSON, a CLIPVisionConfig Hugging Face's transformers reads back.
std::string vit_config_json(const VitConfig& config);
// Checks the relations between the sizes; throws naming `label`.
void validate_vit_config(const VitConfig& config, const std::string& label);

// "gelu" -> Activation::gelu, ...; throws for a name alloy does not implement.
Activation activation_from_name(const std::string& name, const std::string& label);
const char* activation_name(Activation activation);

}  // namespace alloy
