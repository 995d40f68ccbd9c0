// The vision transformer of the model runtime: parameter names and shapes as Hugging Face's
// CLIPVisionModelWithProjection has them, a save/load round trip, and the whole backward pass
// checked against finite differences of the forward pass, parameter by parameter.
#include "model/vit.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "error.hpp"
#include "error_of.hpp"
#include "io/safetensors.hpp"
#include "tensor/registry.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using ::testing::HasSubstr;

// Small enough for finite differences over every parameter tensor, with every dimension
// distinct so that a transposed or mis-strided op cannot pass by symmetry.
VitConfig tiny_config(Activation act = Activation::quick_gelu) {
  VitConfig c;
  c.hidden_size = 12;
  c.intermediate_size = 20;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 3;
  c.num_channels = 2;
  c.image_size = 6;
  c.patch_size = 3;
  c.projection_dim = 5;
  c.hidden_act = act;
  return c;
}

std::vector<float> host_values(Provider& p, const Tensor& t) {
  std::vector<float> v(t.numel());
  p.download(t, v.data(), t.nbytes());
  return v;
}

Tensor from_values(Provider& p, const Shape& shape, const std::vector<float>& values) {
  Tensor t = p.allocate(DType::F32, shape);
  p.upload(t, values.data(), values.size() * sizeof(float));
  return t;
}

// loss = sum(weights * embeds), in double, so that finite differences see a smooth scalar.
double loss_of(Provider& p, const VitModel& model, const Tensor& images,
               const std::vector<float>& weights) {
  const std::vector<float> embeds = host_values(p, model.forward(images));
  double loss = 0;
  for (std::size_t i = 0; i < embeds.size(); ++i) loss += double(weights[i]) * embeds[i];
  return loss;
}

TEST(Vit, ParametersHaveHuggingFaceNamesAndShapes) {
  const auto p = create_provider("cpu");
  const VitModel model(tiny_config(), *p);
  EXPECT_EQ(model.names().size(), 5u + 2 * 16 + 3);
  EXPECT_EQ(model.param("vision_model.embeddings.patch_embedding.weight").shape(),
            (Shape{12, 2, 3, 3}));
  EXPECT_EQ(model.param("vision_model.embeddings.position_embedding.weight").shape(),
            (Shape{5, 12}));
  EXPECT_EQ(model.param("vision_model.encoder.layers.1.mlp.fc1.weight").shape(), (Shape{20, 12}));
  EXPECT_EQ(model.param("vision_model.pre_layrnorm.bias").shape(), (Shape{12}));
  EXPECT_EQ(model.param("visual_projection.weight").shape(), (Shape{5, 12}));
  EXPECT_THAT(test::error_of([&] { model.param("nope"); }, ALLOY_ERR_NOT_FOUND),
              HasSubstr("'nope'"));
}

TEST(Vit, ConfigReadsHuggingFaceFormsAndRejectsBadOnes) {
  const VitConfig flat = parse_vit_config(vit_config_json(tiny_config()), "flat");
  EXPECT_EQ(flat.hidden_size, 12);
  EXPECT_EQ(flat.hidden_act, Activation::quick_gelu);
  const VitConfig nested = parse_vit_config(
      R"({"projection_dim": 7, "vision_config": {"hidden_size": 8, "intermediate_size": 16,
          "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 4, "patch_size": 2,
          "hidden_act": "gelu"}})",
      "nested");
  EXPECT_EQ(nested.projection_dim, 7);
  EXPECT_EQ(nested.num_channels, 3);
  EXPECT_EQ(nested.hidden_act, Activation::gelu);
  EXPECT_THAT(test::error_of(
                  [] {
                    parse_vit_config(R"({"hidden_size": 10, "intermediate_size": 4,
                      "num_hidden_layers": 1, "num_attention_heads": 3, "image_size": 4,
                      "patch_size": 2})",
                                     "c.json");
                  },
                  ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("c.json: hidden_size 10 is not divisible by 3 attention heads"));
  EXPECT_THAT(test::error_of([] { parse_vit_config(R"({"hidden_size": 8})", "c.json"); },
                             ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("c.json: no \"intermediate_size\""));
}

