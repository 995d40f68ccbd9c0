// The ops the CPU provider runs on oneDNN 2.6: eltwise, binary (NumPy broadcast of b), matmul
// and reorder. Each call runs on the calling thread's own stream, so ops may run concurrently
// from several threads; matmul primitives are kept per thread by shape (onednn_context.hpp),
// the others come from oneDNN's primitive cache. Arguments are checked by the provider and
// tensors are non-empty F32 unless noted; dst may alias a (or b of equal shape), c aliases
// nothing.
#pragma once

#include <cstdint>

#include "tensor/tensor.hpp"

namespace alloy::cpu::onednn {

// dst = op(src) for the ALLOY_UNARY_* ops oneDNN computes exactly; false (nothing done) for
// the others: SIGN has no eltwise algorithm; oneDNN's EXP turns NaN into +inf and its LOG
// is off by up to ~60 ulps (log(1) = -1.4e-6), where the C library is within 1 ulp; CLIP
// with alpha > beta is refused by oneDNN.
bool unary(int32_t op, Tensor& dst, const Tensor& src, float alpha, float beta);

// dst = a op b (ALLOY_BINARY_*), b broadcast to a's shape.
void binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b);
void binary_scalar(int32_t op, Tensor& dst, const Tensor& a, float scalar);

// dst = src converted, for the dtype pairs where oneDNN's reorder matches dtype.hpp's
// converters bit for bit; false (nothing done) for the others.
bool convert(Tensor& dst, const Tensor& src);

// c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i] over the batch, a 2-D operand shared (as
// Provider::gemm_batched), with M, N and K all non-zero. Provider::gemm is a batch of one.
void gemm_batched(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                  float beta, Tensor& c);

}  // namespace alloy::cpu::onednn
