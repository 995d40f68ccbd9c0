// The Twin-Merging runtime: a model of shared parameters, low-rank and dense exclusive deltas and
// a router runs as the plain model whose parameters are theta* + sum_t w_t v_t materialised (for
// fixed gates, and per sample for the router's), the router's input is the shared model's mean
// last hidden state, the router matches a reference in double and its gradients finite
// differences, and malformed models are errors naming the tensor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "error.hpp"
#include "error_of.hpp"
#include "gradient_checks.hpp"
#include "model/twin_forward.hpp"
#include "model/twin_router.hpp"
#include "model/vit.hpp"
#include "tensor/registry.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using test::expect_close;
using test::host_values;
using test::random_tensor;
using ::testing::HasSubstr;
using Doubles = std::vector<double>;

constexpr int64_t kExperts = 3, kRouterWidth = 7;

// Every dimension distinct (tokens 5, width 12, MLP 20, projection 5).
VitConfig small_config(int64_t layers = 2) {
  VitConfig c;
  c.hidden_size = 12;
  c.intermediate_size = 20;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 3;
  c.num_channels = 2;
  c.image_size = 6;
  c.patch_size = 3;
  c.projection_dim = 5;
  return c;
}

// Ranks of expert t's low-rank deltas: 2, 1 and none (an expert may keep nothing of a matrix).
int64_t rank_of(int64_t expert) { return expert == 0 ? 2 : expert == 1 ? 1 : 0; }

// A Twin-Merging model in memory, and each expert's delta of each parameter as the file stores
// it, multiplied out (so a reference can materialise theta* + sum_t w_t v_t).
struct TwinCase {
  VitConfig config = small_config();
  Model model{"twin under test", ALLOY_ROLE_DERIVED};
  std::map<std::string, std::vector<float>> shared;
  std::map<std::string, std::vector<std::vector<float>>> deltas;  // [expert][element]
  std::map<std::string, Shape> shapes;
};

TwinCase make_twin(Provider& p) {
  TwinCase c;
  VitModel shared(c.config, p);
  shared.init_random(3);
  uint32_t seed = 100;
  for (const std::string& name : shared.names()) {
    // LayerNorms start at 1 and 0: move them so that their deltas are not all there is.
    const Tensor value = random_tensor(p, shared.param(name).shape(), seed++, -0.5f, 0.5f);
    Tensor theta = p.allocate(DType::F32, value.shape());
    p.binary(ALLOY_BINARY_ADD, theta, value, shared.param(name));
    c.model.put(name, theta);
    c.shared[name] = host_values(p, theta);
    c.shapes[name] = theta.shape();
    const Shape& shape = theta.shape();
    const int64_t numel = static_cast<int64_t>(shape_numel(shape));
    auto& per_expert = c.deltas[name];
    per_expert.assign(kExperts, std::vector<float>(static_cast<std::size_t>(numel), 0.0f));
    for (int64_t t = 0; t < kExperts; ++t) {
      const std::string prefix = twin_expert_param(t, name);
      if (shape.size() == 1) {
        if (t == 1) continue;  // a missing dense delta is zero
        const Tensor dense = random_tensor(p, shape, seed++, -0.3f, 0.3f);
        c.model.put(prefix, dense);
        per_expert[t] = host_values(p, dense);
        continue;
      }
      const int64_t out = shape[0], in = numel / out, r = rank_of(t);
      if (r == 0) continue;
      const Tensor us = random_tensor(p, {out, r}, seed++, -0.4f, 0.4f);
      const Tensor v = random_tensor(p, {in, r}, seed++, -0.4f, 0.4f);
      c.model.put(prefix + ".us", us);
      c.model.put(prefix + ".v", v);
      const std::vector<float> a = host_values(p, us), b = host_values(p, v);
      for (int64_t i = 0; i < out; ++i) {
        for (int64_t j = 0; j < in; ++j) {
          double sum = 0;
          for (int64_t k = 0; k < r; ++k) sum += double(a[i * r + k]) * b[j * r + k];
          per_expert[t][static_cast<std::size_t>(i * in + j)] = static_cast<float>(sum);
        }
      }
    }
  }
  const int64_t d = c.config.hidden_size, h = kRouterWidth;
  for (const std::string& leaf : twin_router_leaves()) {
    const Shape shape = leaf == "0.weight"   ? Shape{h, d}
                        : leaf == "4.weight" ? Shape{h, h}
                        : leaf == "8.weight" ? Shape{kExperts, h}
                        : leaf == "8.bias"   ? Shape{kExperts}
                                             : Shape{h};
    const bool variance = leaf.find("running_var") != std::string::npos;
    const bool scale = leaf == "1.weight" || leaf == "5.weight";
    c.model.put(twin_router_param(leaf),
                random_tensor(p, shape, seed++, variance || scale ? 0.5f : -1.0f,
                              variance || scale ? 1.5f : 1.0f));
  }
  return c;
}

