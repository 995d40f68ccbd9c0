#include "model/dynamic_linear.hpp"

#include <alloy/alloy.h>

#include "error.hpp"

namespace alloy {
namespace {

// How many times slower a flop of the mixing step runs than a flop of a large gemm: it is a
// gemm with K = T, bound by memory (it writes, and in backward reads, B*out*in fresh floats for
// 2*T flops each). With T fixed the cost model picks weights when N >= this constant;
// bench/dynamic_linear_bench (CPU provider, T = 8) puts the crossover at N = 5 to 10 on the
// fmnist8 encoder's MLP (mixed weights of 4 to 32 MiB) and at N = 16 to 40 on ViT-B/32's
// (151 MiB at batch 16, where page faults of fresh memory dominate). 12 picks the faster mode
// for both models' real token counts (17 and 50).
constexpr double kMixingInefficiency = 12.0;

struct Dims {
  int64_t batch, tokens, in, out, experts, gate_rows;
};

void expect_shape(const char* op, const char* role, const Tensor& t, const Shape& want) {
  if (t.shape() != want) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {}, expected {}", op, role, shape_string(t.shape()),
         shape_string(want));
  }
}

Dims check_forward(const Tensor& x, const Tensor& gates, const DynamicLinearWeights& w,
                   MixMode mode) {
  const char* op = "dynamic_linear_forward";
  if (!w.weight || !w.deltas) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: the weight and the deltas are required", op);
  }
  if (w.bias_deltas && !w.bias) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: bias_deltas without a bias", op);
  }
  if (mode != MixMode::automatic && mode != MixMode::weights && mode != MixMode::outputs) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: unknown mix mode {}", op, static_cast<int32_t>(mode));
  }
  if (x.ndim() != 3) {
    fail(ALLOY_ERR_SHAPE, "{}: x has shape {}, expected [batch, tokens, in]", op,
         shape_string(x.shape()));
  }
  if (w.weight->ndim() != 2) {
    fail(ALLOY_ERR_SHAPE, "{}: weight has shape {}, expected [out, in]", op,
         shape_string(w.weight->shape()));
  }
  if (w.deltas->ndim() != 3) {
    fail(ALLOY_ERR_SHAPE, "{}: deltas has shape {}, expected [experts, out, in]", op,
         shape_string(w.deltas->shape()));
  }
  Dims d{};
  d.batch = x.shape()[0];
  d.tokens = x.shape()[1];
  d.in = x.shape()[2];
  d.out = w.weight->shape()[0];
  d.experts = w.deltas->shape()[0];
  if (w.weight->shape()[1] != d.in) {
    fail(ALLOY_ERR_SHAPE, "{}: weight has shape {} but x has {} input features", op,
         shape_string(w.weight->shape()), d.in);
  }
  expect_shape(op, "deltas", *w.deltas, {d.experts, d.out, d.in});
  if (w.bias) expect_shape(op, "bias", *w.bias, {d.out});
  if (w.bias_deltas) expect_shape(op, "bias_deltas", *w.bias_deltas, {d.experts, d.out});
  if (gates.ndim() != 2 || gates.shape()[1] != d.experts ||
      (gates.shape()[0] != d.batch && gates.shape()[0] != 1)) {
    fail(ALLOY_ERR_SHAPE,
         "{}: gates has shape {}, expected [{}, {}] (per sample) or [1, {}] (shared) for x {} "
         "and {} experts",
         op, shape_string(gates.shape()), d.batch, d.experts, d.experts, shape_string(x.shape()),
         d.experts);
  }
  d.gate_rows = gates.shape()[0];
  return d;
}

// bias(b) = b0 + gates[b] @ bias_deltas: [gate_rows, out].
Tensor mixed_bias(Provider& p, const Tensor& gates, const DynamicLinearWeights& w, int64_t out) {
  Tensor bias = p.allocate(DType::F32, {gates.shape()[0], out});
  p.broadcast(bias, *w.bias);
  if (w.bias_deltas) p.gemm(false, false, 1.0, gates, *w.bias_deltas, 1.0, bias);
  return bias;
}

// gates [B, T] as [B*N, 1, T]: the row of each token's sample.
Tensor gates_per_token(Provider& p, const Tensor& gates, int64_t batch, int64_t tokens) {
  const int64_t experts = gates.shape()[1];
  Tensor out = p.allocate(DType::F32, {batch, tokens, experts});
  p.broadcast(out, gates.reshaped({batch, 1, experts}));
  return out.reshaped({batch * tokens, 1, experts});
}

}  // namespace

