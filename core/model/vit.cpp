#include "model/vit.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include <alloy/alloy.h>

#include "error.hpp"
#include "io/file_io.hpp"
#include "io/safetensors_writer.hpp"
#include "model/twin_forward.hpp"
#include "model/twin_router.hpp"
#include "tensor/registry.hpp"

namespace alloy {
namespace {

const std::string& kClass = kVitClassEmbedding;
const std::string& kPatch = kVitPatchEmbedding;
const std::string& kPosition = kVitPositionEmbedding;
const std::string& kPreNorm = kVitPreNorm;
const std::string& kPostNorm = kVitPostNorm;
const std::string& kProjection = kVitProjection;

}  // namespace

std::string vit_layer_param(int64_t layer, const std::string& leaf) {
  return "vision_model.encoder.layers." + std::to_string(layer) + "." + leaf;
}

std::string vit_expert_param(int64_t layer, int64_t expert, const std::string& leaf) {
  return vit_layer_param(layer, "mlp.experts." + std::to_string(expert) + "." + leaf);
}

std::string vit_router_param(int64_t layer, const std::string& leaf) {
  return vit_layer_param(layer, "mlp.router." + leaf);
}

std::vector<std::string> router_leaves(int hidden_layers) {
  switch (hidden_layers) {
    case 0:
      return {"constant"};
    case 1:
      return {"0.weight", "0.bias"};
    case 2:
      return {"0.weight", "0.bias", "2.weight", "2.bias"};
  }
  fail(ALLOY_ERR_INVALID_ARGUMENT, "a router has 0, 1 or 2 hidden layers, not {}", hidden_layers);
}

namespace {

const char* const kExpertLeaves[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};

// "vision_model.encoder.layers.<l>.mlp.<rest>" -> l and rest; false for other names.
bool parse_mlp_name(const std::string& name, int64_t* layer, std::string* rest) {
  static const std::string prefix = "vision_model.encoder.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  std::size_t at = prefix.size();
  std::size_t end = at;
  while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
  if (end == at || end - at > 9 || name.compare(end, 5, ".mlp.") != 0) return false;
  *layer = std::stoll(name.substr(at, end - at));
  *rest = name.substr(end + 5);
  return true;
}

}  // namespace

ExpertLayout detect_expert_layout(const VitConfig& config, const Model& model) {
  const int64_t layers = config.num_hidden_layers;
  std::vector<std::set<int64_t>> experts(static_cast<std::size_t>(layers));
  std::vector<bool> routed(static_cast<std::size_t>(layers), false);
  bool any = false;
  for (const TensorEntry& entry : model.tensors()) {
    int64_t layer = 0;
    std::string rest;
    if (!parse_mlp_name(entry.name, &layer, &rest) || layer >= layers) continue;
    const std::size_t l = static_cast<std::size_t>(layer);
    if (rest.compare(0, 8, "experts.") == 0) {
      const std::size_t dot = rest.find('.', 8);
      const std::string index = rest.substr(8, dot == std::string::npos ? dot : dot - 8);
      if (index.empty() || index.size() > 6 ||
          index.find_first_not_of("0123456789") != std::string::npos) {
        fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}': tensor '{}' is not an expert's task vector",
             model.name(), entry.name);
      }
      experts[l].insert(std::stoll(index));
      any = true;
    } else if (rest.compare(0, 7, "router.") == 0) {
      routed[l] = true;
      any = true;
    }
  }
  if (!any) return {};
  ExpertLayout layout(static_cast<std::size_t>(layers));
  for (int64_t layer = 0; layer < layers; ++layer) {
    const std::size_t l = static_cast<std::size_t>(layer);
    if (experts[l].empty() && !routed[l]) continue;
    const std::string mlp = vit_layer_param(layer, "mlp");
    if (experts[l].empty()) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}': {} has a router but no experts", model.name(),
           mlp);
    }
    const int64_t count = static_cast<int64_t>(experts[l].size());
    if (*experts[l].rbegin() != count - 1) {
      fail(ALLOY_ERR_INVALID_ARGUMENT,
           "model '{}': the experts of {} are not numbered 0 to {} (expert {} is there)",
           model.name(), mlp, count - 1, *experts[l].rbegin());
    }
    for (int64_t e = 0; e < count; ++e) {
      for (const char* leaf : kExpertLeaves) {
        if (!model.find(vit_expert_param(layer, e, leaf))) {
          fail(ALLOY_ERR_NOT_FOUND, "model '{}': no tensor '{}' (expert {} of {})", model.name(),
               vit_expert_param(layer, e, leaf), e, mlp);
        }
      }
    }
    int router_layers = -1;
    for (int hidden : {2, 1, 0}) {
      if (model.find(vit_router_param(layer, router_leaves(hidden).back()))) {
        router_layers = hidden;
        break;
      }
    }
    if (router_layers < 0) {
      fail(ALLOY_ERR_NOT_FOUND, "model '{}': {} has experts but no router ('{}')", model.name(),
           mlp, vit_router_param(layer, "0.weight"));
    }
    for (const std::string& leaf : router_leaves(router_layers)) {
      if (!model.find(vit_router_param(layer, leaf))) {
        fail(ALLOY_ERR_NOT_FOUND, "model '{}': no tensor '{}' (the router of {})", model.name(),
             vit_router_param(layer, leaf), mlp);
      }
    }
    layout[l] = MlpExperts{count, router_layers};
  }
  return layout;
}

