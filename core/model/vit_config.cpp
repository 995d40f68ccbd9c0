#include "model/vit_config.hpp"

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "io/file_io.hpp"

namespace alloy {

using nlohmann::json;

namespace {

int64_t positive(const json& object, const char* key, int64_t fallback, const std::string& label,
                 bool required) {
  const auto it = object.find(key);
  if (it == object.end()) {
    if (required) fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: no \"{}\"", label, key);
    return fallback;
  }
  if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: \"{}\" is {}, not a positive integer", label, key,
         it->dump());
  }
  return it->get<int64_t>();
}

}  // namespace

Activation activation_from_name(const std::string& name, const std::string& label) {
  if (name == "quick_gelu") return Activation::quick_gelu;
  if (name == "gelu") return Activation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::gelu_tanh;
  fail(ALLOY_ERR_UNSUPPORTED,
       "{}: hidden_act '{}' is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)",
       label, name);
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::gelu:
      return "gelu";
    case Activation::gelu_tanh:
      return "gelu_pytorch_tanh";
    case Activation::quick_gelu:
      return "quick_gelu";
    case Activation::relu:  // activation_from_name does not accept it: no CLIP model uses it
      return "relu";
  }
  return "unknown";
}

void validate_vit_config(const VitConfig& c, const std::string& label) {
  if (c.hidden_size % c.num_attention_heads != 0) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: hidden_size {} is not divisible by {} attention heads",
         label, c.hidden_size, c.num_attention_heads);
  }
  if (c.image_size % c.patch_size != 0) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: image_size {} is not divisible by patch_size {}", label,
         c.image_size, c.patch_size);
  }
  if (!(c.layer_norm_eps > 0)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: layer_norm_eps must be positive", label);
  }
}

VitConfig parse_vit_config(const std::string& json_text, const std::string& label) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: not valid JSON: {}", label, e.what());
  }
  if (!root.is_object()) fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: not a JSON object", label);
  // A full CLIPConfig nests the vision tower; its projection size sits at the top level.
  const bool nested = root.contains("vision_config");
  const json& vision = nested ? root["vision_config"] : root;
  if (!vision.is_object()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: \"vision_config\" is not an object", label);
  }
  VitConfig c;
  c.hidden_size = positive(vision, "hidden_size", c.hidden_size, label, true);
  c.intermediate_size = positive(vision, "intermediate_size", c.intermediate_size, label, true);
  c.num_hidden_layers = positive(vision, "num_hidden_layers", c.num_hidden_layers, label, true);
  c.num_attention_heads =
      positive(vision, "num_attention_heads", c.num_attention_heads, label, true);
  c.num_channels = positive(vision, "num_channels", c.num_channels, label, false);
  c.image_size = positive(vision, "image_size", c.image_size, label, true);
  c.patch_size = positive(vision, "patch_size", c.patch_size, label, true);
  c.projection_dim =
      positive(nested ? root : vision, "projection_dim", c.projection_dim, label, false);
  if (const auto it = vision.find("hidden_act"); it != vision.end()) {
    if (!it->is_string()) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: \"hidden_act\" is not a string", label);
    }
    c.hidden_act = activation_from_name(it->get<std::string>(), label);
  }
  if (const auto it = vision.find("layer_norm_eps"); it != vision.end()) {
    if (!it->is_number()) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: \"layer_norm_eps\" is not a number", label);
    }
    c.layer_norm_eps = it->get<double>();
  }
  validate_vit_config(c, label);
  return c;
}

VitConfig load_vit_config(const std::string& path) {
  return parse_vit_config(read_text_file(path, "model config"), path);
}

std::string vit_config_json(const VitConfig& c) {
  const json config = {{"model_type", "clip_vision_model"},
                       {"architectures", {"CLIPVisionModelWithProjection"}},
                       {"hidden_size", c.hidden_size},
                       {"intermediate_size", c.intermediate_size},
                       {"num_hidden_layers", c.num_hidden_layers},
                       {"num_attention_heads", c.num_attention_heads},
                       {"num_channels", c.num_channels},
                       {"image_size", c.image_size},
                       {"patch_size", c.patch_size},
                       {"projection_dim", c.projection_dim},
                       {"hidden_act", activation_name(c.hidden_act)},
                       {"layer_norm_eps", c.layer_norm_eps}};
  return config.dump(2) + "\n";
}

}  // namespace alloy
