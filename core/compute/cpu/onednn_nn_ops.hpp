// The neural-network ops the CPU provider runs on oneDNN 2.6: layer normalisation, softmax
// and the activations, forward and backward (batched matmul is in onednn_ops.hpp). Primitives are
// kept per thread by shape (onednn_context.hpp). Arguments are checked by the provider
// (nn_checks.hpp); tensors are non-empty and F32, outputs alias no input.
#pragma once

#include "compute/provider.hpp"

namespace alloy::cpu::onednn {

void layer_norm(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                const Tensor& beta, float eps);
void layer_norm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                         const Tensor& x, const Tensor& mean, const Tensor& rstd,
                         const Tensor& gamma);

void softmax(Tensor& y, const Tensor& x, float scale);
void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, float scale);

void activation(Activation kind, Tensor& y, const Tensor& x);
void activation_backward(Activation kind, Tensor& dx, const Tensor& dy, const Tensor& x);

}  // namespace alloy::cpu::onednn
