// The tensors of Twin-Merging's router (the official code's SimpleMLP, docs/model.md):
// Linear(D, H) - BatchNorm - LeakyReLU - Dropout - Linear(H, H) - BatchNorm - LeakyReLU -
// Dropout - Linear(H, T), named by torch's Sequential numbering ("twin.router.0.weight", ...)
// and initialised as torch initialises those modules: a linear layer's weight and bias uniform in
// +-1/sqrt(in) (kaiming_uniform with a = sqrt(5)), BatchNorm's weight 1, bias 0, running mean 0,
// running variance 1.
#pragma once

#include <alloy/alloy.hpp>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace twin {

using alloy::sdk::Context;
using alloy::sdk::Tensor;

inline std::string router_name(const std::string& leaf) { return "twin.router." + leaf; }

// Puts every router tensor into `model`; returns the names of those gradients train (all but
// the running statistics), in torch's order.
inline std::vector<std::string> add_router(const Context& c, int32_t model, int64_t features,
                                           int64_t width, int64_t experts, uint64_t seed) {
  std::vector<std::string> trained;
  auto put = [&](const std::string& leaf, const Tensor& t, bool trains) {
    c.model_put(model, router_name(leaf).c_str(), t);
    if (trains) trained.push_back(router_name(leaf));
  };
  uint64_t stream = 0;
  auto linear = [&](const std::string& index, int64_t in, int64_t out) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    for (const auto& [leaf, shape] :
         {std::pair<std::string, std::vector<int64_t>>{index + ".weight", {out, in}},
          std::pair<std::string, std::vector<int64_t>>{index + ".bias", {out}}}) {
      Tensor t = c.alloc(shape);
      c.fill_random(t, ALLOY_RANDOM_UNIFORM, -bound, bound, seed * 16 + stream++);
      put(leaf, t, true);
    }
  };
  auto batch_norm = [&](const std::string& index) {
    for (const auto& [leaf, value, trains] :
         {std::tuple<const char*, double, bool>{"weight", 1.0, true},
          {"bias", 0.0, true},
          {"running_mean", 0.0, false},
          {"running_var", 1.0, false}}) {
      Tensor t = c.alloc({width});
      c.fill(t, value);
      put(index + "." + leaf, t, trains);
    }
  };
  linear("0", features, width);
  batch_norm("1");
  linear("4", width, width);
  batch_norm("5");
  linear("8", width, experts);
  return trained;
}

}  // namespace twin