// The plain model whose parameters are theta* + sum_t gates[t] v_t.
VitModel materialised(Provider& p, const TwinCase& c, const std::vector<double>& gates) {
  Model plain("materialised", ALLOY_ROLE_DERIVED);
  for (const auto& [name, theta] : c.shared) {
    std::vector<float> mixed(theta.size());
    for (std::size_t i = 0; i < theta.size(); ++i) {
      double sum = theta[i];
      for (int64_t t = 0; t < kExperts; ++t) sum += gates[t] * c.deltas.at(name)[t][i];
      mixed[i] = static_cast<float>(sum);
    }
    Tensor tensor = p.allocate(DType::F32, c.shapes.at(name));
    p.upload(tensor, mixed.data(), tensor.nbytes());
    plain.put(name, tensor);
  }
  return VitModel::from_models(c.config, plain, nullptr, p);
}

Tensor images(Provider& p, int64_t batch, uint32_t seed) {
  return random_tensor(p, {batch, 2, 6, 6}, seed);
}

TEST(TwinModel, FixedGatesRunTheMaterialisedModel) {
  const auto p = create_provider("cpu");
  const TwinCase c = make_twin(*p);
  VitModel twin = VitModel::from_models(c.config, c.model, nullptr, *p);
  ASSERT_TRUE(twin.twin().active());
  EXPECT_EQ(twin.twin().experts, kExperts);
  const Tensor x = images(*p, 4, 7);
  for (const std::vector<double>& gates :
       {std::vector<double>{0.2, 0.5, 0.3}, std::vector<double>{0, 1, 0}, {0, 0, 0}}) {
    const std::vector<float> fixed(gates.begin(), gates.end());
    Tensor g = p->allocate(DType::F32, {kExperts});
    p->upload(g, fixed.data(), g.nbytes());
    twin.set_fixed_gates(g);
    expect_close(host_values(*p, twin.forward(x)),
                 host_values(*p, materialised(*p, c, gates).forward(x)), 2e-5, 2e-4,
                 fmt::format("embeddings with gates {}, {}, {}", gates[0], gates[1], gates[2]));
  }
}

// The router in inference mode, in double: features [D] -> softmax of the logits.
Doubles reference_gates(const TwinCase& c, const std::vector<float>& features, Provider& p) {
  auto w = [&](const std::string& leaf) {
    return host_values(p, c.model.read(twin_router_param(leaf)));
  };
  auto linear = [&](const Doubles& x, const std::string& layer, int64_t out) {
    const std::vector<float> weight = w(layer + ".weight"), bias = w(layer + ".bias");
    const auto in = static_cast<int64_t>(x.size());
    Doubles y(static_cast<std::size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      y[o] = bias[o];
      for (int64_t i = 0; i < in; ++i) y[o] += double(weight[o * in + i]) * x[i];
    }
    return y;
  };
  auto norm_and_leaky = [&](Doubles x, const std::string& layer) {
    const std::vector<float> g = w(layer + ".weight"), b = w(layer + ".bias"),
                             mean = w(layer + ".running_mean"), var = w(layer + ".running_var");
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = (x[i] - mean[i]) / std::sqrt(double(var[i]) + 1e-5) * g[i] + b[i];
      x[i] = x[i] > 0 ? x[i] : 0.01 * x[i];
    }
    return x;
  };
  Doubles h(features.begin(), features.end());
  h = norm_and_leaky(linear(h, "0", kRouterWidth), "1");
  h = norm_and_leaky(linear(h, "4", kRouterWidth), "5");
  Doubles logits = linear(h, "8", kExperts);
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (double& l : logits) sum += (l = std::exp(l - top));
  for (double& l : logits) l /= sum;
  return logits;
}

