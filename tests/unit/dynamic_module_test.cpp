// The dynamic modules of the model runtime (WEMoE's): the dynamic linear layer in both mixing
// modes against a plain per-sample reference and against each other, the router and the
// upscaled MLP against references in double, every gradient against central differences of the
// forward pass, frozen (null) gradients, accumulation, and the shape checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "error.hpp"
#include "gradient_checks.hpp"
#include "model/dynamic_linear.hpp"
#include "model/moe_mlp.hpp"
#include "model/router.hpp"
#include "provider_fixture.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using ::testing::HasSubstr;
using Doubles = std::vector<double>;

using test::expect_close;
using test::expect_finite_differences;
using test::filled;
using test::host_values;
using test::random_tensor;
using test::weighted_sum;

// --- dynamic linear ----------------------------------------------------------------------

// Every dimension distinct, so that a transposed or mis-strided op cannot pass by symmetry.
struct LinearCase {
  int64_t batch = 3, tokens = 4, in = 5, out = 6, experts = 2;
  bool shared = false;  // gates [1, T]
  bool bias = true;
  bool bias_deltas = true;
};

std::string case_name(const LinearCase& c, MixMode mode) {
  return fmt::format("mode {} {} gates, bias {}, bias_deltas {}", static_cast<int>(mode),
                     c.shared ? "shared" : "per-sample", c.bias, c.bias_deltas);
}

struct LinearParams {
  Tensor x, gates, weight, bias, deltas, bias_deltas;

  DynamicLinearWeights weights() const {
    return {&weight, bias.defined() ? &bias : nullptr, &deltas,
            bias_deltas.defined() ? &bias_deltas : nullptr};
  }
};

LinearParams make_linear(Provider& p, const LinearCase& c, uint32_t seed) {
  LinearParams m;
  m.x = random_tensor(p, {c.batch, c.tokens, c.in}, seed);
  m.gates = random_tensor(p, {c.shared ? 1 : c.batch, c.experts}, seed + 1);
  m.weight = random_tensor(p, {c.out, c.in}, seed + 2);
  if (c.bias) m.bias = random_tensor(p, {c.out}, seed + 3);
  m.deltas = random_tensor(p, {c.experts, c.out, c.in}, seed + 4);
  if (c.bias_deltas) m.bias_deltas = random_tensor(p, {c.experts, c.out}, seed + 5);
  return m;
}

// Gradients of every input, zero-initialised; `pointers` leaves out what the layer lacks.
struct LinearGrads {
  Tensor gates, weight, bias, deltas, bias_deltas;

  LinearGrads(Provider& p, const LinearParams& m)
      : gates(filled(p, m.gates.shape(), 0)),
        weight(filled(p, m.weight.shape(), 0)),
        deltas(filled(p, m.deltas.shape(), 0)) {
    if (m.bias.defined()) bias = filled(p, m.bias.shape(), 0);
    if (m.bias_deltas.defined()) bias_deltas = filled(p, m.bias_deltas.shape(), 0);
  }
  DynamicLinearGrads pointers() {
    return {&weight, bias.defined() ? &bias : nullptr, &deltas,
            bias_deltas.defined() ? &bias_deltas : nullptr, &gates};
  }
};

