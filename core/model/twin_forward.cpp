#include "model/twin_forward.hpp"

#include <algorithm>

#include <alloy/alloy.h>

#include "error.hpp"
#include "model/dynamic_linear.hpp"
#include "model/layers.hpp"
#include "model/training.hpp"
#include "model/twin_router.hpp"

namespace alloy {
namespace {

// The delta to mix into `name`, or null: no gates (the shared model) or no exclusive knowledge.
const TwinDelta* mixing(const TwinParts& twin, const std::string& name, const Tensor& gates) {
  if (!gates.defined()) return nullptr;
  const TwinDelta* d = twin.find(name);
  return d && (d->us.defined() || d->dense.defined()) ? d : nullptr;
}

// Per sample, base + gates[b] @ dense: [B, numel] (the base in every row without a delta).
Tensor mixed_vector(Provider& p, const Tensor& base, const TwinDelta* delta, const Tensor& gates,
                    int64_t batch) {
  const auto numel = static_cast<int64_t>(base.numel());
  Tensor out = p.allocate(DType::F32, {batch, numel});
  p.broadcast(out, base.reshaped({1, numel}));
  if (delta) p.gemm(false, false, 1.0, gates, delta->dense, 1.0, out);
  return out;
}

// x [B, N, in] -> [B, N, out] through theta(b) = weight + sum_t gates[b, t] delta_t (and the
// bias likewise).
Tensor twin_linear(Provider& p, const Tensor& x, const Tensor& weight, const Tensor* bias,
                   const TwinDelta* weight_delta, const TwinDelta* bias_delta,
                   const Tensor& gates) {
  const int64_t batch = x.shape()[0], tokens = x.shape()[1], in = x.shape()[2];
  const int64_t out = weight.shape()[0], rows = batch * tokens;
  if (weight_delta && !weight_delta->low_rank()) {
    // Dense matrix deltas: the dynamic linear layer of WEMoE mixes them.
    const Tensor deltas = weight_delta->dense.reshaped({gates.shape()[1], out, in});
    const Tensor bias_deltas = bias_delta ? bias_delta->dense : Tensor();
    DynamicLinearWeights w{&weight, bias, &deltas, bias_delta ? &bias_deltas : nullptr};
    return dynamic_linear_forward(p, x, gates, w, MixMode::automatic, nullptr);
  }
  const Tensor x2 = x.reshaped({rows, in});
  Tensor y = linear_forward(p, x2, weight, bias ? *bias : Tensor());
  if (weight_delta) {
    // x V for every expert's columns, each column scaled by its expert's gate, then (US)^T.
    const int64_t columns = weight_delta->us.shape()[1];
    Tensor projected = p.allocate(DType::F32, {rows, columns});
    p.gemm(false, false, 1.0, x2, weight_delta->v, 0.0, projected);
    Tensor column_gates = p.allocate(DType::F32, {batch, columns});
    p.gemm(false, false, 1.0, gates, weight_delta->columns, 0.0, column_gates);
    Tensor projected3 = projected.reshaped({batch, tokens, columns});
    p.binary(ALLOY_BINARY_MUL, projected3, projected3, column_gates.reshaped({batch, 1, columns}));
    p.gemm(false, true, 1.0, projected, weight_delta->us, 1.0, y);
  }
  Tensor y3 = y.reshaped({batch, tokens, out});
  if (bias_delta) {
    Tensor mixed = p.allocate(DType::F32, {batch, out});
    p.gemm(false, false, 1.0, gates, bias_delta->dense, 0.0, mixed);
    p.binary(ALLOY_BINARY_ADD, y3, y3, mixed.reshaped({batch, 1, out}));
  }
  return y3;
}

// LayerNorm of x [B, N, D] with gamma(b), beta(b) mixed per sample.
Tensor twin_layer_norm(const VitModel& model, const TwinParts& twin, const Tensor& x,
                       const std::string& prefix, const Tensor& gates) {
  Provider& p = model.provider();
  const int64_t batch = x.shape()[0], tokens = x.shape()[1], width = x.shape()[2];
  const double eps = model.config().layer_norm_eps;
  const Tensor& gamma = model.param(prefix + "weight");
  const Tensor& beta = model.param(prefix + "bias");
  const TwinDelta* dgamma = mixing(twin, prefix + "weight", gates);
  const TwinDelta* dbeta = mixing(twin, prefix + "bias", gates);
  const Tensor x2 = x.reshaped({batch * tokens, width});
  if (!dgamma && !dbeta) {
    return layer_norm_forward(p, x2, gamma, beta, eps, nullptr).reshaped(x.shape());
  }
  Tensor ones = p.allocate(DType::F32, {width});
  p.fill(ones, 1.0);
  const Tensor zeros = p.allocate(DType::F32, {width});
  Tensor y = layer_norm_forward(p, x2, ones, zeros, eps, nullptr).reshaped(x.shape());
  const Tensor scale = mixed_vector(p, gamma, dgamma, gates, batch);
  const Tensor shift = mixed_vector(p, beta, dbeta, gates, batch);
  p.binary(ALLOY_BINARY_MUL, y, y, scale.reshaped({batch, 1, width}));
  p.binary(ALLOY_BINARY_ADD, y, y, shift.reshaped({batch, 1, width}));
  return y;
}

// A linear layer of the model by its weight's name ("...q_proj.weight"); its bias, when it has
// one, is named alike.
Tensor layer(const VitModel& model, const TwinParts& twin, const Tensor& x,
             const std::string& weight_name, const std::string& bias_name, const Tensor& gates) {
  const Tensor* bias = bias_name.empty() ? nullptr : &model.param(bias_name);
  return twin_linear(model.provider(), x, model.param(weight_name), bias,
                     mixing(twin, weight_name, gates),
                     bias_name.empty() ? nullptr : mixing(twin, bias_name, gates), gates);
}

Tensor twin_router_logits(const VitModel& model, const Tensor& features) {
  auto w = [&](const char* leaf) { return &model.param(twin_router_param(leaf)); };
  // Handles of the running statistics: inference reads them only.
  Tensor statistics[] = {*w("1.running_mean"), *w("1.running_var"), *w("5.running_mean"),
                         *w("5.running_var")};
  TwinRouterWeights weights;
  weights.w0 = w("0.weight");
  weights.b0 = w("0.bias");
  weights.norm1 = {w("1.weight"), w("1.bias"), &statistics[0], &statistics[1]};
  weights.w4 = w("4.weight");
  weights.b4 = w("4.bias");
  weights.norm5 = {w("5.weight"), w("5.bias"), &statistics[2], &statistics[3]};
  weights.w8 = w("8.weight");
  weights.b8 = w("8.bias");
  return twin_router_forward(model.provider(), features, weights, nullptr);
}

}  // namespace

Tensor twin_encode(const VitModel& model, const TwinParts& twin, const Tensor& images,
                   const Tensor& gates) {
  Provider& p = model.provider();
  const VitConfig& c = model.config();
  const int64_t b = images.shape()[0], d = c.hidden_size, np = c.patches(), t = c.tokens();
  const int64_t patch_len = c.num_channels * c.patch_size * c.patch_size;
  if (gates.defined() &&
      (gates.ndim() != 2 || gates.shape()[0] != b || gates.shape()[1] != twin.experts)) {
    fail(ALLOY_ERR_SHAPE, "twin_encode: gates {} for {} images and {} experts",
         shape_string(gates.shape()), b, twin.experts);
  }

  Tensor patches = p.allocate(DType::F32, {b, np, patch_len});
  p.patchify(patches, images, c.patch_size);
  const Tensor patch_weight = model.param(kVitPatchEmbedding).reshaped({d, patch_len});
  const Tensor embedded = twin_linear(p, patches, patch_weight, nullptr,
                                      mixing(twin, kVitPatchEmbedding, gates), nullptr, gates);
  const Tensor cls = mixed_vector(p, model.param(kVitClassEmbedding),
                                  mixing(twin, kVitClassEmbedding, gates), gates, b)
                         .reshaped({b, 1, d});
  Tensor h = p.allocate(DType::F32, {b, t, d});
  p.concat(h, {&cls, &embedded}, 1);
  const Tensor& position = model.param(kVitPositionEmbedding);
  if (const TwinDelta* delta = mixing(twin, kVitPositionEmbedding, gates)) {
    p.binary(ALLOY_BINARY_ADD, h, h,
             mixed_vector(p, position, delta, gates, b).reshaped({b, t, d}));
  } else {
    p.binary(ALLOY_BINARY_ADD, h, h, position);
  }
  h = twin_layer_norm(model, twin, h, kVitPreNorm, gates);

  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    auto name = [&](const std::string& leaf) { return vit_layer_param(l, leaf); };
    auto projection = [&](const Tensor& x, const std::string& which) {
      return layer(model, twin, x, name(which + ".weight"), name(which + ".bias"), gates);
    };
    const Tensor normed1 = twin_layer_norm(model, twin, h, name("layer_norm1."), gates);
    const Tensor context =
        attention_context(p, projection(normed1, "self_attn.q_proj").reshaped({b * t, d}),
                          projection(normed1, "self_attn.k_proj").reshaped({b * t, d}),
                          projection(normed1, "self_attn.v_proj").reshaped({b * t, d}), b,
                          c.num_attention_heads, nullptr);
    h = add(p, h, projection(context.reshaped({b, t, d}), "self_attn.out_proj"));
    const Tensor normed2 = twin_layer_norm(model, twin, h, name("layer_norm2."), gates);
    const Tensor hidden = projection(normed2, "mlp.fc1");
    Tensor activated = p.allocate(DType::F32, hidden.shape());
    p.activation(c.hidden_act, activated, hidden);
    h = add(p, h, projection(activated, "mlp.fc2"));
  }
  return h;
}