std::string expert_layout_json(const ExpertLayout& layout) {
  nlohmann::json modules = nlohmann::json::array();
  for (std::size_t l = 0; l < layout.size(); ++l) {
    if (layout[l].experts == 0) continue;
    const int64_t layer = static_cast<int64_t>(l);
    modules.push_back({{"kind", "wemoe_mlp"},
                       {"module", vit_layer_param(layer, "mlp")},
                       {"experts", layout[l].experts},
                       {"router_hidden_layers", layout[l].router_layers},
                       {"routing", "per_sample_token_mean"}});
  }
  return modules.dump();
}

struct VitModel::Saved {
  struct Block {
    LayerNormSaved norm1, norm2;
    AttentionSaved attention;
    MlpSaved mlp;     // a plain MLP
    MoeMlpSaved moe;  // an upscaled one
  };
  int64_t batch = 0;
  Tensor patches;  // [B*Np, C*p*p]
  LayerNormSaved pre_norm;
  std::vector<Block> blocks;
  LayerNormSaved post_norm;
  Tensor pooled;  // [B, D], input of the projection
};

VitModel::VitModel(const VitConfig& config, Provider& provider, const ExpertLayout& experts,
                   const TwinRouterShape& twin_router)
    : config_(config), provider_(provider), experts_(experts) {
  validate_vit_config(config_, "model config");
  if (!experts_.empty() && static_cast<int64_t>(experts_.size()) != config.num_hidden_layers) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "an expert layout of {} layers for a model of {}",
         experts_.size(), config.num_hidden_layers);
  }
  stacked_.resize(experts_.size());
  const int64_t d = config.hidden_size;
  add_param(kClass, {d});
  add_param(kPatch, {d, config.num_channels, config.patch_size, config.patch_size});
  add_param(kPosition, {config.tokens(), d});
  add_param(kPreNorm + "weight", {d});
  add_param(kPreNorm + "bias", {d});
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    add_param(vit_layer_param(l, "layer_norm1.weight"), {d});
    add_param(vit_layer_param(l, "layer_norm1.bias"), {d});
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add_param(vit_layer_param(l, std::string("self_attn.") + proj + ".weight"), {d, d});
      add_param(vit_layer_param(l, std::string("self_attn.") + proj + ".bias"), {d});
    }
    add_param(vit_layer_param(l, "layer_norm2.weight"), {d});
    add_param(vit_layer_param(l, "layer_norm2.bias"), {d});
    add_param(vit_layer_param(l, "mlp.fc1.weight"), {config.intermediate_size, d});
    add_param(vit_layer_param(l, "mlp.fc1.bias"), {config.intermediate_size});
    add_param(vit_layer_param(l, "mlp.fc2.weight"), {d, config.intermediate_size});
    add_param(vit_layer_param(l, "mlp.fc2.bias"), {d});
    if (!experts_.empty() && experts_[static_cast<std::size_t>(l)].experts > 0) {
      add_experts(l, experts_[static_cast<std::size_t>(l)]);
    }
  }
  add_param(kPostNorm + "weight", {d});
  add_param(kPostNorm + "bias", {d});
  add_param(kProjection, {config.projection_dim, d});
  if (twin_router.experts > 0) {
    if (upscaled()) {
      fail(ALLOY_ERR_INVALID_ARGUMENT,
           "a model is either WEMoE-upscaled or Twin-Merging, not both");
    }
    const int64_t h = twin_router.width;
    for (const std::string& leaf : twin_router_leaves()) {
      const Shape shape = leaf == "0.weight"   ? Shape{h, d}
                          : leaf == "4.weight" ? Shape{h, h}
                          : leaf == "8.weight" ? Shape{twin_router.experts, h}
                          : leaf == "8.bias"   ? Shape{twin_router.experts}
                                               : Shape{h};
      add_param(twin_router_param(leaf), shape);
    }
  }
}