// y[b] = x[b] W(b)^T + bias(b), W(b) built in double on the host.
Doubles reference_linear(Provider& p, const LinearCase& c, const LinearParams& m) {
  const std::vector<float> x = host_values(p, m.x);
  const std::vector<float> g = host_values(p, m.gates);
  const std::vector<float> w0 = host_values(p, m.weight);
  const std::vector<float> d = host_values(p, m.deltas);
  const std::vector<float> b0 = c.bias ? host_values(p, m.bias) : std::vector<float>(c.out, 0);
  const std::vector<float> bd =
      c.bias_deltas ? host_values(p, m.bias_deltas) : std::vector<float>(c.experts * c.out, 0);
  Doubles y(c.batch * c.tokens * c.out);
  for (int64_t b = 0; b < c.batch; ++b) {
    const float* gb = &g[(c.shared ? 0 : b) * c.experts];
    Doubles w(c.out * c.in);
    Doubles bias(c.out);
    for (int64_t o = 0; o < c.out; ++o) {
      bias[o] = b0[o];
      for (int64_t t = 0; t < c.experts; ++t) bias[o] += double(gb[t]) * bd[t * c.out + o];
      for (int64_t i = 0; i < c.in; ++i) {
        double v = w0[o * c.in + i];
        for (int64_t t = 0; t < c.experts; ++t) {
          v += double(gb[t]) * d[(t * c.out + o) * c.in + i];
        }
        w[o * c.in + i] = v;
      }
    }
    for (int64_t n = 0; n < c.tokens; ++n) {
      for (int64_t o = 0; o < c.out; ++o) {
        double v = bias[o];
        for (int64_t i = 0; i < c.in; ++i) v += x[(b * c.tokens + n) * c.in + i] * w[o * c.in + i];
        y[(b * c.tokens + n) * c.out + o] = v;
      }
    }
  }
  return y;
}

std::vector<LinearCase> linear_cases() {
  std::vector<LinearCase> cases;
  for (const bool shared : {false, true}) {
    for (const auto& [bias, bias_deltas] :
         {std::pair{false, false}, std::pair{true, false}, std::pair{true, true}}) {
      LinearCase c;
      c.shared = shared;
      c.bias = bias;
      c.bias_deltas = bias_deltas;
      cases.push_back(c);
    }
  }
  return cases;
}

TEST(DynamicLinear, ForwardMatchesPerSampleReference) {
  const auto p = create_provider("cpu");
  uint32_t seed = 10;
  for (const LinearCase& c : linear_cases()) {
    const LinearParams m = make_linear(*p, c, seed += 10);
    const Doubles want = reference_linear(*p, c, m);
    for (const MixMode mode : {MixMode::weights, MixMode::outputs, MixMode::automatic}) {
      DynamicLinearSaved saved;
      const Tensor y = dynamic_linear_forward(*p, m.x, m.gates, m.weights(), mode, &saved);
      EXPECT_EQ(y.shape(), (Shape{c.batch, c.tokens, c.out}));
      expect_close(host_values(*p, y), want, 1e-5, 1e-5, case_name(c, mode));
      EXPECT_NE(saved.mode, MixMode::automatic) << "the saved mode is resolved";
      if (mode != MixMode::automatic) {
        EXPECT_EQ(saved.mode, mode);
      }
      // Without saving, the same values.
      expect_close(
          host_values(*p, dynamic_linear_forward(*p, m.x, m.gates, m.weights(), mode, nullptr)),
          want, 1e-5, 1e-5, case_name(c, mode) + " unsaved");
    }
  }
}

// A larger layer, so that the providers' blocked gemms (not a naive loop) are exercised.
TEST(DynamicLinear, LargerForwardMatchesReference) {
  const auto p = create_provider("cpu");
  LinearCase c;
  c.batch = 5;
  c.tokens = 17;
  c.in = 67;
  c.out = 129;
  c.experts = 8;
  for (const bool shared : {false, true}) {
    c.shared = shared;
    const LinearParams m = make_linear(*p, c, shared ? 300 : 200);
    const Doubles want = reference_linear(*p, c, m);
    for (const MixMode mode : {MixMode::weights, MixMode::outputs}) {
      const Tensor y = dynamic_linear_forward(*p, m.x, m.gates, m.weights(), mode, nullptr);
      expect_close(host_values(*p, y), want, 1e-4, 1e-4, case_name(c, mode));
    }
  }
}

// Forward and backward with every gradient wanted and dy = `upstream`.
struct LinearRun {
  std::vector<float> y, dx, dgates, dweight, dbias, ddeltas, dbias_deltas;
};

