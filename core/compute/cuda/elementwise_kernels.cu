#include "compute/cuda/elementwise_kernels.hpp"

#include <cstdint>
#include <type_traits>

#include "compute/cuda/cuda_device.hpp"
#include "compute/cuda/kernel_launch.cuh"

namespace alloy::cuda {
namespace {

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// --- conversions -------------------------------------------------------------------------
// Ports of dtype.hpp's scalar converters, so that the bits (NaN payloads included) equal the
// CPU provider's. The hardware conversions (cvt.rn.f16.f32 ...) round alike but make every NaN
// the canonical one.

__device__ __forceinline__ float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {  // inf / nan
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: normalise, shifting the leading 1 up to bit 10
    const uint32_t shift = __clz(mantissa) - 21;
    exponent = 113 - shift;
    mantissa <<= shift;
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return __uint_as_float(bits);
}

__device__ __forceinline__ uint16_t f32_to_f16(float f) {
  const uint32_t x = __float_as_uint(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan (keep nan quiet)
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to inf
  if (abs < 0x38800000u) {                                               // subnormal or zero in f16
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (abs - 0x38000000u) >> 13;
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

__device__ __forceinline__ float bf16_to_f32(uint16_t h) {
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

__device__ __forceinline__ uint16_t f32_to_bf16(float f) {
  uint32_t x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // nan
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

struct F32 {
  using Stored = float;
  __device__ static float load(float v) { return v; }
  __device__ static float store(float v) { return v; }
};
struct F16 {
  using Stored = uint16_t;
  __device__ static float load(uint16_t h) { return f16_to_f32(h); }
  __device__ static uint16_t store(float v) { return f32_to_f16(v); }
};
struct BF16 {
  using Stored = uint16_t;
  __device__ static float load(uint16_t h) { return bf16_to_f32(h); }
  __device__ static uint16_t store(float v) { return f32_to_bf16(v); }
};

// Four elements, for one 8- or 16-byte access.
template <typename T>
struct alignas(4 * sizeof(T)) Pack4 {
  T v[4];
};

template <typename From, typename To>
__global__ void convert_kernel(typename To::Stored* dst, const typename From::Stored* src,
                               uint64_t n, bool vector) {
  if (vector) {
    using In = Pack4<typename From::Stored>;
    using Out = Pack4<typename To::Stored>;
    const uint64_t n4 = n / 4;
    ALLOY_GRID_STRIDE(j, n4) {
      const In in = reinterpret_cast<const In*>(src)[j];
      Out out;
#pragma unroll
      for (int l = 0; l < 4; ++l) out.v[l] = To::store(From::load(in.v[l]));
      reinterpret_cast<Out*>(dst)[j] = out;
    }
    const uint64_t tail = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x + 4 * n4;
    if (tail < n) dst[tail] = To::store(From::load(src[tail]));
  } else {
    ALLOY_GRID_STRIDE(i, n) dst[i] = To::store(From::load(src[i]));
  }
}

template <typename From, typename To>
void launch_convert(void* dst, const void* src, uint64_t n, cudaStream_t stream) {
  // 4-element packs need 8-byte (halves) or 16-byte (floats) alignment of both sides.
  const bool vector = reinterpret_cast<uintptr_t>(dst) % (4 * sizeof(typename To::Stored)) == 0 &&
                      reinterpret_cast<uintptr_t>(src) % (4 * sizeof(typename From::Stored)) == 0;
  convert_kernel<From, To><<<grid_for(vector ? n / 4 : n), kBlock, 0, stream>>>(
      static_cast<typename To::Stored*>(dst), static_cast<const typename From::Stored*>(src), n,
      vector);
  check_launch("copy (conversion kernel)");
}

// --- maps over one to three float inputs ---------------------------------------------------

template <int Arity>
struct Inputs {
  const float* p[Arity];
};

__device__ __forceinline__ float lane_of(const float4& v, int lane) {
  return lane == 0 ? v.x : lane == 1 ? v.y : lane == 2 ? v.z : v.w;
}

template <int Arity, typename Op>
__device__ __forceinline__ float apply(const Op& op, const float* args) {
  if constexpr (Arity == 1) {
    return op(args[0]);
  } else if constexpr (Arity == 2) {
    return op(args[0], args[1]);
  } else {
    return op(args[0], args[1], args[2]);
  }
}

// dst[i] = op(in[0][i], ...). `vector`: every pointer is 16-byte aligned, so float4 accesses
// carry the bulk and the first threads of the grid do the last n % 4 elements (a grid has at
// least one block, so at least 4 threads: the vector kernels here all rely on that).
template <int Arity, typename Op>
__global__ void map_kernel(float* dst, Inputs<Arity> in, uint64_t n, bool vector, Op op) {
  float args[Arity];
  if (vector) {
    const uint64_t n4 = n / 4;
    ALLOY_GRID_STRIDE(j, n4) {
      float4 v[Arity];
#pragma unroll
      for (int k = 0; k < Arity; ++k) v[k] = reinterpret_cast<const float4*>(in.p[k])[j];
      float out[4];
#pragma unroll
      for (int l = 0; l < 4; ++l) {
#pragma unroll
        for (int k = 0; k < Arity; ++k) args[k] = lane_of(v[k], l);
        out[l] = apply<Arity>(op, args);
      }
      reinterpret_cast<float4*>(dst)[j] = make_float4(out[0], out[1], out[2], out[3]);
    }
    const uint64_t tail = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x + 4 * n4;
    if (tail < n) {
#pragma unroll
      for (int k = 0; k < Arity; ++k) args[k] = in.p[k][tail];
      dst[tail] = apply<Arity>(op, args);
    }
  } else {
    ALLOY_GRID_STRIDE(i, n) {
#pragma unroll
      for (int k = 0; k < Arity; ++k) args[k] = in.p[k][i];
      dst[i] = apply<Arity>(op, args);
    }
  }
}

template <int Arity, typename Op>
void launch_map(const char* what, float* dst, Inputs<Arity> in, uint64_t n, Op op,
                cudaStream_t stream) {
  bool vector = aligned16(dst);
  for (int k = 0; k < Arity; ++k) vector = vector && aligned16(in.p[k]);
  map_kernel<Arity, Op>
      <<<grid_for(vector ? n / 4 : n), kBlock, 0, stream>>>(dst, in, n, vector, op);
  check_launch(what);
}

__global__ void fill_kernel(float* dst, uint64_t n, bool vector, float value) {
  if (vector) {
    const uint64_t n4 = n / 4;
    const float4 v = make_float4(value, value, value, value);
    ALLOY_GRID_STRIDE(j, n4) reinterpret_cast<float4*>(dst)[j] = v;
    const uint64_t tail = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x + 4 * n4;
    if (tail < n) dst[tail] = value;
  } else {
    ALLOY_GRID_STRIDE(i, n) dst[i] = value;
  }
}

// --- the ops -------------------------------------------------------------------------------
// The CPU provider runs most of them on oneDNN's x86 JIT kernels; where IEEE leaves a choice
// (NaN, -0) these follow what those kernels compute: vmaxps/vminps(x, y) return y when either
// is NaN or both are zeros, i.e. max = x > y ? x : y and min = x < y ? x : y.

struct Abs {
  __device__ float operator()(float v) const { return fabsf(v); }
};
// oneDNN's eltwise_linear(-1, 0), an FMA: -x + 0, which makes both zeros +0.
struct Neg {
  __device__ float operator()(float v) const { return __fmaf_rn(-1.0f, v, 0.0f); }
};
// The CPU's own kernel: NaN stays NaN, both zeros give +0.
struct Sign {
  __device__ float operator()(float v) const {
    return v != v ? v : static_cast<float>((v > 0) - (v < 0));
  }
};
struct Square {
  __device__ float operator()(float v) const { return v * v; }
};
struct Sqrt {  // correctly rounded (nvcc's default -prec-sqrt=true)
  __device__ float operator()(float v) const { return __fsqrt_rn(v); }
};
// The CPU's own kernels call glibc's expf and logf (within an ulp of the true value). CUDA's
// single-precision expf/logf may be 2 ulps off; computed in double and rounded once, the result
// is the correctly rounded one (but for double-rounding cases far rarer than glibc's errors).
struct Exp {
  __device__ float operator()(float v) const {
    return static_cast<float>(exp(static_cast<double>(v)));
  }
};
struct Log {
  __device__ float operator()(float v) const {
    return static_cast<float>(log(static_cast<double>(v)));
  }
};
// oneDNN's relu with slope 0 is vmaxps(x, 0): NaN -> 0 and -0 -> +0.
struct Relu {
  __device__ float operator()(float v) const { return v > 0.0f ? v : 0.0f; }
};
struct Linear {  // oneDNN's eltwise_linear: one FMA
  float alpha, beta;
  __device__ float operator()(float v) const { return __fmaf_rn(alpha, v, beta); }
};
// alpha <= beta (or either NaN): oneDNN's eltwise_clip, vminps(vmaxps(x, alpha), beta).
struct Clip {
  float alpha, beta;
  __device__ float operator()(float v) const {
    const float low = v > alpha ? v : alpha;
    return low < beta ? low : beta;
  }
};
// alpha > beta: the CPU's own kernel, std::min(std::max(x, alpha), beta) (NaN stays NaN).
struct ClipReversed {
  float alpha, beta;
  __device__ float operator()(float v) const {
    const float low = v < alpha ? alpha : v;
    return beta < low ? beta : low;
  }
};

template <int Op>
struct Binary {
  __device__ float operator()(float a, float b) const {
    if constexpr (Op == ALLOY_BINARY_ADD) {
      return __fadd_rn(a, b);
    } else if constexpr (Op == ALLOY_BINARY_SUB) {
      return __fsub_rn(a, b);
    } else if constexpr (Op == ALLOY_BINARY_MUL) {
      return __fmul_rn(a, b);
    } else if constexpr (Op == ALLOY_BINARY_DIV) {
      return __fdiv_rn(a, b);
    } else if constexpr (Op == ALLOY_BINARY_MAX) {
      return a > b ? a : b;
    } else if constexpr (Op == ALLOY_BINARY_MIN) {
      return a < b ? a : b;
    } else if constexpr (Op == ALLOY_BINARY_EQ) {
      return a == b ? 1.0f : 0.0f;
    } else if constexpr (Op == ALLOY_BINARY_NE) {
      return a != b ? 1.0f : 0.0f;
    } else if constexpr (Op == ALLOY_BINARY_GT) {
      return !(a <= b) ? 1.0f : 0.0f;  // oneDNN's "not less or equal": 1 for a NaN operand
    } else if constexpr (Op == ALLOY_BINARY_GE) {
      return !(a < b) ? 1.0f : 0.0f;  // "not less than": 1 for a NaN operand
    } else if constexpr (Op == ALLOY_BINARY_LT) {
      return a < b ? 1.0f : 0.0f;
    } else {
      static_assert(Op == ALLOY_BINARY_LE, "unknown binary op");
      return a <= b ? 1.0f : 0.0f;
    }
  }
};

template <int Op>
struct BinaryScalar {
  float scalar;
  __device__ float operator()(float a) const { return Binary<Op>()(a, scalar); }
};

// The CPU's own loop, alpha * x + beta * y, is built without FMA contraction (no -march): two
// rounded products and a rounded sum. The _rn intrinsics keep nvcc from fusing them.
struct Axpby {
  float alpha, beta;
  __device__ float operator()(float x, float y) const {
    return __fadd_rn(__fmul_rn(alpha, x), __fmul_rn(beta, y));
  }
};

struct WhereElse {
  __device__ float operator()(float cond, float a, float b) const { return cond != 0 ? a : b; }
};
struct WhereZero {
  __device__ float operator()(float cond, float a) const { return cond != 0 ? a : 0.0f; }
};

// --- broadcasting ----------------------------------------------------------------------------

// Extents and b's strides (0 where b is broadcast) of the collapsed dimensions, innermost
// first, in the index type: 32-bit division is several times cheaper than 64-bit, and the
// index arithmetic, not memory, would bound this kernel with 64-bit divisions.
template <typename Index>
struct BroadcastIndex {
  int ndim;
  Index extent[kMaxBroadcastDims];
  Index b_stride[kMaxBroadcastDims];
};

// b's index for a's (flat) index i. Fully unrolled so that every array index is a constant:
// a kernel parameter indexed at run time would be copied to local memory by every thread.
template <typename Index>
__device__ __forceinline__ Index b_index(const BroadcastIndex<Index>& index, Index i) {
  Index rest = i;
  Index at = 0;
#pragma unroll
  for (int d = 0; d < kMaxBroadcastDims; ++d) {
    if (d + 1 < index.ndim) {
      const Index extent = index.extent[d];
      const Index outer = rest / extent;
      at += (rest - outer * extent) * index.b_stride[d];
      rest = outer;
    } else if (d + 1 == index.ndim) {
      at += rest * index.b_stride[d];  // the outermost coordinate needs no division
    }
  }
  return at;
}

template <typename Index, typename Op>
__global__ void broadcast_kernel(float* dst, const float* a, const float* b, uint64_t n,
                                 BroadcastIndex<Index> index, Op op) {
  ALLOY_GRID_STRIDE(i, n) dst[i] = op(a[i], b[b_index(index, static_cast<Index>(i))]);
}

// The same four elements at a time, when the innermost extent is a multiple of 4 and the
// pointers are 16-byte aligned: the four lie in one row of the innermost dimension, so one
// index computation serves them, and b's four are one aligned float4 (b varies along that
// dimension) or one value (b is broadcast along it).
template <typename Index, bool InnerBroadcast, typename Op>
__global__ void broadcast_vector_kernel(float* dst, const float* a, const float* b, uint64_t n4,
                                        BroadcastIndex<Index> index, Op op) {
  ALLOY_GRID_STRIDE(j, n4) {
    const Index at = b_index(index, static_cast<Index>(4 * j));
    const float4 va = reinterpret_cast<const float4*>(a)[j];
    float4 out;
    if constexpr (InnerBroadcast) {
      const float vb = b[at];
      out = make_float4(op(va.x, vb), op(va.y, vb), op(va.z, vb), op(va.w, vb));
    } else {
      const float4 vb = *reinterpret_cast<const float4*>(b + at);
      out = make_float4(op(va.x, vb.x), op(va.y, vb.y), op(va.z, vb.z), op(va.w, vb.w));
    }
    reinterpret_cast<float4*>(dst)[j] = out;
  }
}

template <typename Index, typename Op>
void launch_broadcast(float* dst, const float* a, const float* b, uint64_t n,
                      const BroadcastDims& dims, Op op, cudaStream_t stream) {
  BroadcastIndex<Index> index{};
  index.ndim = dims.ndim;
  Index stride = 1;
  for (int d = dims.ndim - 1, r = 0; d >= 0; --d, ++r) {  // r: d counted from the innermost
    index.extent[r] = static_cast<Index>(dims.extent[d]);
    index.b_stride[r] = dims.b_broadcast[d] ? 0 : stride;
    if (!dims.b_broadcast[d]) stride *= static_cast<Index>(dims.extent[d]);
  }
  const int inner = dims.ndim - 1;
  if (dims.extent[inner] % 4 == 0 && aligned16(dst) && aligned16(a) && aligned16(b)) {
    if (dims.b_broadcast[inner]) {
      broadcast_vector_kernel<Index, true, Op>
          <<<grid_for(n / 4), kBlock, 0, stream>>>(dst, a, b, n / 4, index, op);
    } else {
      broadcast_vector_kernel<Index, false, Op>
          <<<grid_for(n / 4), kBlock, 0, stream>>>(dst, a, b, n / 4, index, op);
    }
  } else {
    broadcast_kernel<Index, Op><<<grid_for(n), kBlock, 0, stream>>>(dst, a, b, n, index, op);
  }
  check_launch("binary (broadcast kernel)");
}

template <int Op>
void launch_binary(float* dst, const float* a, const float* b, uint64_t n,
                   const BroadcastDims* dims, cudaStream_t stream) {
  if (!dims) return launch_map<2>("binary", dst, Inputs<2>{{a, b}}, n, Binary<Op>(), stream);
  if (n <= UINT32_MAX) {
    return launch_broadcast<uint32_t>(dst, a, b, n, *dims, Binary<Op>(), stream);
  }
  launch_broadcast<uint64_t>(dst, a, b, n, *dims, Binary<Op>(), stream);
}

// Calls f(Binary<op>()): the ALLOY_BINARY_* code as a type, one kernel per op.
template <typename F>
void dispatch_binary(int32_t op, F f) {
  switch (op) {
    case ALLOY_BINARY_ADD:
      return f(Binary<ALLOY_BINARY_ADD>());
    case ALLOY_BINARY_SUB:
      return f(Binary<ALLOY_BINARY_SUB>());
    case ALLOY_BINARY_MUL:
      return f(Binary<ALLOY_BINARY_MUL>());
    case ALLOY_BINARY_DIV:
      return f(Binary<ALLOY_BINARY_DIV>());
    case ALLOY_BINARY_MAX:
      return f(Binary<ALLOY_BINARY_MAX>());
    case ALLOY_BINARY_MIN:
      return f(Binary<ALLOY_BINARY_MIN>());
    case ALLOY_BINARY_EQ:
      return f(Binary<ALLOY_BINARY_EQ>());
    case ALLOY_BINARY_NE:
      return f(Binary<ALLOY_BINARY_NE>());
    case ALLOY_BINARY_GT:
      return f(Binary<ALLOY_BINARY_GT>());
    case ALLOY_BINARY_GE:
      return f(Binary<ALLOY_BINARY_GE>());
    case ALLOY_BINARY_LT:
      return f(Binary<ALLOY_BINARY_LT>());
    case ALLOY_BINARY_LE:
      return f(Binary<ALLOY_BINARY_LE>());
    default:
      return;  // the provider checked the code
  }
}

template <typename T>
struct OpCode;
template <int Op>
struct OpCode<Binary<Op>> {
  static constexpr int value = Op;
};

// --- sign election ---------------------------------------------------------------------------

// The CPU's rules: SUM adds the values in double (a few f32 values add up exactly there, so a
// total near zero gets its true sign), COUNT adds their signs; zero totals elect +1, a NaN sum
// -1.
template <int Method>
struct Elect {
  using Total = std::conditional_t<Method == ALLOY_ELECT_SUM, double, int64_t>;
  __device__ static Total term(float v) {
    if constexpr (Method == ALLOY_ELECT_SUM) {
      return v;
    } else {
      return (v > 0) - (v < 0);
    }
  }
  __device__ static float sign(Total total) { return total >= 0 ? 1.0f : -1.0f; }
};

// `vector`: dst and every input 16-byte aligned, so each thread reads a float4 of each input.
template <int Method>
__global__ void elect_kernel(float* dst, const float* const* xs, int64_t count, uint64_t n,
                             bool vector) {
  using E = Elect<Method>;
  using Total = typename E::Total;
  if (vector) {
    const uint64_t n4 = n / 4;
    ALLOY_GRID_STRIDE(j, n4) {
      Total t[4] = {0, 0, 0, 0};
      for (int64_t m = 0; m < count; ++m) {
        const float4 v = reinterpret_cast<const float4*>(xs[m])[j];
        t[0] += E::term(v.x);
        t[1] += E::term(v.y);
        t[2] += E::term(v.z);
        t[3] += E::term(v.w);
      }
      reinterpret_cast<float4*>(dst)[j] =
          make_float4(E::sign(t[0]), E::sign(t[1]), E::sign(t[2]), E::sign(t[3]));
    }
    const uint64_t tail = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x + 4 * n4;
    if (tail < n) {
      Total total = 0;
      for (int64_t m = 0; m < count; ++m) total += E::term(xs[m][tail]);
      dst[tail] = E::sign(total);
    }
  } else {
    ALLOY_GRID_STRIDE(i, n) {
      Total total = 0;
      for (int64_t m = 0; m < count; ++m) total += E::term(xs[m][i]);
      dst[i] = E::sign(total);
    }
  }
}

}  // namespace

bool convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, uint64_t n,
             cudaStream_t stream) {
  using D = DType;
  const auto is = [&](D from, D to) { return src_dtype == from && dst_dtype == to; };
  if (is(D::F32, D::F16)) {
    launch_convert<F32, F16>(dst, src, n, stream);
  } else if (is(D::F32, D::BF16)) {
    launch_convert<F32, BF16>(dst, src, n, stream);
  } else if (is(D::F16, D::F32)) {
    launch_convert<F16, F32>(dst, src, n, stream);
  } else if (is(D::BF16, D::F32)) {
    launch_convert<BF16, F32>(dst, src, n, stream);
  } else if (is(D::F16, D::BF16)) {
    launch_convert<F16, BF16>(dst, src, n, stream);  // f16 -> f32 is exact: one rounding
  } else if (is(D::BF16, D::F16)) {
    launch_convert<BF16, F16>(dst, src, n, stream);
  } else {
    return false;
  }
  return true;
}

void fill(float* dst, uint64_t n, float value, cudaStream_t stream) {
  const bool vector = aligned16(dst);
  fill_kernel<<<grid_for(vector ? n / 4 : n), kBlock, 0, stream>>>(dst, n, vector, value);
  check_launch("fill");
}

void unary(int32_t op, float* dst, const float* src, uint64_t n, float alpha, float beta,
           cudaStream_t stream) {
  const Inputs<1> in{{src}};
  switch (op) {
    case ALLOY_UNARY_ABS:
      return launch_map<1>("unary (abs)", dst, in, n, Abs(), stream);
    case ALLOY_UNARY_NEG:
      return launch_map<1>("unary (neg)", dst, in, n, Neg(), stream);
    case ALLOY_UNARY_SIGN:
      return launch_map<1>("unary (sign)", dst, in, n, Sign(), stream);
    case ALLOY_UNARY_SQUARE:
      return launch_map<1>("unary (square)", dst, in, n, Square(), stream);
    case ALLOY_UNARY_SQRT:
      return launch_map<1>("unary (sqrt)", dst, in, n, Sqrt(), stream);
    case ALLOY_UNARY_EXP:
      return launch_map<1>("unary (exp)", dst, in, n, Exp(), stream);
    case ALLOY_UNARY_LOG:
      return launch_map<1>("unary (log)", dst, in, n, Log(), stream);
    case ALLOY_UNARY_RELU:
      return launch_map<1>("unary (relu)", dst, in, n, Relu(), stream);
    case ALLOY_UNARY_LINEAR:
      return launch_map<1>("unary (linear)", dst, in, n, Linear{alpha, beta}, stream);
    case ALLOY_UNARY_CLIP:
      if (alpha > beta) {
        return launch_map<1>("unary (clip)", dst, in, n, ClipReversed{alpha, beta}, stream);
      }
      return launch_map<1>("unary (clip)", dst, in, n, Clip{alpha, beta}, stream);
    default:
      return;  // the provider checked the code
  }
}

void binary(int32_t op, float* dst, const float* a, const float* b, uint64_t n,
            cudaStream_t stream) {
  dispatch_binary(op, [&](auto tag) {
    launch_binary<OpCode<decltype(tag)>::value>(dst, a, b, n, nullptr, stream);
  });
}

void binary_broadcast(int32_t op, float* dst, const float* a, const float* b, uint64_t n,
                      const BroadcastDims& dims, cudaStream_t stream) {
  dispatch_binary(op, [&](auto tag) {
    launch_binary<OpCode<decltype(tag)>::value>(dst, a, b, n, &dims, stream);
  });
}

void binary_scalar(int32_t op, float* dst, const float* a, uint64_t n, float scalar,
                   cudaStream_t stream) {
  dispatch_binary(op, [&](auto tag) {
    launch_map<1>("binary_scalar", dst, Inputs<1>{{a}}, n,
                  BinaryScalar<OpCode<decltype(tag)>::value>{scalar}, stream);
  });
}

void axpby(float alpha, const float* x, float beta, float* y, uint64_t n, cudaStream_t stream) {
  launch_map<2>("axpby", y, Inputs<2>{{x, y}}, n, Axpby{alpha, beta}, stream);
}

void where(float* dst, const float* cond, const float* a, const float* b, uint64_t n,
           cudaStream_t stream) {
  if (b) return launch_map<3>("where", dst, Inputs<3>{{cond, a, b}}, n, WhereElse(), stream);
  launch_map<2>("where", dst, Inputs<2>{{cond, a}}, n, WhereZero(), stream);
}

void sign_elect(int32_t method, float* dst, const float* const* xs, int64_t count, uint64_t n,
                bool vector, cudaStream_t stream) {
  const unsigned grid = grid_for(vector ? n / 4 : n);
  if (method == ALLOY_ELECT_SUM) {
    elect_kernel<ALLOY_ELECT_SUM><<<grid, kBlock, 0, stream>>>(dst, xs, count, n, vector);
  } else {
    elect_kernel<ALLOY_ELECT_COUNT><<<grid, kBlock, 0, stream>>>(dst, xs, count, n, vector);
  }
  check_launch("sign_elect");
}

}  // namespace alloy::cuda