void VitModel::set_fixed_gates(const Tensor& gates) {
  if (gates.defined() && (!twin_.active() || gates.shape() != Shape{twin_.experts})) {
    fail(ALLOY_ERR_SHAPE, "fixed gates {} for a model with {} Twin-Merging experts",
         shape_string(gates.shape()), twin_.experts);
  }
  fixed_gates_ = gates.defined() ? provider_.to_device(gates) : Tensor();
}

void VitModel::add_param(const std::string& name, const Shape& shape) {
  names_.push_back(name);
  params_.emplace(name, provider_.allocate(DType::F32, shape));
}

void VitModel::add_experts(int64_t l, const MlpExperts& e) {
  const int64_t d = config_.hidden_size;
  const int64_t inner = config_.intermediate_size;
  const int64_t t = e.experts;
  StackedExperts& s = stacked_[static_cast<std::size_t>(l)];
  s.fc1_w = provider_.allocate(DType::F32, {t, inner, d});
  s.fc1_b = provider_.allocate(DType::F32, {t, inner});
  s.fc2_w = provider_.allocate(DType::F32, {t, d, inner});
  s.fc2_b = provider_.allocate(DType::F32, {t, d});
  for (int64_t x = 0; x < t; ++x) {
    auto view = [&](const char* leaf, const Tensor& stacked) {
      Shape shape(stacked.shape().begin() + 1, stacked.shape().end());
      const std::string name = vit_expert_param(l, x, leaf);
      names_.push_back(name);
      params_.emplace(name, stacked.rows(x, 1).reshaped(shape));
    };
    view("fc1.weight", s.fc1_w);
    view("fc1.bias", s.fc1_b);
    view("fc2.weight", s.fc2_w);
    view("fc2.bias", s.fc2_b);
  }
  switch (e.router_layers) {
    case 0:
      add_param(vit_router_param(l, "constant"), {t});
      break;
    case 1:
      add_param(vit_router_param(l, "0.weight"), {t, d});
      add_param(vit_router_param(l, "0.bias"), {t});
      break;
    case 2:
      add_param(vit_router_param(l, "0.weight"), {d, d});
      add_param(vit_router_param(l, "0.bias"), {d});
      add_param(vit_router_param(l, "2.weight"), {t, d});
      add_param(vit_router_param(l, "2.bias"), {t});
      break;
    default:
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: a router has 0, 1 or 2 hidden layers, not {}",
           vit_layer_param(l, "mlp"), e.router_layers);
  }
}

bool VitModel::upscaled() const {
  for (const MlpExperts& e : experts_) {
    if (e.experts > 0) return true;
  }
  return false;
}

MoeMlpWeights VitModel::moe_weights(int64_t l) const {
  const StackedExperts& s = stacked_[static_cast<std::size_t>(l)];
  const MlpExperts& e = experts_[static_cast<std::size_t>(l)];
  auto w = [&](const std::string& leaf) { return &param(vit_layer_param(l, leaf)); };
  auto r = [&](const std::string& leaf) { return &param(vit_router_param(l, leaf)); };
  MoeMlpWeights m;
  m.fc1 = {w("mlp.fc1.weight"), w("mlp.fc1.bias"), &s.fc1_w, &s.fc1_b};
  m.fc2 = {w("mlp.fc2.weight"), w("mlp.fc2.bias"), &s.fc2_w, &s.fc2_b};
  m.router.hidden_layers = e.router_layers;
  if (e.router_layers == 0) {
    m.router.b1 = r("constant");
  } else {
    m.router.w1 = r("0.weight");
    m.router.b1 = r("0.bias");
  }
  if (e.router_layers == 2) {
    m.router.w2 = r("2.weight");
    m.router.b2 = r("2.bias");
  }
  return m;
}