LinearRun run_linear(Provider& p, const LinearParams& m, MixMode mode,
                     const std::vector<float>& upstream) {
  DynamicLinearSaved saved;
  const Tensor y = dynamic_linear_forward(p, m.x, m.gates, m.weights(), mode, &saved);
  Tensor dy = p.allocate(DType::F32, y.shape());
  p.upload(dy, upstream.data(), dy.nbytes());
  LinearGrads g(p, m);
  const Tensor dx = dynamic_linear_backward(p, dy, m.weights(), saved, g.pointers());
  LinearRun r{host_values(p, y),
              host_values(p, dx),
              host_values(p, g.gates),
              host_values(p, g.weight),
              {},
              host_values(p, g.deltas),
              {}};
  if (g.bias.defined()) r.dbias = host_values(p, g.bias);
  if (g.bias_deltas.defined()) r.dbias_deltas = host_values(p, g.bias_deltas);
  return r;
}

TEST(DynamicLinear, MixingWeightsAndMixingOutputsAgree) {
  const auto p = create_provider("cpu");
  uint32_t seed = 400;
  for (const LinearCase& c : linear_cases()) {
    const LinearParams m = make_linear(*p, c, seed += 10);
    const std::vector<float> upstream = test::random_floats(c.batch * c.tokens * c.out, seed + 7);
    const LinearRun a = run_linear(*p, m, MixMode::weights, upstream);
    const LinearRun b = run_linear(*p, m, MixMode::outputs, upstream);
    const std::string what = case_name(c, MixMode::automatic);
    expect_close(a.y, b.y, 1e-5, 1e-5, what + " y");
    expect_close(a.dx, b.dx, 1e-5, 1e-5, what + " dx");
    expect_close(a.dgates, b.dgates, 1e-5, 1e-5, what + " dgates");
    expect_close(a.dweight, b.dweight, 1e-5, 1e-5, what + " dweight");
    expect_close(a.dbias, b.dbias, 1e-5, 1e-5, what + " dbias");
    expect_close(a.ddeltas, b.ddeltas, 1e-5, 1e-5, what + " ddeltas");
    expect_close(a.dbias_deltas, b.dbias_deltas, 1e-5, 1e-5, what + " dbias_deltas");
  }
}

class DynamicLinearGradient : public ::testing::TestWithParam<std::tuple<MixMode, bool>> {};

TEST_P(DynamicLinearGradient, BackwardMatchesFiniteDifferences) {
  const auto p = create_provider("cpu");
  LinearCase c;
  c.shared = std::get<1>(GetParam());
  const MixMode mode = std::get<0>(GetParam());
  const LinearParams m = make_linear(*p, c, 500);
  const std::vector<float> upstream = test::random_floats(c.batch * c.tokens * c.out, 501);
  const LinearRun r = run_linear(*p, m, mode, upstream);
  const auto loss = [&] {
    return weighted_sum(*p, dynamic_linear_forward(*p, m.x, m.gates, m.weights(), mode, nullptr),
                        upstream);
  };
  expect_finite_differences(*p, m.x, r.dx, loss, "x");
  expect_finite_differences(*p, m.gates, r.dgates, loss, "gates");
  expect_finite_differences(*p, m.weight, r.dweight, loss, "weight");
  expect_finite_differences(*p, m.bias, r.dbias, loss, "bias");
  expect_finite_differences(*p, m.deltas, r.ddeltas, loss, "deltas");
  expect_finite_differences(*p, m.bias_deltas, r.dbias_deltas, loss, "bias_deltas");
}

INSTANTIATE_TEST_SUITE_P(
    ModesAndGates, DynamicLinearGradient,
    ::testing::Combine(::testing::Values(MixMode::weights, MixMode::outputs), ::testing::Bool()),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == MixMode::weights ? "weights" : "outputs") +
             (std::get<1>(info.param) ? "_shared" : "_per_sample");
    });