MixMode choose_mix_mode(int64_t batch, int64_t tokens, int64_t experts, int64_t in, int64_t out) {
  // Costs in flops of a large gemm; see the header.
  const double weights_cost =
      static_cast<double>(batch) * static_cast<double>(out * in) *
      (kMixingInefficiency * static_cast<double>(experts) + static_cast<double>(tokens));
  const double outputs_cost = static_cast<double>(batch) * static_cast<double>(tokens) *
                              static_cast<double>(out * in) * static_cast<double>(experts + 1);
  return weights_cost <= outputs_cost ? MixMode::weights : MixMode::outputs;
}

Tensor dynamic_linear_forward(Provider& p, const Tensor& x, const Tensor& gates,
                              const DynamicLinearWeights& w, MixMode mode,
                              DynamicLinearSaved* saved) {
  const Dims d = check_forward(x, gates, w, mode);
  const int64_t rows = d.batch * d.tokens;
  const bool shared = d.gate_rows == 1;
  // Shared gates are one sample of B*N tokens.
  if (mode == MixMode::automatic) {
    mode = shared ? choose_mix_mode(1, rows, d.experts, d.in, d.out)
                  : choose_mix_mode(d.batch, d.tokens, d.experts, d.in, d.out);
  }
  const Tensor x2 = x.reshaped({rows, d.in});
  Tensor y = p.allocate(DType::F32, {d.batch, d.tokens, d.out});
  Tensor mixed;
  Tensor expert_outputs;
  if (mode == MixMode::weights) {
    // W(b) = W0 + gates[b] @ deltas, all samples in one gemm, then one batched gemm.
    mixed = p.allocate(DType::F32, {d.gate_rows, d.out, d.in});
    p.broadcast(mixed, *w.weight);
    Tensor mixed2 = mixed.reshaped({d.gate_rows, d.out * d.in});
    p.gemm(false, false, 1.0, gates, w.deltas->reshaped({d.experts, d.out * d.in}), 1.0, mixed2);
    if (shared) {
      Tensor y2 = y.reshaped({rows, d.out});
      p.gemm(false, true, 1.0, x2, mixed.reshaped({d.out, d.in}), 0.0, y2);
    } else {
      p.gemm_batched(false, true, 1.0, x, mixed, 0.0, y);
    }
  } else {
    // Every expert's output in one gemm, [B*N, T*out], then mixed per token by its gates.
    Tensor y2 = y.reshaped({rows, d.out});
    p.gemm(false, true, 1.0, x2, *w.weight, 0.0, y2);
    expert_outputs = p.allocate(DType::F32, {rows, d.experts * d.out});
    p.gemm(false, true, 1.0, x2, w.deltas->reshaped({d.experts * d.out, d.in}), 0.0,
           expert_outputs);
    const Tensor token_gates = shared ? gates : gates_per_token(p, gates, d.batch, d.tokens);
    Tensor y3 = y.reshaped({rows, 1, d.out});
    p.gemm_batched(false, false, 1.0, token_gates,
                   expert_outputs.reshaped({rows, d.experts, d.out}), 1.0, y3);
  }
  if (w.bias) {
    const Tensor bias = mixed_bias(p, gates, w, d.out);
    p.binary(ALLOY_BINARY_ADD, y, y, bias.reshaped({d.gate_rows, 1, d.out}));
  }
  if (saved) {
    saved->x = x;
    saved->gates = gates;
    saved->mode = mode;
    saved->mixed = mixed;
    saved->expert_outputs = expert_outputs;
  }
  return y;
}