Tensor VitModel::moe_backward(int64_t l, const Tensor& dy, const MoeMlpSaved& saved,
                              TensorMap& grads) const {
  Provider& p = provider_;
  const MlpExperts& e = experts_[static_cast<std::size_t>(l)];
  auto grad = [&](const std::string& name) -> Tensor* {
    const auto it = grads.find(name);
    return it == grads.end() ? nullptr : &it->second;
  };
  MoeMlpGrads g;
  g.fc1.weight = grad(vit_layer_param(l, "mlp.fc1.weight"));
  g.fc1.bias = grad(vit_layer_param(l, "mlp.fc1.bias"));
  g.fc2.weight = grad(vit_layer_param(l, "mlp.fc2.weight"));
  g.fc2.bias = grad(vit_layer_param(l, "mlp.fc2.bias"));
  // Expert gradients come stacked from the dynamic layers; rows go to the per-expert entries.
  const StackedExperts& s = stacked_[static_cast<std::size_t>(l)];
  struct Stacked {
    const char* leaf;
    const Tensor* like;
    Tensor** slot;
    Tensor grad;
  };
  Stacked stacked[] = {{"fc1.weight", &s.fc1_w, &g.fc1.deltas, {}},
                       {"fc1.bias", &s.fc1_b, &g.fc1.bias_deltas, {}},
                       {"fc2.weight", &s.fc2_w, &g.fc2.deltas, {}},
                       {"fc2.bias", &s.fc2_b, &g.fc2.bias_deltas, {}}};
  for (Stacked& st : stacked) {
    for (int64_t x = 0; x < e.experts; ++x) {
      if (grad(vit_expert_param(l, x, st.leaf))) {
        st.grad = p.allocate(DType::F32, st.like->shape());
        *st.slot = &st.grad;
        break;
      }
    }
  }
  if (e.router_layers == 0) {
    g.router.b1 = grad(vit_router_param(l, "constant"));
  } else {
    g.router.w1 = grad(vit_router_param(l, "0.weight"));
    g.router.b1 = grad(vit_router_param(l, "0.bias"));
  }
  if (e.router_layers == 2) {
    g.router.w2 = grad(vit_router_param(l, "2.weight"));
    g.router.b2 = grad(vit_router_param(l, "2.bias"));
  }
  const Tensor dx = moe_mlp_backward(p, dy, config_.hidden_act, moe_weights(l), saved, g);
  for (Stacked& st : stacked) {
    if (!st.grad.defined()) continue;
    for (int64_t x = 0; x < e.experts; ++x) {
      if (Tensor* target = grad(vit_expert_param(l, x, st.leaf))) {
        p.binary(ALLOY_BINARY_ADD, *target, *target, st.grad.rows(x, 1).reshaped(target->shape()));
      }
    }
  }
  return dx;
}

const Tensor& VitModel::param(const std::string& name) const {
  const auto it = params_.find(name);
  if (it == params_.end()) fail(ALLOY_ERR_NOT_FOUND, "the model has no parameter '{}'", name);
  return it->second;
}

TensorMap VitModel::zeros_like() const {
  TensorMap zeros;
  for (const auto& [name, tensor] : params_) {
    zeros.emplace(name, provider_.allocate(DType::F32, tensor.shape()));
  }
  return zeros;
}