// A null gradient is frozen: not computed, and the others are unchanged by its absence. Wanted
// gradients accumulate into what the tensors hold.
TEST(DynamicLinear, FrozenGradientsAreSkippedAndOthersAccumulate) {
  const auto p = create_provider("cpu");
  for (const MixMode mode : {MixMode::weights, MixMode::outputs}) {
    for (const bool shared : {false, true}) {
      LinearCase c;
      c.shared = shared;
      const LinearParams m = make_linear(*p, c, 600);
      const std::vector<float> upstream = test::random_floats(c.batch * c.tokens * c.out, 601);
      const LinearRun full = run_linear(*p, m, mode, upstream);
      const std::string what = case_name(c, mode);

      DynamicLinearSaved saved;
      const Tensor y = dynamic_linear_forward(*p, m.x, m.gates, m.weights(), mode, &saved);
      Tensor dy = p->allocate(DType::F32, y.shape());
      p->upload(dy, upstream.data(), dy.nbytes());
      // Only the gates (the router's training), starting from 1: += adds to it.
      Tensor dgates = filled(*p, m.gates.shape(), 1.0);
      DynamicLinearGrads only_gates;
      only_gates.gates = &dgates;
      const Tensor dx = dynamic_linear_backward(*p, dy, m.weights(), saved, only_gates);
      expect_close(host_values(*p, dx), full.dx, 1e-6, 1e-6, what + " dx");
      std::vector<float> want = full.dgates;
      for (float& v : want) v += 1;
      expect_close(host_values(*p, dgates), want, 1e-6, 1e-6, what + " dgates += ");
      // Only the deltas and the bias deltas, no dx: dx comes back undefined.
      Tensor ddeltas = filled(*p, m.deltas.shape(), 0.0);
      Tensor dbias_deltas = filled(*p, m.bias_deltas.shape(), 0.0);
      DynamicLinearGrads only_deltas;
      only_deltas.deltas = &ddeltas;
      only_deltas.bias_deltas = &dbias_deltas;
      EXPECT_FALSE(
          dynamic_linear_backward(*p, dy, m.weights(), saved, only_deltas, false).defined());
      expect_close(host_values(*p, ddeltas), full.ddeltas, 1e-6, 1e-6, what + " ddeltas");
      expect_close(host_values(*p, dbias_deltas), full.dbias_deltas, 1e-6, 1e-6,
                   what + " dbias_deltas");
      // Nothing wanted at all.
      EXPECT_FALSE(dynamic_linear_backward(*p, dy, m.weights(), saved, {}, false).defined());
    }
  }
}

TEST(DynamicLinear, ChoosesTheCheaperMode) {
  // Few tokens per sample: mixing a weight per sample costs more than mixing outputs.
  EXPECT_EQ(choose_mix_mode(16, 1, 8, 768, 3072), MixMode::outputs);
  EXPECT_EQ(choose_mix_mode(128, 8, 8, 128, 512), MixMode::outputs);
  // Many tokens (a ViT-B/32 image, 50 tokens; the fmnist8 encoder's 17): one weight per sample
  // is cheaper (bench/dynamic_linear_bench).
  EXPECT_EQ(choose_mix_mode(16, 50, 8, 768, 3072), MixMode::weights);
  EXPECT_EQ(choose_mix_mode(128, 17, 8, 128, 512), MixMode::weights);
  // Shared gates are one sample of B*N tokens.
  EXPECT_EQ(choose_mix_mode(1, 16 * 17, 8, 128, 512), MixMode::weights);
}