TEST(Vit, SaveAndLoadRoundTrip) {
  const auto p = create_provider("cpu");
  VitModel model(tiny_config(Activation::gelu), *p);
  model.init_random(7);
  test::TempDir dir;
  model.save(dir.file("vit"));
  const VitModel loaded = VitModel::load(dir.file("vit"), *p);
  EXPECT_EQ(loaded.config().hidden_act, Activation::gelu);
  for (const std::string& name : model.names()) {
    EXPECT_EQ(host_values(*p, model.param(name)), host_values(*p, loaded.param(name))) << name;
  }
  // A checkpoint missing a parameter is refused naming it.
  VitConfig deeper = tiny_config();
  deeper.num_hidden_layers = 3;
  test::write_text(dir.file("vit/config.json"), vit_config_json(deeper));
  EXPECT_THAT(test::error_of([&] { VitModel::load(dir.file("vit"), *p); }, ALLOY_ERR_NOT_FOUND),
              HasSubstr("no tensor 'vision_model.encoder.layers.2.layer_norm1.weight'"));
}

TEST(Vit, InitialisationIsDeterministic) {
  const auto p = create_provider("cpu");
  VitModel a(tiny_config(), *p), b(tiny_config(), *p), c(tiny_config(), *p);
  a.init_random(1);
  b.init_random(1);
  c.init_random(2);
  const std::string name = "vision_model.encoder.layers.0.self_attn.q_proj.weight";
  EXPECT_EQ(host_values(*p, a.param(name)), host_values(*p, b.param(name)));
  EXPECT_NE(host_values(*p, a.param(name)), host_values(*p, c.param(name)));
  EXPECT_EQ(host_values(*p, a.param("vision_model.post_layernorm.weight")),
            std::vector<float>(12, 1.0f));
}

// Every parameter tensor of `model`: the analytic gradient of a few entries against central
// differences of the forward pass.
void check_gradients(Provider& p, VitModel& model) {
  // Larger than CLIP's initialisation, so every layer's contribution is far above f32 noise.
  for (const std::string& name : model.names()) {
    std::vector<float> v = host_values(p, model.param(name));
    for (float& x : v) x *= 4;
    p.upload(model.params().at(name), v.data(), v.size() * sizeof(float));
  }
  const int64_t batch = 2;
  const Tensor images =
      from_values(p, {batch, 2, 6, 6}, test::random_floats(batch * 2 * 36, 11, -1.0f, 1.0f));
  const std::vector<float> weights = test::random_floats(batch * 5, 12, -1.0f, 1.0f);

  std::shared_ptr<VitModel::Saved> saved;
  model.forward(images, &saved);
  TensorMap grads = model.zeros_like();
  model.backward(from_values(p, {batch, 5}, weights), *saved, grads);

  std::mt19937 pick(5);
  const double eps = 3e-3;
  const double at_original = loss_of(p, model, images, weights);
  for (const std::string& name : model.names()) {
    Tensor& param = model.params().at(name);
    std::vector<float> values = host_values(p, param);
    const std::vector<float> analytic = host_values(p, grads.at(name));
    int checked = 0;
    for (int attempt = 0; attempt < 12 && checked < 3; ++attempt) {
      const std::size_t i = pick() % values.size();
      const float original = values[i];
      values[i] = original + static_cast<float>(eps);
      p.upload(param, values.data(), param.nbytes());
      const double up = loss_of(p, model, images, weights);
      values[i] = original - static_cast<float>(eps);
      p.upload(param, values.data(), param.nbytes());
      const double down = loss_of(p, model, images, weights);
      values[i] = original;
      p.upload(param, values.data(), param.nbytes());
      const double numeric = (up - down) / (2 * eps);
      // A router's ReLU makes the loss piecewise smooth: where the step crosses a kink the
      // one-sided slopes disagree by far more than eps * curvature, and central differences
      // mean nothing there. Such an entry is skipped for another.
      const double right = (up - at_original) / eps, left = (at_original - down) / eps;
      if (std::abs(right - left) > 0.05 + 0.1 * std::abs(numeric)) continue;
      ++checked;
      // f32 forward passes: differences of ~1e-6 relative noise over 2 eps, plus O(eps^2).
      EXPECT_NEAR(analytic[i], numeric, 2e-3 + 3e-2 * std::abs(numeric)) << name << "[" << i << "]";
    }
    EXPECT_GT(checked, 0) << name << ": every entry tried sits on a kink";
  }
}