void VitModel::init_random(uint64_t seed) {
  // transformers' CLIPPreTrainedModel._init_weights with initializer_factor 1.
  const double d = static_cast<double>(config_.hidden_size);
  const double layers = static_cast<double>(config_.num_hidden_layers);
  const double in_proj_std = std::pow(d, -0.5) * std::pow(2 * layers, -0.5);
  const double out_proj_std = std::pow(d, -0.5);
  const double fc_std = std::pow(2 * d, -0.5);
  uint64_t stream = 0;
  auto normal = [&](const std::string& name, double std) {
    provider_.fill_random(params_.at(name), Distribution::normal, 0.0, std,
                          seed * 1000003u + stream++);
  };
  normal(kClass, std::pow(d, -0.5));
  normal(kPatch, 0.02);
  normal(kPosition, 0.02);
  for (auto& [name, tensor] : params_) {
    const bool norm_weight =
        name.find("norm") != std::string::npos && name.compare(name.size() - 7, 7, ".weight") == 0;
    if (norm_weight) provider_.fill(tensor, 1.0);
  }
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
      normal(vit_layer_param(l, std::string("self_attn.") + proj + ".weight"), in_proj_std);
    }
    normal(vit_layer_param(l, "self_attn.out_proj.weight"), out_proj_std);
    normal(vit_layer_param(l, "mlp.fc1.weight"), fc_std);
    normal(vit_layer_param(l, "mlp.fc2.weight"), in_proj_std);
  }
  normal(kProjection, std::pow(d, -0.5));
}

VitModel VitModel::load(const std::string& dir, Provider& provider) {
  const VitConfig config = load_vit_config(dir + "/config.json");
  const Model files(dir, dir, ALLOY_ROLE_MODEL);
  return from_models(config, files, nullptr, provider);
}

VitModel VitModel::from_models(const VitConfig& config, const Model& primary, const Model* fallback,
                               Provider& provider) {
  const TwinRouterShape twin_router = detect_twin_router(primary, config.hidden_size);
  VitModel model(config, provider, detect_expert_layout(config, primary), twin_router);
  for (const std::string& name : model.names_) {
    const Model* source = primary.find(name) || !fallback ? &primary : fallback;
    const TensorEntry* entry = source->find(name);
    Tensor& param = model.params_.at(name);
    if (!entry) {
      fail(ALLOY_ERR_NOT_FOUND, "model '{}': no tensor '{}', which a model of this config needs",
           primary.name(), name);
    }
    if (!is_float(entry->dtype) || entry->shape != param.shape()) {
      fail(ALLOY_ERR_SHAPE, "{}: tensor '{}' is {} {}, but the config makes it F32 {}",
           source->file_of(name), name, dtype_name(entry->dtype), shape_string(entry->shape),
           shape_string(param.shape()));
    }
    const Tensor stored = provider.to_device(source->read(name));
    provider.copy(param, stored);
    source->release(name);
  }
  if (twin_router.experts > 0) {
    // The shared parameters with exclusive knowledge, and which of them are linear weights.
    std::map<std::string, Shape> shapes;
    std::map<std::string, bool> linear;
    for (const std::string& name : model.names_) {
      if (name.compare(0, 5, "twin.") == 0) continue;
      const Shape& shape = model.param(name).shape();
      shapes.emplace(name, shape);
      linear[name] = shape.size() >= 2 && name != kPosition;
    }
    model.twin_ = load_twin_parts(primary, shapes, linear, twin_router.experts, provider);
  }
  return model;
}

void VitModel::save(const std::string& dir, bool overwrite,
                    const std::map<std::string, std::string>& extra_files) const {
  if (twin_.active()) {
    fail(ALLOY_ERR_UNSUPPORTED, "a Twin-Merging model is written by its strategy, not saved");
  }
  WriterOptions options;
  options.overwrite = overwrite;
  options.metadata = {{"format", "pt"}};
  if (upscaled()) options.metadata["modules"] = expert_layout_json(experts_);
  SafetensorsWriter writer(dir, options);
  for (const std::string& name : names_) writer.declare(name, DType::F32, param(name).shape());
  std::vector<char> host;
  for (const std::string& name : names_) {
    const Tensor& tensor = param(name);
    host.resize(tensor.nbytes());
    provider_.download(tensor, host.data(), host.size());
    writer.write(name, host.data(), host.size());
  }
  // config.json and the other files travel in the same atomic rename as the weights.
  write_text_file(writer.staging_dir() + "/config.json", vit_config_json(config_),
                  "the model config");
  for (const auto& [name, text] : extra_files) {
    write_text_file(writer.staging_dir() + "/" + name, text, name);
  }
  writer.finish();
}