TEST(DynamicLinear, RejectsMismatchedShapes) {
  const auto p = create_provider("cpu");
  const LinearCase c;
  const LinearParams m = make_linear(*p, c, 700);
  const auto forward_error = [&](const Tensor& x, const Tensor& gates,
                                 const DynamicLinearWeights& w) {
    return test::thrown_error(
        [&] { dynamic_linear_forward(*p, x, gates, w, MixMode::weights, nullptr); });
  };
  const auto expect_shape_error = [](const Error& e, const std::string& names) {
    EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(names));
  };
  expect_shape_error(forward_error(m.x.reshaped({c.batch * c.tokens, c.in}), m.gates, m.weights()),
                     "x has shape [12, 5]");
  expect_shape_error(forward_error(m.x, filled(*p, {c.batch, c.experts + 1}, 0), m.weights()),
                     "gates has shape [3, 3]");
  expect_shape_error(forward_error(m.x, filled(*p, {2, c.experts}, 0), m.weights()),
                     "gates has shape [2, 2]");
  DynamicLinearWeights w = m.weights();
  const Tensor wide = filled(*p, {c.out, c.in + 1}, 0);
  w.weight = &wide;
  expect_shape_error(forward_error(m.x, m.gates, w), "weight");
  w = m.weights();
  const Tensor deltas = filled(*p, {c.experts, c.out + 1, c.in}, 0);
  w.deltas = &deltas;
  expect_shape_error(forward_error(m.x, m.gates, w), "deltas");
  w = m.weights();
  const Tensor bias = filled(*p, {c.out + 1}, 0);
  w.bias = &bias;
  expect_shape_error(forward_error(m.x, m.gates, w), "bias");
  w = m.weights();
  const Tensor bias_deltas = filled(*p, {c.experts + 1, c.out}, 0);
  w.bias_deltas = &bias_deltas;
  expect_shape_error(forward_error(m.x, m.gates, w), "bias_deltas");
  // bias_deltas without a bias, no deltas: invalid rather than mis-shaped.
  w = m.weights();
  w.bias = nullptr;
  EXPECT_EQ(forward_error(m.x, m.gates, w).status(), ALLOY_ERR_INVALID_ARGUMENT);
  w = m.weights();
  w.deltas = nullptr;
  EXPECT_EQ(forward_error(m.x, m.gates, w).status(), ALLOY_ERR_INVALID_ARGUMENT);

  DynamicLinearSaved saved;
  dynamic_linear_forward(*p, m.x, m.gates, m.weights(), MixMode::outputs, &saved);
  const Tensor dy = filled(*p, {c.batch, c.tokens, c.out}, 1);
  expect_shape_error(test::thrown_error([&] {
                       dynamic_linear_backward(*p, filled(*p, {c.batch, c.tokens, c.out + 1}, 1),
                                               m.weights(), saved, {});
                     }),
                     "dy");
  Tensor dgates = filled(*p, {1, c.experts}, 0);
  DynamicLinearGrads grads;
  grads.gates = &dgates;
  expect_shape_error(
      test::thrown_error([&] { dynamic_linear_backward(*p, dy, m.weights(), saved, grads); }),
      "gates' gradient");
  Tensor ddeltas = filled(*p, {c.experts, c.in, c.out}, 0);
  grads = {};
  grads.deltas = &ddeltas;
  expect_shape_error(
      test::thrown_error([&] { dynamic_linear_backward(*p, dy, m.weights(), saved, grads); }),
      "deltas' gradient");
}

// --- router ------------------------------------------------------------------------------

struct RouterParams {
  int hidden_layers;
  Tensor w1, b1, w2, b2;

  RouterWeights weights() const {
    return {hidden_layers, w1.defined() ? &w1 : nullptr, b1.defined() ? &b1 : nullptr,
            w2.defined() ? &w2 : nullptr, b2.defined() ? &b2 : nullptr};
  }
};

RouterParams make_router(Provider& p, int hidden_layers, int64_t width, int64_t experts,
                         uint32_t seed) {
  RouterParams r{hidden_layers, {}, {}, {}, {}};
  if (hidden_layers == 2) {
    r.w1 = random_tensor(p, {width, width}, seed);
    r.b1 = random_tensor(p, {width}, seed + 1);
    r.w2 = random_tensor(p, {experts, width}, seed + 2);
    r.b2 = random_tensor(p, {experts}, seed + 3);
  } else if (hidden_layers == 1) {
    r.w1 = random_tensor(p, {experts, width}, seed);
    r.b1 = random_tensor(p, {experts}, seed + 1);
  } else {
    r.b1 = random_tensor(p, {experts}, seed + 1);
  }
  return r;
}

struct RouterGradTensors {
  Tensor w1, b1, w2, b2;

