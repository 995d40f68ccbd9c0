// TIES-Merging (Yadav et al., NeurIPS 2023): trim each task vector to its largest-magnitude
// entries, elect a sign per parameter by total mass, and merge only the entries that agree.
//
// Defaults follow mergekit's semantics (per-tensor trimming, disjoint mean weighted by
// `weight`), so a mergekit TIES config gives mergekit's result; the default density is the
// paper's 20% (mergekit's own default is 1.0, no trimming). `trim_scope: model` trims with one
// threshold over the whole task vector as the paper's code and FusionBench do; with
// `disjoint: sum, lambda: 0.3` it is FusionBench's setting.
#include <alloy/alloy.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../common/task_vector.hpp"
#include "model_threshold.hpp"

namespace {

using alloy::sdk::Context;
using alloy::sdk::Error;
using alloy::sdk::Tensor;

const alloy_param_spec kParams[] = {
    {"density", ALLOY_PARAM_F64, ALLOY_SCOPE_MODEL, "0.2",
     "Fraction of each task vector kept, by magnitude (the paper's top-k, k = 20%).", nullptr},
    {"weight", ALLOY_PARAM_F64, ALLOY_SCOPE_MODEL, "1.0",
     "Weight of this model's task vector in the sign election and the merge.", nullptr},
    {"lambda", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "1.0",
     "Scale of the merged task vector (mergekit's default 1.0; FusionBench uses 0.3 with "
     "disjoint: sum; the paper tunes it on validation data).",
     nullptr},
    {"trim_scope", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "tensor",
     "tensor: one magnitude threshold per tensor (mergekit); model: one threshold over all "
     "tensors of a task vector (the paper, FusionBench).",
     "tensor|model"},
    {"disjoint", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "auto",
     "How agreeing entries combine: mean (weighted by `weight`, mergekit), sum (FusionBench), "
     "or auto (mean when normalize is true, else sum).",
     "auto|mean|sum"},
    {"normalize", ALLOY_PARAM_BOOL, ALLOY_SCOPE_GLOBAL, "true",
     "mergekit's name for disjoint mean (true) or sum (false); used when disjoint is auto.",
     nullptr},
    {"int8_mask", ALLOY_PARAM_BOOL, ALLOY_SCOPE_GLOBAL, "false",
     "Accepted for mergekit compatibility; a memory option there, no effect here.", nullptr},
};

struct JobState {
  // trim_scope model: per model index, the magnitude an entry needs to be kept.
  std::vector<double> thresholds;
  bool model_scope = false;
};

bool disjoint_mean(const Context& ctx) {
  const std::string disjoint = ctx.param_string("disjoint");
  if (disjoint == "auto") return ctx.param_bool("normalize");
  return disjoint == "mean";
}

// Keeps the entries of tau that survive trimming, zeroing the rest (in place).
void trim(const Context& ctx, const JobState& state, int32_t model, Tensor& tau) {
  Tensor mask = ctx.alloc_like(tau);
  if (state.model_scope) {
    ctx.unary(ALLOY_UNARY_ABS, mask, tau);
    ctx.binary_scalar(ALLOY_BINARY_GE, mask, mask, state.thresholds[model]);
  } else {
    const double density = ctx.param_f64("density", model);
    if (density >= 1.0) return;
    // mergekit: k = int(density * numel), exactly k entries kept.
    const uint64_t k = static_cast<uint64_t>(density * static_cast<double>(ctx.numel(tau)));
    ctx.topk_mask(mask, tau, k);
  }
  ctx.where(tau, mask, tau);
}

alloy_status begin(alloy_context* raw, void** job_state) {
  return alloy::sdk::guard(raw, [&] {
    Context ctx(raw);
    auto state = std::make_unique<JobState>();
    const std::vector<int32_t> models = ctx.fine_tuned_models();
    for (int32_t model : models) {
      const double density = ctx.param_f64("density", model);
      if (!(density >= 0.0 && density <= 1.0)) {
        throw Error(ALLOY_ERR_INVALID_ARGUMENT, "density of model '" + ctx.model_name(model) +
                                                    "' must lie in [0, 1], got " +
                                                    std::to_string(density));
      }
    }
    state->model_scope = ctx.param_string("trim_scope") == "model";
    if (state->model_scope) state->thresholds = ties::model_thresholds(ctx, models);
    *job_state = state.release();
  });
}

alloy_status merge(alloy_context* raw, void* job_state, const char* name) {
  return alloy::sdk::guard(raw, [&] {
    Context ctx(raw);
    const JobState& state = *static_cast<const JobState*>(job_state);
    Tensor base = ctx.get(ctx.base_model(), name);

    // Weighted, trimmed task vectors.
    const std::vector<int32_t> models = ctx.fine_tuned_models();
    std::vector<Tensor> taus;
    std::vector<double> weights;
    for (int32_t model : models) {
      Tensor tau = alloy_plugins::task_vector(ctx, base, model, name);
      trim(ctx, state, model, tau);
      const double weight = ctx.param_f64("weight", model);
      ctx.binary_scalar(ALLOY_BINARY_MUL, tau, tau, weight);
      taus.push_back(std::move(tau));
      weights.push_back(weight);
    }

    // Elect a sign per entry (by total weighted mass; zero counts as positive, as in mergekit).
    Tensor sign = ctx.alloc_like(base);
    std::vector<const Tensor*> views;
    for (const Tensor& tau : taus) views.push_back(&tau);
    ctx.sign_elect(ALLOY_ELECT_SUM, sign, views);

    // Disjoint merge: only entries whose sign agrees with the elected one contribute.
    Tensor mixed = ctx.alloc_like(base);
    Tensor divisor = ctx.alloc_like(base);
    Tensor agrees = ctx.alloc_like(base);
    for (std::size_t i = 0; i < taus.size(); ++i) {
      ctx.unary(ALLOY_UNARY_SIGN, agrees, taus[i]);
      ctx.binary(ALLOY_BINARY_EQ, agrees, agrees, sign);
      ctx.where(taus[i], agrees, taus[i]);
      ctx.axpby(1.0, taus[i], 1.0, mixed);
      ctx.axpby(weights[i], agrees, 1.0, divisor);
    }
    if (disjoint_mean(ctx)) {
      // Entries no model kept keep a divisor of 1 (mergekit: divisor[divisor == 0] = 1).
      ctx.binary_scalar(ALLOY_BINARY_EQ, agrees, divisor, 0.0);
      ctx.axpby(1.0, agrees, 1.0, divisor);
      ctx.binary(ALLOY_BINARY_DIV, mixed, mixed, divisor);
    }
    ctx.axpby(1.0, base, ctx.param_f64("lambda"), mixed);
    ctx.put(name, mixed);
  });
}

void end(void* job_state) { delete static_cast<JobState*>(job_state); }

const alloy_plugin kPlugin = {
    ALLOY_ABI_MAJOR,
    ALLOY_ABI_MINOR,
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    "ties",
    "1.0.0",
    "TIES-Merging: trim, elect sign, disjoint merge",
    kParams,
    sizeof(kParams) / sizeof(kParams[0]),
    ALLOY_PLUGIN_THREAD_SAFE | ALLOY_PLUGIN_NEEDS_BASE,
    begin,
    merge,
    nullptr,
    end,
};

}  // namespace

ALLOY_DEFINE_PLUGIN(kPlugin)
