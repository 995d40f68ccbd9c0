#include "model/moe_mlp.hpp"

#include <utility>

#include <alloy/alloy.h>

namespace alloy {

Tensor moe_mlp_forward(Provider& p, const Tensor& x, Activation act, const MoeMlpWeights& w,
                       const MoeMlpOptions& options, MoeMlpSaved* saved, Tensor* gates_out) {
  // Without `saved` (inference), fc1's mixed weights are freed before fc2 mixes its own.
  MoeMlpSaved s;
  const Tensor gates =
      router_forward(p, x, w.router, options.batch_mean, saved ? &s.router : nullptr);
  const Tensor hidden =
      dynamic_linear_forward(p, x, gates, w.fc1, options.mode, saved ? &s.fc1 : nullptr);
  Tensor activated = p.allocate(DType::F32, hidden.shape());
  p.activation(act, activated, hidden);
  Tensor y =
      dynamic_linear_forward(p, activated, gates, w.fc2, options.mode, saved ? &s.fc2 : nullptr);
  if (gates_out) *gates_out = gates;
  if (saved) {
    s.gates = gates;
    s.hidden = hidden;
    *saved = std::move(s);
  }
  return y;
}

Tensor moe_mlp_backward(Provider& p, const Tensor& dy, Activation act, const MoeMlpWeights& w,
                        const MoeMlpSaved& saved, const MoeMlpGrads& grads) {
  // fc1 and fc2 share the gates: their gradients add up before going through the router.
  Tensor dgates = p.allocate(DType::F32, saved.gates.shape());
  DynamicLinearGrads fc2 = grads.fc2;
  fc2.gates = &dgates;
  const Tensor dactivated = dynamic_linear_backward(p, dy, w.fc2, saved.fc2, fc2);
  Tensor dhidden = p.allocate(DType::F32, saved.hidden.shape());
  p.activation_backward(act, dhidden, dactivated, saved.hidden);
  DynamicLinearGrads fc1 = grads.fc1;
  fc1.gates = &dgates;
  Tensor dx = dynamic_linear_backward(p, dhidden, w.fc1, saved.fc1, fc1);
  const Tensor drouter = router_backward(p, dgates, w.router, saved.router, grads.router);
  p.binary(ALLOY_BINARY_ADD, dx, dx, drouter);
  return dx;
}

}  // namespace alloy