  RouterGradTensors(Provider& p, const RouterParams& r) {
    for (const auto& [grad, param] : {std::pair{&w1, &r.w1}, std::pair{&b1, &r.b1},
                                      std::pair{&w2, &r.w2}, std::pair{&b2, &r.b2}}) {
      if (param->defined()) *grad = filled(p, param->shape(), 0);
    }
  }
  RouterGrads pointers() {
    return {w1.defined() ? &w1 : nullptr, b1.defined() ? &b1 : nullptr,
            w2.defined() ? &w2 : nullptr, b2.defined() ? &b2 : nullptr};
  }
};

// Per token r, then the mean over each sample's tokens (or over all of them), in double.
Doubles reference_router(Provider& p, const RouterParams& r, const Tensor& h, bool batch_mean,
                         int64_t experts) {
  const int64_t batch = h.shape()[0];
  const int64_t tokens = h.shape()[1];
  const int64_t width = h.shape()[2];
  const std::vector<float> x = host_values(p, h);
  const auto vals = [&](const Tensor& t) {
    return t.defined() ? host_values(p, t) : std::vector<float>();
  };
  const std::vector<float> w1 = vals(r.w1), b1 = vals(r.b1), w2 = vals(r.w2), b2 = vals(r.b2);
  Doubles gates((batch_mean ? 1 : batch) * experts, 0.0);
  const double count = double(batch_mean ? batch * tokens : tokens);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t n = 0; n < tokens; ++n) {
      const float* v = &x[(b * tokens + n) * width];
      Doubles hidden(width);
      for (int64_t j = 0; j < width && r.hidden_layers == 2; ++j) {
        double s = b1[j];
        for (int64_t i = 0; i < width; ++i) s += double(w1[j * width + i]) * v[i];
        hidden[j] = std::max(s, 0.0);
      }
      for (int64_t t = 0; t < experts; ++t) {
        double s = 0;
        if (r.hidden_layers == 2) {
          s = b2[t];
          for (int64_t j = 0; j < width; ++j) s += w2[t * width + j] * hidden[j];
        } else {
          s = b1[t];
          for (int64_t i = 0; i < width && r.hidden_layers == 1; ++i) {
            s += double(w1[t * width + i]) * v[i];
          }
        }
        gates[(batch_mean ? 0 : b) * experts + t] += s / count;
      }
    }
  }
  return gates;
}

// Dimensions: batch 3, tokens 4, width 5, experts 2.
class RouterTest : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  static constexpr int64_t kBatch = 3, kTokens = 4, kWidth = 5, kExperts = 2;
  int hidden_layers() const { return std::get<0>(GetParam()); }
  bool batch_mean() const { return std::get<1>(GetParam()); }
};

TEST_P(RouterTest, ForwardMatchesPerTokenReference) {
  const auto p = create_provider("cpu");
  const RouterParams r = make_router(*p, hidden_layers(), kWidth, kExperts, 800);
  const Tensor h = random_tensor(*p, {kBatch, kTokens, kWidth}, 805);
  EXPECT_EQ(r.weights().experts(), kExperts);
  const Tensor gates = router_forward(*p, h, r.weights(), batch_mean(), nullptr);
  EXPECT_EQ(gates.shape(), (Shape{batch_mean() ? 1 : kBatch, kExperts}));
  expect_close(host_values(*p, gates), reference_router(*p, r, h, batch_mean(), kExperts), 1e-6,
               1e-5, "gates");
}