Tensor VitModel::forward(const Tensor& images, std::shared_ptr<Saved>* saved_out) const {
  Provider& p = provider_;
  const VitConfig& c = config_;
  if (images.ndim() != 4 || images.shape()[1] != c.num_channels ||
      images.shape()[2] != c.image_size || images.shape()[3] != c.image_size) {
    fail(ALLOY_ERR_SHAPE, "images of shape {} do not fit the model: [B, {}, {}, {}] expected",
         shape_string(images.shape()), c.num_channels, c.image_size, c.image_size);
  }
  if (twin_.active()) {
    if (saved_out) {
      fail(ALLOY_ERR_UNSUPPORTED,
           "a Twin-Merging model runs for inference only: its layers' inputs and gradients are "
           "not kept (only its router trains, on the shared model's features)");
    }
    return twin_forward(*this, twin_, images, fixed_gates_);
  }
  const int64_t b = images.shape()[0];
  const int64_t d = c.hidden_size;
  const int64_t np = c.patches();
  const int64_t t = c.tokens();
  auto saved = saved_out ? std::make_shared<Saved>() : nullptr;
  const int64_t patch_len = c.num_channels * c.patch_size * c.patch_size;

  Tensor patches = p.allocate(DType::F32, {b, np, patch_len});
  p.patchify(patches, images, c.patch_size);
  patches = patches.reshaped({b * np, patch_len});
  const Tensor embedded =
      linear_forward(p, patches, param(kPatch).reshaped({d, patch_len}), Tensor());
  Tensor cls = p.allocate(DType::F32, {b, 1, d});
  p.broadcast(cls, param(kClass));
  Tensor h = p.allocate(DType::F32, {b, t, d});
  const Tensor patch_tokens = embedded.reshaped({b, np, d});
  p.concat(h, {&cls, &patch_tokens}, 1);
  p.binary(ALLOY_BINARY_ADD, h, h, param(kPosition));
  h = layer_norm_forward(p, h.reshaped({b * t, d}), param(kPreNorm + "weight"),
                         param(kPreNorm + "bias"), c.layer_norm_eps,
                         saved ? &saved->pre_norm : nullptr);

  if (saved) saved->blocks.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    Saved::Block* block = saved ? &saved->blocks[static_cast<std::size_t>(l)] : nullptr;
    auto w = [&](const char* leaf) -> const Tensor& { return param(vit_layer_param(l, leaf)); };
    const Tensor normed1 = layer_norm_forward(p, h, w("layer_norm1.weight"), w("layer_norm1.bias"),
                                              c.layer_norm_eps, block ? &block->norm1 : nullptr);
    const AttentionWeights aw{&w("self_attn.q_proj.weight"),   &w("self_attn.q_proj.bias"),
                              &w("self_attn.k_proj.weight"),   &w("self_attn.k_proj.bias"),
                              &w("self_attn.v_proj.weight"),   &w("self_attn.v_proj.bias"),
                              &w("self_attn.out_proj.weight"), &w("self_attn.out_proj.bias")};
    const Tensor attended = attention_forward(p, normed1.reshaped({b, t, d}), c.num_attention_heads,
                                              aw, block ? &block->attention : nullptr);
    h = add(p, h, attended.reshaped({b * t, d}));
    const Tensor normed2 = layer_norm_forward(p, h, w("layer_norm2.weight"), w("layer_norm2.bias"),
                                              c.layer_norm_eps, block ? &block->norm2 : nullptr);
    const bool upscaled_mlp = !experts_.empty() && experts_[static_cast<std::size_t>(l)].experts;
    const Tensor mlp =
        upscaled_mlp
            ? moe_mlp_forward(p, normed2.reshaped({b, t, d}), c.hidden_act, moe_weights(l),
                              MoeMlpOptions{shared_gates_, mix_mode_},
                              block ? &block->moe : nullptr)
                  .reshaped({b * t, d})
            : mlp_forward(p, normed2, c.hidden_act, w("mlp.fc1.weight"), w("mlp.fc1.bias"),
                          w("mlp.fc2.weight"), w("mlp.fc2.bias"), block ? &block->mlp : nullptr);
    h = add(p, h, mlp);
  }

  Tensor first = p.allocate(DType::F32, {b, 1, d});
  Tensor rest = p.allocate(DType::F32, {b, t - 1, d});
  p.split({&first, &rest}, h.reshaped({b, t, d}), 1);
  const Tensor pooled = layer_norm_forward(p, first.reshaped({b, d}), param(kPostNorm + "weight"),
                                           param(kPostNorm + "bias"), c.layer_norm_eps,
                                           saved ? &saved->post_norm : nullptr);
  Tensor embeds = linear_forward(p, pooled, param(kProjection), Tensor());
  if (saved) {
    saved->batch = b;
    saved->patches = patches;
    saved->pooled = pooled;
    *saved_out = saved;
  }
  return embeds;
}

