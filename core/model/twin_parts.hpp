// What a Twin-Merging model holds beside its shared parameters (docs/model.md, "Twin-Merging
// models"): per parameter, the T experts' exclusive knowledge v_t = theta_t - theta*, either as
// low-rank factors (us_t [out, r_t], v_t [in, r_t]: v_t ~ us_t v_t^T; a convolution weight as its
// [out, in*k*k] matrix) or dense; and a router (twin_router.hpp) over T experts. The files hold
// one tensor per expert and factor:
//   twin.experts.<t>.<parameter>.us, twin.experts.<t>.<parameter>.v    low rank
//   twin.experts.<t>.<parameter>                                        dense
//   twin.router.<leaf>                                                  the router
// Loaded, each parameter's experts are joined for the forward pass (twin_forward.hpp), which
// mixes them per sample without building a weight per sample.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compute/provider.hpp"
#include "tensor/registry.hpp"

namespace alloy {

// "twin.experts.<expert>.<parameter>"
std::string twin_expert_param(int64_t expert, const std::string& parameter);

// Every expert's delta of one parameter of the shared model.
struct TwinDelta {
  // Low rank: the factors of every expert side by side (expert t's r_t columns after those of
  // experts before it), and which expert each column belongs to.
  Tensor us;       // [out, R]
  Tensor v;        // [in, R]
  Tensor columns;  // [T, R]: 1 where column c is expert t's, so gates @ columns gives each
                   // column its expert's gate
  // Dense (vectors, and matrices that are not a linear layer's weight): [T, numel], a missing
  // expert's row zero.
  Tensor dense;
  bool low_rank() const { return us.defined(); }
};

struct TwinParts {
  int64_t experts = 0;  // T; 0: not a Twin-Merging model
  std::map<std::string, TwinDelta> deltas;
  bool active() const { return experts > 0; }
  const TwinDelta* find(const std::string& parameter) const {
    const auto it = deltas.find(parameter);
    return it == deltas.end() ? nullptr : &it->second;
  }
  uint64_t stored_values = 0;  // every factor's and dense delta's elements, as the files hold
};

// The router's hidden width and expert count from its tensors' names and shapes: {0, 0} when
// `model` has no twin.* tensor. Throws naming the model and tensor for an incomplete router.
struct TwinRouterShape {
  int64_t width = 0;
  int64_t experts = 0;
};
TwinRouterShape detect_twin_router(const Model& model, int64_t features);

// The task of each expert index, from the model's "experts" metadata (a JSON list of task names
// that Twin-Merging and WEMoE write); empty when the model has none. Throws naming the file for
// a value that is not a list of strings.
std::vector<std::string> expert_tasks(const Model& model);

// Reads every twin.experts.* tensor of `model` for the parameters in `params` (name -> shape of
// the shared model), joined for `experts` experts; `linear` names the parameters used as a linear
// layer's weight (they keep low-rank factors; others are made dense). Throws naming the model
// and tensor for a tensor that names no parameter or expert, misshapen factors, a factor without
// its pair, or a parameter with dense and low-rank deltas.
TwinParts load_twin_parts(const Model& model, const std::map<std::string, Shape>& params,
                          const std::map<std::string, bool>& linear, int64_t experts,
                          Provider& provider);

}  // namespace alloy