Tensor dynamic_linear_backward(Provider& p, const Tensor& dy, const DynamicLinearWeights& w,
                               const DynamicLinearSaved& saved, const DynamicLinearGrads& grads,
                               bool dx_wanted) {
  const char* op = "dynamic_linear_backward";
  const Dims d = check_forward(saved.x, saved.gates, w, saved.mode);
  if (saved.mode == MixMode::automatic) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: the saved mode must be resolved (weights or outputs)",
         op);
  }
  expect_shape(op, "dy", dy, {d.batch, d.tokens, d.out});
  if (grads.weight) expect_shape(op, "the weight's gradient", *grads.weight, w.weight->shape());
  if (grads.deltas) expect_shape(op, "the deltas' gradient", *grads.deltas, w.deltas->shape());
  if (grads.gates) expect_shape(op, "the gates' gradient", *grads.gates, saved.gates.shape());
  if (grads.bias || grads.bias_deltas) {
    if (!w.bias || (grads.bias_deltas && !w.bias_deltas)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: a bias gradient is wanted for a layer without one", op);
    }
    if (grads.bias) expect_shape(op, "the bias' gradient", *grads.bias, w.bias->shape());
    if (grads.bias_deltas) {
      expect_shape(op, "the bias_deltas' gradient", *grads.bias_deltas, w.bias_deltas->shape());
    }
  }
  const int64_t rows = d.batch * d.tokens;
  const bool shared = d.gate_rows == 1;
  const Tensor& gates = saved.gates;
  const Tensor x2 = saved.x.reshaped({rows, d.in});
  const Tensor dy2 = dy.reshaped({rows, d.out});
  const Tensor deltas2 = w.deltas->reshaped({d.experts, d.out * d.in});

  // The bias: bias(b) = b0 + gates[b] @ bias_deltas, its gradient per gate row is the column
  // sums of that row's dy.
  if (grads.bias) p.sum_to(*grads.bias, dy2, 1.0);
  if (w.bias_deltas && (grads.bias_deltas || grads.gates)) {
    Tensor dbias = p.allocate(DType::F32, {d.gate_rows, 1, d.out});
    p.sum_to(dbias, dy, 0.0);
    const Tensor dbias2 = dbias.reshaped({d.gate_rows, d.out});
    if (grads.bias_deltas) p.gemm(true, false, 1.0, gates, dbias2, 1.0, *grads.bias_deltas);
    if (grads.gates) p.gemm(false, true, 1.0, dbias2, *w.bias_deltas, 1.0, *grads.gates);
  }

  if (saved.mode == MixMode::weights) {
    // dW(b) = dy[b]^T x[b] per gate row; W0, the deltas and the gates all follow from it.
    if (grads.weight || grads.deltas || grads.gates) {
      Tensor dmixed = p.allocate(DType::F32, {d.gate_rows, d.out, d.in});
      if (shared) {
        Tensor dmixed2 = dmixed.reshaped({d.out, d.in});
        p.gemm(true, false, 1.0, dy2, x2, 0.0, dmixed2);
      } else {
        p.gemm_batched(true, false, 1.0, dy, saved.x, 0.0, dmixed);
      }
      const Tensor dmixed2 = dmixed.reshaped({d.gate_rows, d.out * d.in});
      if (grads.weight) p.sum_to(*grads.weight, dmixed, 1.0);
      if (grads.deltas) {
        Tensor ddeltas2 = grads.deltas->reshaped({d.experts, d.out * d.in});
        p.gemm(true, false, 1.0, gates, dmixed2, 1.0, ddeltas2);
      }
      if (grads.gates) p.gemm(false, true, 1.0, dmixed2, deltas2, 1.0, *grads.gates);
    }
    if (!dx_wanted) return {};
    Tensor dx = p.allocate(DType::F32, saved.x.shape());
    if (shared) {
      Tensor dx2 = dx.reshaped({rows, d.in});
      p.gemm(false, false, 1.0, dy2, saved.mixed.reshaped({d.out, d.in}), 0.0, dx2);
    } else {
      p.gemm_batched(false, false, 1.0, dy, saved.mixed, 0.0, dx);
    }
    return dx;
  }

  // Mixing outputs: y = x W0^T + sum_t g_t (x D_t^T). Each token's dy scaled by its gates,
  // [B*N, T*out], is the gradient of the experts' outputs.
  if (grads.weight) p.gemm(true, false, 1.0, dy2, x2, 1.0, *grads.weight);
  const Tensor token_gates = shared ? gates : gates_per_token(p, gates, d.batch, d.tokens);
  if (grads.gates) {
    // dgates[b, t] = sum over b's tokens of dy . (x D_t^T), from the saved expert outputs.
    Tensor per_token = p.allocate(DType::F32, {rows, d.experts, 1});
    p.gemm_batched(false, false, 1.0, saved.expert_outputs.reshaped({rows, d.experts, d.out}),
                   dy.reshaped({rows, d.out, 1}), 0.0, per_token);
    Tensor dgates3 = grads.gates->reshaped({d.gate_rows, 1, d.experts});
    p.sum_to(dgates3, per_token.reshaped({d.batch, d.tokens, d.experts}), 1.0);
  }
  if (!grads.deltas && !dx_wanted) return {};
  Tensor dexpert = p.allocate(DType::F32, {rows, d.experts, d.out});
  p.gemm_batched(true, false, 1.0, token_gates, dy.reshaped({rows, 1, d.out}), 0.0, dexpert);
  const Tensor dexpert2 = dexpert.reshaped({rows, d.experts * d.out});
  if (grads.deltas) {
    Tensor ddeltas2 = grads.deltas->reshaped({d.experts * d.out, d.in});
    p.gemm(true, false, 1.0, dexpert2, x2, 1.0, ddeltas2);
  }
  if (!dx_wanted) return {};
  Tensor dx = p.allocate(DType::F32, saved.x.shape());
  Tensor dx2 = dx.reshaped({rows, d.in});
  p.gemm(false, false, 1.0, dy2, *w.weight, 0.0, dx2);
  p.gemm(false, false, 1.0, dexpert2, w.deltas->reshaped({d.experts * d.out, d.in}), 1.0, dx2);
  return dx;
}

}  // namespace alloy
