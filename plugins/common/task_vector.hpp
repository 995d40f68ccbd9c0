// Helpers shared by the shipped strategies. Header-only and built against the SDK alone, like
// any third-party plugin could be.
#pragma once

#include <alloy/alloy.hpp>

#include <string>

namespace alloy_plugins {

using alloy::sdk::Context;
using alloy::sdk::Tensor;

// tau = model[name] - base, as f32. Fails with a message naming model, tensor and both shapes
// when the fine-tuned tensor does not match the base.
inline Tensor task_vector(const Context& ctx, const Tensor& base, int32_t model, const char* name) {
  if (!ctx.has_tensor(model, name)) {
    throw alloy::sdk::Error(ALLOY_ERR_NOT_FOUND, "model '" + ctx.model_name(model) +
                                                     "' has no tensor '" + name +
                                                     "', which the base model has");
  }
  Tensor tuned = ctx.get(model, name);
  if (ctx.shape(tuned) != ctx.shape(base)) {
    throw alloy::sdk::Error(ALLOY_ERR_SHAPE, "tensor '" + std::string(name) + "' of model '" +
                                                 ctx.model_name(model) +
                                                 "' does not have the base model's shape");
  }
  Tensor delta = ctx.alloc_like(base);
  ctx.binary(ALLOY_BINARY_SUB, delta, tuned, base);
  return delta;
}

}  // namespace alloy_plugins