TEST(TwinModel, RoutesEverySampleByItsOwnFeatures) {
  const auto p = create_provider("cpu");
  const TwinCase c = make_twin(*p);
  const VitModel twin = VitModel::from_models(c.config, c.model, nullptr, *p);
  const int64_t batch = 3, tokens = c.config.tokens(), d = c.config.hidden_size;
  const Tensor x = images(*p, batch, 9);

  // The router's input is the shared model's last hidden state, averaged over tokens: the input
  // of a third layer's first LayerNorm in a model whose first two layers are the shared ones.
  VitModel third(small_config(3), *p);
  third.init_random(5);
  Model deeper("three layers", ALLOY_ROLE_DERIVED);
  for (const std::string& name : third.names()) {
    deeper.put(name, c.shared.count(name) ? c.model.read(name) : third.param(name));
  }
  const VitModel three = VitModel::from_models(small_config(3), deeper, nullptr, *p);
  std::shared_ptr<VitModel::Saved> saved;
  three.forward(x, &saved);
  const std::vector<float> hidden = host_values(
      *p, three.layer_inputs(*saved, {vit_layer_param(2, "layer_norm1")}).begin()->second);
  std::vector<float> want_features(static_cast<std::size_t>(batch * d), 0.0f);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t j = 0; j < d; ++j) {
        want_features[b * d + j] += hidden[(b * tokens + t) * d + j] / static_cast<float>(tokens);
      }
    }
  }
  const Tensor features = twin_router_features(twin, twin.twin(), x);
  expect_close(host_values(*p, features), want_features, 1e-5, 1e-4, "router features");

  const std::vector<float> gates = host_values(*p, twin_gates(twin, features));
  const std::vector<float> embeds = host_values(*p, twin.forward(x));
  const int64_t dim = c.config.projection_dim;
  for (int64_t b = 0; b < batch; ++b) {
    SCOPED_TRACE(::testing::Message() << "sample " << b);
    const std::vector<float> row(want_features.begin() + b * d,
                                 want_features.begin() + (b + 1) * d);
    const Doubles want_gates = reference_gates(c, row, *p);
    const std::vector<float> got(gates.begin() + b * kExperts, gates.begin() + (b + 1) * kExperts);
    expect_close(got, want_gates, 1e-5, 1e-4, "gates");
    const Tensor one = x.rows(b, 1);
    const std::vector<float> want = host_values(*p, materialised(*p, c, want_gates).forward(one));
    expect_close(std::vector<float>(embeds.begin() + b * dim, embeds.begin() + (b + 1) * dim), want,
                 2e-5, 2e-4, "embeddings");
  }
}

TEST(TwinModel, RouterTrainingModeMatchesFiniteDifferencesAndMovesRunningStatistics) {
  const auto p = create_provider("cpu");
  const TwinCase c = make_twin(*p);
  auto param = [&](const std::string& leaf) {
    Tensor copy = p->allocate(DType::F32, c.model.find(twin_router_param(leaf))->shape);
    p->copy(copy, c.model.read(twin_router_param(leaf)));
    return copy;
  };
  Tensor w0 = param("0.weight"), b0 = param("0.bias"), g1 = param("1.weight"), h1 = param("1.bias"),
         m1 = param("1.running_mean"), v1 = param("1.running_var"), w4 = param("4.weight"),
         b4 = param("4.bias"), g5 = param("5.weight"), h5 = param("5.bias"),
         m5 = param("5.running_mean"), v5 = param("5.running_var"), w8 = param("8.weight"),
         b8 = param("8.bias");
  const TwinRouterWeights weights{&w0, &b0, {&g1, &h1, &m1, &v1}, &w4, &b4, {&g5, &h5, &m5, &v5},
                                  &w8, &b8};
  const int64_t batch = 6, d = c.config.hidden_size;
  const Tensor features = random_tensor(*p, {batch, d}, 40, -2.0f, 2.0f);
  const uint64_t seed = 11;

  // One training step moves the running mean a tenth of the way to the batch's.
  const std::vector<float> before = host_values(*p, m1);
  TwinRouterSaved saved;
  const Tensor logits = twin_router_forward(*p, features, weights, &saved, seed);
  const std::vector<float> mean = host_values(*p, saved.stage1.mean);
  const std::vector<float> after = host_values(*p, m1);
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_NEAR(after[i], 0.9 * before[i] + 0.1 * mean[i], 1e-6) << i;
  }
  // Dropout 0.5: every kept activation is doubled, about half of them are.
  const std::vector<float> mask = host_values(*p, saved.stage1.mask);
  const auto kept = std::count(mask.begin(), mask.end(), 2.0f);
  EXPECT_EQ(kept + std::count(mask.begin(), mask.end(), 0.0f), static_cast<long>(mask.size()));
  EXPECT_GT(kept, static_cast<long>(mask.size()) / 4);
  EXPECT_LT(kept, static_cast<long>(mask.size()) * 3 / 4);

  const std::vector<float> upstream = test::random_floats(logits.numel(), 41);
  Tensor dlogits = p->allocate(DType::F32, logits.shape());
  p->upload(dlogits, upstream.data(), dlogits.nbytes());
  std::map<std::string, Tensor> grads;
  for (const char* leaf : {"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias",
                           "5.weight", "5.bias", "8.weight", "8.bias"}) {
    grads[leaf] = p->allocate(DType::F32, c.model.find(twin_router_param(leaf))->shape);
  }
  const TwinRouterGrads g{&grads["0.weight"], &grads["0.bias"],   &grads["1.weight"],
                          &grads["1.bias"],   &grads["4.weight"], &grads["4.bias"],
                          &grads["5.weight"], &grads["5.bias"],   &grads["8.weight"],
                          &grads["8.bias"]};
  twin_router_backward(*p, dlogits, weights, saved, g);
  // The same seed draws the same dropout masks; batch statistics do not read the running ones.
  const auto loss = [&] {
    TwinRouterSaved again;
    return test::weighted_sum(*p, twin_router_forward(*p, features, weights, &again, seed),
                              upstream);
  };
  for (const auto& [leaf, param_tensor] : {std::pair<const char*, Tensor*>{"0.weight", &w0},
                                           {"0.bias", &b0},
                                           {"1.weight", &g1},
                                           {"1.bias", &h1},
                                           {"4.weight", &w4},
                                           {"4.bias", &b4},
                                           {"5.weight", &g5},
                                           {"5.bias", &h5},
                                           {"8.weight", &w8},
                                           {"8.bias", &b8}}) {
    test::expect_finite_differences(*p, *param_tensor, host_values(*p, grads[leaf]), loss, leaf);
  }
  EXPECT_THAT(test::error_of(
                  [&] {
                    TwinRouterSaved one;
                    twin_router_forward(*p, features.rows(0, 1), weights, &one, seed);
                  },
                  ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("batches of 2 or more"));
}

