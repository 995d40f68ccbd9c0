// Element-wise kernels of the CUDA provider: conversions, fill, the ALLOY_UNARY_* and
// ALLOY_BINARY_* ops, axpby, where and sign election. Plain launchers over raw device pointers,
// enqueued on `stream`; arguments are checked by the provider (OpChecks) before they get here.
// Every kernel is a grid-stride loop, with 16-byte vector loads and stores when all its
// pointers allow them. dst may equal an input (in place): each element is read before it is
// written, by the same thread.
//
// Results are the CPU provider's bit for bit (NaN payloads aside), including its choices for
// NaN and -0 (see elementwise_kernels.cu), but for exp and log: correctly rounded here, within
// an ulp of glibc's there.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/dtype.hpp"

namespace alloy::cuda {

// dst = src converted between F32, F16 and BF16 (round to nearest even, as dtype.hpp's scalar
// converters, whose bits it reproduces, NaN payloads included). False, launching nothing, for
// any other pair of dtypes.
bool convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, uint64_t n,
             cudaStream_t stream);

void fill(float* dst, uint64_t n, float value, cudaStream_t stream);

// op is an ALLOY_UNARY_* code; alpha and beta as the op takes them.
void unary(int32_t op, float* dst, const float* src, uint64_t n, float alpha, float beta,
           cudaStream_t stream);

// dst = a op b, element by element (b of a's element count). op is an ALLOY_BINARY_* code.
void binary(int32_t op, float* dst, const float* a, const float* b, uint64_t n,
            cudaStream_t stream);

// Most dimensions of a collapsed broadcast (see BroadcastDims); alloy tensors have at most
// kMaxRank (8), and collapsing never adds any.
constexpr int kMaxBroadcastDims = 12;

// a's shape and b's broadcast over it, collapsed to the fewest dimensions: a's dimensions of
// size 1 dropped and neighbours along which b is broadcast alike merged. b_broadcast[d]: b has
// extent 1 along dimension d (else a's extent). Row-major, the last dimension fastest.
struct BroadcastDims {
  int ndim = 0;
  uint64_t extent[kMaxBroadcastDims] = {};
  bool b_broadcast[kMaxBroadcastDims] = {};
};

// dst = a op b with b broadcast NumPy-style over a's shape, as dims describes; n = a's elements.
void binary_broadcast(int32_t op, float* dst, const float* a, const float* b, uint64_t n,
                      const BroadcastDims& dims, cudaStream_t stream);

// dst = a op scalar.
void binary_scalar(int32_t op, float* dst, const float* a, uint64_t n, float scalar,
                   cudaStream_t stream);

// y = alpha * x + beta * y, rounded as the CPU's loop: both products, then their sum.
void axpby(float alpha, const float* x, float beta, float* y, uint64_t n, cudaStream_t stream);

// dst = cond != 0 ? a : b, with 0 for b when b is null.
void where(float* dst, const float* cond, const float* a, const float* b, uint64_t n,
           cudaStream_t stream);

// dst = +1 where the elected sign of the `count` tensors is positive or zero, else -1
// (method an ALLOY_ELECT_* code). xs: a device array of `count` device pointers. vector: dst
// and all the inputs are 16-byte aligned (float4 accesses).
void sign_elect(int32_t method, float* dst, const float* const* xs, int64_t count, uint64_t n,
                bool vector, cudaStream_t stream);

}  // namespace alloy::cuda