class VitGradient : public ::testing::TestWithParam<Activation> {};

TEST_P(VitGradient, BackwardMatchesFiniteDifferences) {
  const auto p = create_provider("cpu");
  VitModel model(tiny_config(GetParam()), *p);
  model.init_random(3);
  check_gradients(*p, model);
}

// Upscaled MLPs (experts and routers of one and two layers), routed per sample and with one
// mixture per batch: every expert, router and backbone parameter.
TEST(Vit, UpscaledBackwardMatchesFiniteDifferences) {
  for (const bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "gates shared by the batch" : "gates per sample");
    const auto p = create_provider("cpu");
    VitModel model(tiny_config(), *p, {MlpExperts{3, 2}, MlpExperts{3, 1}});
    model.init_random(3);
    for (const std::string& name : model.names()) {
      if (name.find(".experts.") == std::string::npos && name.find(".router.") == std::string::npos)
        continue;
      p->fill_random(model.params().at(name), Distribution::normal, 0.0, 0.1, name.size());
    }
    model.set_shared_gates(shared);
    check_gradients(*p, model);
  }
}

// Upscaled models keep their modules through save and load, and recognise them by name.
TEST(Vit, UpscaledModelRoundTripsAndBadLayoutsAreNamed) {
  const auto p = create_provider("cpu");
  VitModel model(tiny_config(), *p, {MlpExperts{}, MlpExperts{2, 0}});
  model.init_random(4);
  p->fill(model.params().at(vit_router_param(1, "constant")), 0.25);
  p->fill(model.params().at(vit_expert_param(1, 1, "fc2.bias")), 0.5);
  test::TempDir dir;
  model.save(dir.file("m"));
  const VitModel loaded = VitModel::load(dir.file("m"), *p);
  ASSERT_EQ(loaded.experts().size(), 2u);
  EXPECT_EQ(loaded.experts()[0].experts, 0);
  EXPECT_EQ(loaded.experts()[1].experts, 2);
  EXPECT_EQ(loaded.experts()[1].router_layers, 0);
  EXPECT_EQ(loaded.names(), model.names());
  EXPECT_EQ(host_values(*p, loaded.param(vit_expert_param(1, 1, "fc2.bias"))),
            std::vector<float>(12, 0.5f));
  const Model files(dir.file("m"), dir.file("m"), ALLOY_ROLE_MODEL);
  EXPECT_THAT(files.opened_files().at(0)->header().metadata.at("modules"),
              HasSubstr("\"experts\":2"));

  Model gaps("gaps", ALLOY_ROLE_DERIVED);
  gaps.put(vit_expert_param(0, 1, "fc1.weight"), p->allocate(DType::F32, {20, 12}));
  EXPECT_THAT(test::error_of([&] { detect_expert_layout(tiny_config(), gaps); },
                             ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("not numbered 0 to 0"));
  Model unrouted("unrouted", ALLOY_ROLE_DERIVED);
  for (const char* leaf : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})
    unrouted.put(vit_expert_param(0, 0, leaf), p->allocate(DType::F32, {1}));
  EXPECT_THAT(
      test::error_of([&] { detect_expert_layout(tiny_config(), unrouted); }, ALLOY_ERR_NOT_FOUND),
      HasSubstr("no router"));
}

INSTANTIATE_TEST_SUITE_P(Activations, VitGradient,
                         ::testing::Values(Activation::quick_gelu, Activation::gelu,
                                           Activation::gelu_tanh),
                         [](const auto& info) { return std::string(activation_name(info.param)); });

}  // namespace
}  // namespace alloy