void VitModel::backward(const Tensor& dembeds, const Saved& s, TensorMap& grads) const {
  Provider& p = provider_;
  const VitConfig& c = config_;
  const int64_t b = s.batch;
  const int64_t d = c.hidden_size;
  const int64_t np = c.patches();
  const int64_t t = c.tokens();
  // A parameter without an entry in `grads` is frozen: its gradient is not computed.
  auto grad = [&](const std::string& name) -> Tensor* {
    const auto it = grads.find(name);
    return it == grads.end() ? nullptr : &it->second;
  };

  const Tensor dpooled =
      linear_backward(p, dembeds, s.pooled, param(kProjection), grad(kProjection), nullptr);
  const Tensor dfirst = layer_norm_backward(p, dpooled, s.post_norm, param(kPostNorm + "weight"),
                                            grad(kPostNorm + "weight"), grad(kPostNorm + "bias"));
  // Only the class token reaches the output; the other tokens' gradient starts at zero.
  Tensor dh = p.allocate(DType::F32, {b, t, d});
  const Tensor zeros = p.allocate(DType::F32, {b, t - 1, d});
  const Tensor dfirst3 = dfirst.reshaped({b, 1, d});
  p.concat(dh, {&dfirst3, &zeros}, 1);
  dh = dh.reshaped({b * t, d});

  for (int64_t l = c.num_hidden_layers - 1; l >= 0; --l) {
    const Saved::Block& block = s.blocks[static_cast<std::size_t>(l)];
    auto w = [&](const char* leaf) -> const Tensor& { return param(vit_layer_param(l, leaf)); };
    auto g = [&](const char* leaf) -> Tensor* { return grad(vit_layer_param(l, leaf)); };
    // h = h + mlp(norm2(h)): the residual passes dh through, the branch adds to it.
    const bool upscaled_mlp = !experts_.empty() && experts_[static_cast<std::size_t>(l)].experts;
    const Tensor dmlp =
        upscaled_mlp
            ? moe_backward(l, dh.reshaped({b, t, d}), block.moe, grads).reshaped({b * t, d})
            : mlp_backward(p, dh, c.hidden_act, w("mlp.fc1.weight"), w("mlp.fc2.weight"), block.mlp,
                           g("mlp.fc1.weight"), g("mlp.fc1.bias"), g("mlp.fc2.weight"),
                           g("mlp.fc2.bias"));
    const Tensor dnorm2 = layer_norm_backward(p, dmlp, block.norm2, w("layer_norm2.weight"),
                                              g("layer_norm2.weight"), g("layer_norm2.bias"));
    p.binary(ALLOY_BINARY_ADD, dh, dh, dnorm2);
    const AttentionWeights aw{&w("self_attn.q_proj.weight"),   &w("self_attn.q_proj.bias"),
                              &w("self_attn.k_proj.weight"),   &w("self_attn.k_proj.bias"),
                              &w("self_attn.v_proj.weight"),   &w("self_attn.v_proj.bias"),
                              &w("self_attn.out_proj.weight"), &w("self_attn.out_proj.bias")};
    const AttentionGrads ag{g("self_attn.q_proj.weight"),   g("self_attn.q_proj.bias"),
                            g("self_attn.k_proj.weight"),   g("self_attn.k_proj.bias"),
                            g("self_attn.v_proj.weight"),   g("self_attn.v_proj.bias"),
                            g("self_attn.out_proj.weight"), g("self_attn.out_proj.bias")};
    const Tensor dattn = attention_backward(p, dh, c.num_attention_heads, aw, block.attention, ag);
    const Tensor dnorm1 =
        layer_norm_backward(p, dattn.reshaped({b * t, d}), block.norm1, w("layer_norm1.weight"),
                            g("layer_norm1.weight"), g("layer_norm1.bias"));
    p.binary(ALLOY_BINARY_ADD, dh, dh, dnorm1);
  }

  const Tensor dembedded = layer_norm_backward(p, dh, s.pre_norm, param(kPreNorm + "weight"),
                                               grad(kPreNorm + "weight"), grad(kPreNorm + "bias"))
                               .reshaped({b, t, d});
  if (Tensor* dposition = grad(kPosition)) p.sum_to(*dposition, dembedded, 1.0);
  Tensor dcls = p.allocate(DType::F32, {b, 1, d});
  Tensor dpatch_tokens = p.allocate(DType::F32, {b, np, d});
  p.split({&dcls, &dpatch_tokens}, dembedded, 1);
  if (Tensor* dclass = grad(kClass)) p.sum_to(*dclass, dcls, 1.0);
  if (Tensor* dpatch = grad(kPatch)) {
    const int64_t patch_len = s.patches.shape()[1];
    Tensor dpatch_weight = dpatch->reshaped({d, patch_len});
    linear_backward(p, dpatch_tokens.reshaped({b * np, d}), s.patches,
                    param(kPatch).reshaped({d, patch_len}), &dpatch_weight, nullptr, false);
  }
}

