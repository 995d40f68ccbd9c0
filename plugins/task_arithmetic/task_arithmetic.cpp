// Task Arithmetic (Ilharco et al., 2023): base + lambda * sum_i weight_i * (model_i - base),
// with mergekit's parameter names and defaults so mergekit configs run unchanged.
#include <alloy/alloy.hpp>

#include "../common/task_vector.hpp"

namespace {

using alloy::sdk::Context;
using alloy::sdk::Tensor;

const alloy_param_spec kParams[] = {
    {"lambda", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "1.0",
     "Scale of the summed task vectors (mergekit's default 1.0; the paper tunes it on "
     "validation data, FusionBench uses 0.3).",
     nullptr},
    {"weight", ALLOY_PARAM_F64, ALLOY_SCOPE_MODEL, "1.0", "Weight of this model's task vector.",
     nullptr},
    {"normalize", ALLOY_PARAM_BOOL, ALLOY_SCOPE_GLOBAL, "false",
     "Divide the weighted sum by the sum of the weights.", nullptr},
    {"int8_mask", ALLOY_PARAM_BOOL, ALLOY_SCOPE_GLOBAL, "false",
     "Accepted for mergekit compatibility; a memory option there, no effect here.", nullptr},
};

alloy_status merge(alloy_context* raw, void*, const char* name) {
  return alloy::sdk::guard(raw, [&] {
    Context ctx(raw);
    // NEEDS_BASE: the host has checked the job names a base model.
    Tensor base = ctx.get(ctx.base_model(), name);
    Tensor mixed = ctx.alloc_like(base);
    double weight_sum = 0;
    for (int32_t model : ctx.fine_tuned_models()) {
      const double weight = ctx.param_f64("weight", model);
      Tensor delta = alloy_plugins::task_vector(ctx, base, model, name);
      ctx.axpby(weight, delta, 1.0, mixed);
      weight_sum += weight;
    }
    double scale = ctx.param_f64("lambda");
    if (ctx.param_bool("normalize") && weight_sum != 0) scale /= weight_sum;
    ctx.axpby(1.0, base, scale, mixed);
    ctx.put(name, mixed);
  });
}

const alloy_plugin kPlugin = {
    ALLOY_ABI_MAJOR,
    ALLOY_ABI_MINOR,
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    "task_arithmetic",
    "1.0.0",
    "Task Arithmetic: base + lambda * sum of weighted task vectors",
    kParams,
    sizeof(kParams) / sizeof(kParams[0]),
    ALLOY_PLUGIN_THREAD_SAFE | ALLOY_PLUGIN_NEEDS_BASE,
    nullptr,
    merge,
    nullptr,
    nullptr,
};

}  // namespace

ALLOY_DEFINE_PLUGIN(kPlugin)