// A copy of the case's model without `drop`, with `add` (name -> shape) added.
Model variant(Provider& p, const TwinCase& c, const std::string& drop,
              const std::map<std::string, Shape>& add) {
  Model m("twin under test", ALLOY_ROLE_DERIVED);
  for (const TensorEntry& entry : c.model.tensors()) {
    if (entry.name != drop) m.put(entry.name, c.model.read(entry.name));
  }
  for (const auto& [name, shape] : add) m.put(name, random_tensor(p, shape, 1));
  return m;
}

TEST(TwinModel, MalformedModelsAreErrorsNamingTheTensor) {
  const auto p = create_provider("cpu");
  const TwinCase c = make_twin(*p);
  const std::string fc1 = vit_layer_param(0, "mlp.fc1.weight");
  const auto error = [&](const Model& m, alloy_status status) {
    return test::error_of([&] { VitModel::from_models(c.config, m, nullptr, *p); }, status);
  };
  EXPECT_THAT(error(variant(*p, c, "", {{twin_expert_param(3, fc1) + ".us", {20, 1}}}),
                    ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("is for expert 3, but the router has 3 experts"));
  EXPECT_THAT(error(variant(*p, c, twin_expert_param(0, fc1) + ".v", {}), ALLOY_ERR_NOT_FOUND),
              HasSubstr("'twin.experts.0." + fc1 + ".v'"));
  EXPECT_THAT(error(variant(*p, c, twin_expert_param(0, fc1) + ".us",
                            {{twin_expert_param(0, fc1) + ".us", {12, 2}}}),
                    ALLOY_ERR_SHAPE),
              HasSubstr("twin.experts.0." + fc1 + ".us"));
  EXPECT_THAT(error(variant(*p, c, "", {{"twin.extras.0", {3}}}), ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("'twin.extras.0' is not a Twin-Merging tensor"));
  EXPECT_THAT(
      error(variant(*p, c, "", {{twin_expert_param(2, "vision_model.no_such.weight"), {3}}}),
            ALLOY_ERR_INVALID_ARGUMENT),
      HasSubstr("names no parameter"));
  EXPECT_THAT(error(variant(*p, c, "", {{twin_expert_param(2, fc1), {20, 12}}}),
                    ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("dense and low-rank"));
  EXPECT_THAT(error(variant(*p, c, twin_router_param("5.running_var"), {}), ALLOY_ERR_NOT_FOUND),
              HasSubstr("'twin.router.5.running_var'"));
  EXPECT_THAT(error(variant(*p, c, twin_router_param("8.weight"), {}), ALLOY_ERR_NOT_FOUND),
              HasSubstr("no router"));
}

TEST(TwinModel, RunsForInferenceOnly) {
  const auto p = create_provider("cpu");
  const TwinCase c = make_twin(*p);
  const VitModel twin = VitModel::from_models(c.config, c.model, nullptr, *p);
  std::shared_ptr<VitModel::Saved> saved;
  EXPECT_THAT(
      test::error_of([&] { twin.forward(images(*p, 2, 1), &saved); }, ALLOY_ERR_UNSUPPORTED),
      HasSubstr("inference only"));
  test::TempDir dir;
  EXPECT_THAT(test::error_of([&] { twin.save(dir.file("out")); }, ALLOY_ERR_UNSUPPORTED),
              HasSubstr("Twin-Merging"));
}

}  // namespace
}  // namespace alloy