namespace {

// Every layer whose input a forward pass keeps, in forward order, with where Saved keeps it
// (null pointers when `saved` is null: the names only).
std::vector<std::pair<std::string, const Tensor*>> captured_inputs(const VitConfig& c,
                                                                   const VitModel::Saved* saved);

}  // namespace

std::vector<std::string> VitModel::layer_names() const {
  std::vector<std::string> names;
  for (const auto& [name, input] : captured_inputs(config_, nullptr)) names.push_back(name);
  return names;
}

TensorMap VitModel::layer_inputs(const Saved& saved, const std::vector<std::string>& layers) const {
  TensorMap all;
  for (const auto& [name, input] : captured_inputs(config_, &saved)) {
    const int64_t width = input->shape().back();
    all.emplace(name, input->reshaped({static_cast<int64_t>(input->numel()) / width, width}));
  }
  if (layers.empty()) return all;
  TensorMap wanted;
  for (const std::string& layer : layers) {
    const auto it = all.find(layer);
    if (it == all.end()) {
      fail(ALLOY_ERR_NOT_FOUND,
           "no layer '{}' whose input can be captured (linear and LayerNorm layers, named like "
           "their weight without '.weight', e.g. '{}')",
           layer, vit_layer_param(0, "mlp.fc1"));
    }
    wanted.emplace(layer, it->second);
  }
  return wanted;
}

namespace {

std::vector<std::pair<std::string, const Tensor*>> captured_inputs(const VitConfig& c,
                                                                   const VitModel::Saved* saved) {
  std::vector<std::pair<std::string, const Tensor*>> out;
  auto add = [&](std::string name, const Tensor* input) {
    out.emplace_back(std::move(name), saved ? input : nullptr);
  };
  const std::string pre_norm = kPreNorm.substr(0, kPreNorm.size() - 1);
  const std::string post_norm = kPostNorm.substr(0, kPostNorm.size() - 1);
  const std::string projection = kProjection.substr(0, kProjection.size() - 7);  // ".weight"
  add(pre_norm, saved ? &saved->pre_norm.x : nullptr);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const VitModel::Saved::Block* b =
        saved ? &saved->blocks.at(static_cast<std::size_t>(l)) : nullptr;
    add(vit_layer_param(l, "layer_norm1"), b ? &b->norm1.x : nullptr);
    for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
      add(vit_layer_param(l, std::string("self_attn.") + proj), b ? &b->attention.x : nullptr);
    }
    add(vit_layer_param(l, "self_attn.out_proj"), b ? &b->attention.context : nullptr);
    add(vit_layer_param(l, "layer_norm2"), b ? &b->norm2.x : nullptr);
    const bool upscaled = b && b->moe.fc1.x.defined();
    add(vit_layer_param(l, "mlp.fc1"), !b ? nullptr : upscaled ? &b->moe.fc1.x : &b->mlp.x);
    add(vit_layer_param(l, "mlp.fc2"), !b ? nullptr : upscaled ? &b->moe.fc2.x : &b->mlp.activated);
  }
  add(post_norm, saved ? &saved->post_norm.x : nullptr);
  add(projection, saved ? &saved->pooled : nullptr);
  return out;
}

}  // namespace
}  // namespace alloy