TEST_P(RouterTest, BackwardMatchesFiniteDifferences) {
  const auto p = create_provider("cpu");
  const RouterParams r = make_router(*p, hidden_layers(), kWidth, kExperts, 810);
  const Tensor h = random_tensor(*p, {kBatch, kTokens, kWidth}, 815, -2.0f, 2.0f);
  RouterSaved saved;
  const Tensor gates = router_forward(*p, h, r.weights(), batch_mean(), &saved);
  if (hidden_layers() == 2) {
    // Differences of 3e-3 in an input move a pre-activation by at most 3e-3 * 2: none may be
    // that close to relu's kink.
    for (const float v : host_values(*p, saved.pre)) ASSERT_GT(std::fabs(v), 1e-2f);
  }
  const std::vector<float> upstream = test::random_floats(gates.numel(), 816);
  Tensor dgates = p->allocate(DType::F32, gates.shape());
  p->upload(dgates, upstream.data(), dgates.nbytes());
  RouterGradTensors g(*p, r);
  const Tensor dh = router_backward(*p, dgates, r.weights(), saved, g.pointers());
  ASSERT_EQ(dh.shape(), h.shape());
  const auto loss = [&] {
    return weighted_sum(*p, router_forward(*p, h, r.weights(), batch_mean(), nullptr), upstream);
  };
  expect_finite_differences(*p, h, host_values(*p, dh), loss, "h");
  for (const auto& [param, grad, name] :
       {std::tuple{&r.w1, &g.w1, "w1"}, std::tuple{&r.b1, &g.b1, "b1"},
        std::tuple{&r.w2, &g.w2, "w2"}, std::tuple{&r.b2, &g.b2, "b2"}}) {
    if (param->defined()) expect_finite_differences(*p, *param, host_values(*p, *grad), loss, name);
  }
  // Frozen: with no parameter gradient wanted, dh is the same.
  expect_close(host_values(*p, router_backward(*p, dgates, r.weights(), saved, {})),
               host_values(*p, dh), 0, 0, "dh, frozen router");
}

INSTANTIATE_TEST_SUITE_P(Layers, RouterTest,
                         ::testing::Combine(::testing::Values(0, 1, 2), ::testing::Bool()),
                         [](const auto& info) {
                           return fmt::format("hidden_layers_{}{}", std::get<0>(info.param),
                                              std::get<1>(info.param) ? "_batch_mean" : "");
                         });

TEST(Router, RejectsMismatchedShapes) {
  const auto p = create_provider("cpu");
  const RouterParams r = make_router(*p, 2, 5, 2, 900);
  const Tensor h = random_tensor(*p, {3, 4, 5}, 905);
  const auto error = [&](const Tensor& x, const RouterWeights& w) {
    return test::thrown_error([&] { router_forward(*p, x, w, false, nullptr); });
  };
  Error e = error(random_tensor(*p, {3, 4, 6}, 906), r.weights());
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("w1 has shape [5, 5], expected [6, 6]"));
  e = error(h.reshaped({12, 5}), r.weights());
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("h has shape [12, 5]"));
  RouterWeights w = r.weights();
  const Tensor b2 = filled(*p, {3}, 0);
  w.b2 = &b2;
  e = error(h, w);
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("b2"));
  w = r.weights();
  w.hidden_layers = 3;
  EXPECT_EQ(error(h, w).status(), ALLOY_ERR_INVALID_ARGUMENT);
  RouterSaved saved;
  router_forward(*p, h, r.weights(), true, &saved);
  e = test::thrown_error([&] {
    router_backward(*p, filled(*p, {3, 2}, 1), r.weights(), saved, {});
  });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("dgates has shape [3, 2], expected [1, 2]"));
}

// --- the upscaled MLP ----------------------------------------------------------------------

class MoeMlpTest : public ::testing::TestWithParam<std::tuple<MixMode, bool>> {};