Tensor twin_router_features(const VitModel& model, const TwinParts& twin, const Tensor& images) {
  Provider& p = model.provider();
  const Tensor hidden = twin_encode(model, twin, images, Tensor());
  const int64_t b = hidden.shape()[0], t = hidden.shape()[1], d = hidden.shape()[2];
  Tensor mean = p.allocate(DType::F32, {b, 1, d});
  p.sum_to(mean, hidden, 0.0);
  p.unary(ALLOY_UNARY_LINEAR, mean, mean, 1.0 / static_cast<double>(t), 0.0);
  return mean.reshaped({b, d});
}

Tensor twin_gates(const VitModel& model, const Tensor& features) {
  Provider& p = model.provider();
  const Tensor logits = twin_router_logits(model, features);
  Tensor gates = p.allocate(DType::F32, logits.shape());
  p.softmax(gates, logits, 1.0);
  return gates;
}

Tensor twin_forward(const VitModel& model, const TwinParts& twin, const Tensor& images,
                    const Tensor& fixed_gates) {
  Provider& p = model.provider();
  const VitConfig& c = model.config();
  const int64_t b = images.shape()[0], d = c.hidden_size, t = c.tokens();
  Tensor gates;
  if (fixed_gates.defined()) {
    gates = p.allocate(DType::F32, {b, twin.experts});
    p.broadcast(gates, fixed_gates.reshaped({1, twin.experts}));
  } else {
    gates = twin_gates(model, twin_router_features(model, twin, images));
  }
  const Tensor hidden = twin_encode(model, twin, images, gates);
  Tensor first = p.allocate(DType::F32, {b, 1, d});
  Tensor rest = p.allocate(DType::F32, {b, t - 1, d});
  p.split({&first, &rest}, hidden, 1);
  const Tensor pooled = twin_layer_norm(model, twin, first, kVitPostNorm, gates);
  return layer(model, twin, pooled, kVitProjection, "", gates).reshaped({b, c.projection_dim});
}

std::vector<int32_t> twin_routes(const VitModel& model, const Tensor& images,
                                 const Preprocessing& preprocessing, int64_t batch_size) {
  if (!model.twin().active()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "the model is not a Twin-Merging model: it has no routes");
  }
  Provider& p = model.provider();
  const int64_t n = images.shape()[0];
  std::vector<int32_t> routes(static_cast<std::size_t>(n));
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t count = std::min(batch_size, n - start);
    const Tensor batch = prepare_images(p, images.rows(start, count), preprocessing);
    const Tensor gates = twin_gates(model, twin_router_features(model, model.twin(), batch));
    Tensor best = p.allocate(DType::I32, {count});
    p.argmax(best, gates);
    p.download(best, routes.data() + start, best.nbytes());
  }
  return routes;
}

}  // namespace alloy