// Batch 3, tokens 4, width 5, intermediate 6, experts 2; every parameter with a gradient.
TEST_P(MoeMlpTest, BackwardMatchesFiniteDifferences) {
  const auto p = create_provider("cpu");
  const int64_t batch = 3, tokens = 4, width = 5, hidden = 6, experts = 2;
  const MixMode mode = std::get<0>(GetParam());
  MoeMlpOptions options;
  options.mode = mode;
  options.batch_mean = std::get<1>(GetParam());
  const Tensor x = random_tensor(*p, {batch, tokens, width}, 1000, -2.0f, 2.0f);
  LinearCase c1;
  c1.batch = batch;
  c1.tokens = tokens;
  c1.in = width;
  c1.out = hidden;
  c1.experts = experts;
  LinearCase c2 = c1;
  c2.in = hidden;
  c2.out = width;
  const LinearParams fc1 = make_linear(*p, c1, 1010);
  const LinearParams fc2 = make_linear(*p, c2, 1020);
  const RouterParams router = make_router(*p, 2, width, experts, 1030);
  const MoeMlpWeights w{fc1.weights(), fc2.weights(), router.weights()};
  const Activation act = Activation::quick_gelu;

  MoeMlpSaved saved;
  Tensor gates;
  const Tensor y = moe_mlp_forward(*p, x, act, w, options, &saved, &gates);
  ASSERT_EQ(y.shape(), x.shape());
  expect_close(
      host_values(*p, gates),
      host_values(*p, router_forward(*p, x, router.weights(), options.batch_mean, nullptr)), 0, 0,
      "gates_out");
  for (const float v : host_values(*p, saved.router.pre)) ASSERT_GT(std::fabs(v), 1e-2f);
  const std::vector<float> upstream = test::random_floats(y.numel(), 1040);
  Tensor dy = p->allocate(DType::F32, y.shape());
  p->upload(dy, upstream.data(), dy.nbytes());
  LinearGrads g1(*p, fc1);
  LinearGrads g2(*p, fc2);
  RouterGradTensors gr(*p, router);
  const MoeMlpGrads grads{g1.pointers(), g2.pointers(), gr.pointers()};
  const Tensor dx = moe_mlp_backward(*p, dy, act, w, saved, grads);
  ASSERT_EQ(dx.shape(), x.shape());
  EXPECT_EQ(host_values(*p, g1.gates), std::vector<float>(g1.gates.numel(), 0.0f))
      << "the layers' own gates gradients are not used";

  const auto loss = [&] {
    return weighted_sum(*p, moe_mlp_forward(*p, x, act, w, options, nullptr), upstream);
  };
  expect_finite_differences(*p, x, host_values(*p, dx), loss, "x");
  expect_finite_differences(*p, router.w1, host_values(*p, gr.w1), loss, "router w1");
  expect_finite_differences(*p, router.b1, host_values(*p, gr.b1), loss, "router b1");
  expect_finite_differences(*p, router.w2, host_values(*p, gr.w2), loss, "router w2");
  expect_finite_differences(*p, router.b2, host_values(*p, gr.b2), loss, "router b2");
  expect_finite_differences(*p, fc1.deltas, host_values(*p, g1.deltas), loss, "fc1 deltas");
  expect_finite_differences(*p, fc1.bias_deltas, host_values(*p, g1.bias_deltas), loss,
                            "fc1 bias_deltas");
  expect_finite_differences(*p, fc1.weight, host_values(*p, g1.weight), loss, "fc1 weight");
  expect_finite_differences(*p, fc2.deltas, host_values(*p, g2.deltas), loss, "fc2 deltas");
  expect_finite_differences(*p, fc2.bias, host_values(*p, g2.bias), loss, "fc2 bias");

  // Everything frozen but the router: the same dx and router gradients.
  RouterGradTensors only_router(*p, router);
  const MoeMlpGrads frozen{{}, {}, only_router.pointers()};
  expect_close(host_values(*p, moe_mlp_backward(*p, dy, act, w, saved, frozen)),
               host_values(*p, dx), 1e-6, 1e-6, "dx, frozen layers");
  expect_close(host_values(*p, only_router.w1), host_values(*p, gr.w1), 1e-6, 1e-6,
               "router w1, frozen layers");
}

INSTANTIATE_TEST_SUITE_P(
    ModesAndGates, MoeMlpTest,
    ::testing::Combine(::testing::Values(MixMode::weights, MixMode::outputs), ::testing::Bool()),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == MixMode::weights ? "weights" : "outputs") +
             (std::get<1>(info.param) ? "_batch_mean" : "_per_sample");
    });

}  // namespace
}  // namespace alloy
