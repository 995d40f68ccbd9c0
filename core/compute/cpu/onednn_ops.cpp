#include "compute/cpu/onednn_ops.hpp"

#include "compute/cpu/onednn_context.hpp"

namespace alloy::cpu::onednn {
namespace {

using dnnl::algorithm;
using dnnl::memory;

// Of the dtypes alloy hands to oneDNN: F32, and BF16 as a reorder source.
memory::data_type data_type(DType dtype) {
  return dtype == DType::BF16 ? memory::data_type::bf16 : memory::data_type::f32;
}

memory::desc flat(const Tensor& tensor) {
  return dense({static_cast<memory::dim>(tensor.numel())}, data_type(tensor.dtype()));
}

// a's and b's shapes as the fewest dimensions oneDNN can broadcast over: dimensions of size 1
// in a are dropped, and neighbours where b is broadcast alike are merged. That also keeps
// every shape alloy accepts within oneDNN's 12 dimensions.
void broadcast_dims(const Shape& a, const Shape& b, memory::dims* a_dims, memory::dims* b_dims) {
  const std::size_t lead = a.size() - b.size();
  bool last_broadcast = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == 1) continue;
    const int64_t bd = i < lead ? 1 : b[i - lead];
    const bool broadcast = bd == 1;
    if (!a_dims->empty() && broadcast == last_broadcast) {
      a_dims->back() *= a[i];
      b_dims->back() *= bd;
    } else {
      a_dims->push_back(a[i]);
      b_dims->push_back(bd);
    }
    last_broadcast = broadcast;
  }
  if (a_dims->empty()) {
    a_dims->push_back(1);
    b_dims->push_back(1);
  }
  if (a_dims->size() > DNNL_MAX_NDIMS) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "binary: broadcasting b {} over a {} needs {} dimensions; oneDNN takes at most {}",
         shape_string(b), shape_string(a), a_dims->size(), DNNL_MAX_NDIMS);
  }
}

void run_binary(const char* op, int32_t code, const memory::dims& a_dims, void* a,
                const memory::dims& b_dims, void* b, void* dst) {
  static const algorithm kAlgorithms[] = {
      algorithm::binary_add, algorithm::binary_sub, algorithm::binary_mul, algorithm::binary_div,
      algorithm::binary_max, algorithm::binary_min, algorithm::binary_eq,  algorithm::binary_ne,
      algorithm::binary_gt,  algorithm::binary_ge,  algorithm::binary_lt,  algorithm::binary_le,
  };
  const memory::desc a_desc = dense(a_dims);
  const memory::desc b_desc = dense(b_dims);
  execute(op,
          [&] {
            const dnnl::binary::desc desc(kAlgorithms[code - ALLOY_BINARY_ADD], a_desc, b_desc,
                                          a_desc);
            return dnnl::binary(dnnl::binary::primitive_desc(desc, cpu_engine()));
          },
          {{DNNL_ARG_SRC_0, bind(a_desc, a)},
           {DNNL_ARG_SRC_1, bind(b_desc, b)},
           {DNNL_ARG_DST, bind(a_desc, dst)}});
}

}  // namespace

bool unary(int32_t op, Tensor& dst, const Tensor& src, float alpha, float beta) {
  algorithm alg;
  switch (op) {
    case ALLOY_UNARY_ABS:
      alg = algorithm::eltwise_abs;
      break;
    case ALLOY_UNARY_NEG:
      alg = algorithm::eltwise_linear;
      alpha = -1;
      beta = 0;
      break;
    case ALLOY_UNARY_SQUARE:
      alg = algorithm::eltwise_square;
      break;
    case ALLOY_UNARY_SQRT:
      alg = algorithm::eltwise_sqrt;
      break;
    case ALLOY_UNARY_RELU:
      alg = algorithm::eltwise_relu;
      alpha = 0;  // the slope for x < 0
      break;
    case ALLOY_UNARY_LINEAR:
      alg = algorithm::eltwise_linear;
      break;
    case ALLOY_UNARY_CLIP:
      if (alpha > beta) return false;
      alg = algorithm::eltwise_clip;
      break;
    default:
      return false;
  }
  const memory::desc desc = flat(src);
  execute("unary",
          [&] {
            const dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg, desc,
                                                alpha, beta);
            return dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(d, cpu_engine()));
          },
          {{DNNL_ARG_SRC, bind(desc, src.data())}, {DNNL_ARG_DST, bind(desc, dst.data())}});
  return true;
}

void binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b) {
  memory::dims a_dims;
  memory::dims b_dims;
  broadcast_dims(a.shape(), b.shape(), &a_dims, &b_dims);
  run_binary("binary", op, a_dims, a.data(), b_dims, b.data(), dst.data());
}

void binary_scalar(int32_t op, Tensor& dst, const Tensor& a, float scalar) {
  run_binary("binary_scalar", op, {static_cast<memory::dim>(a.numel())}, a.data(), {1}, &scalar,
             dst.data());
}

bool convert(Tensor& dst, const Tensor& src) {
  // Measured against dtype.hpp over all inputs: oneDNN 2.6's f32 -> bf16 reorder flushes
  // subnormals to zero (vcvtneps2bf16); its f16 reorders, a generic loop on CPUs without
  // AVX512-FP16, turn -0.0 into +0.0 and change NaN payloads; f16 <-> bf16 is not
  // implemented. Only bf16 -> f32 is exact.
  if (src.dtype() != DType::BF16 || dst.dtype() != DType::F32) return false;
  const memory::desc from = flat(src);
  const memory::desc to = flat(dst);
  execute(
      "copy",
      [&] {
        return dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), from, cpu_engine(), to));
      },
      {{DNNL_ARG_FROM, bind(from, src.data())}, {DNNL_ARG_TO, bind(to, dst.data())}});
  return true;
}

void gemm_batched(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                  float beta, Tensor& c) {
  const memory::dim batch = c.shape()[0];
  const memory::dim m = c.shape()[1];
  const memory::dim n = c.shape()[2];
  const memory::dim k = a.shape()[a.ndim() - (trans_a ? 2 : 1)];
  // A 2-D operand is a batch of one, which matmul broadcasts; op(x) is x read with swapped
  // strides.
  const memory::dim a_batch = a.ndim() == 3 ? batch : 1;
  const memory::dim b_batch = b.ndim() == 3 ? batch : 1;
  const memory::desc a_desc({a_batch, m, k}, memory::data_type::f32,
                            trans_a ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
  const memory::desc b_desc({b_batch, k, n}, memory::data_type::f32,
                            trans_b ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
  const memory::desc c_desc = dense({batch, m, n});
  // alpha and beta are fixed when the primitive is made (one primitive per pair; in practice a
  // few). Not a run-time output scale: oneDNN 2.6.3's matmul with DNNL_RUNTIME_F32_VAL scales
  // corrupts the heap when a signal (Ctrl-C, a profiler) arrives during a run; reproduced with
  // oneDNN alone, see tests/unit/provider_signals_test.cpp. beta is a sum post-op; with beta 0,
  // c is never read, as in BLAS.
  execute_cached("gemm_batched",
                 fmt::format("gemm_batched {} {} {} {} {} {} {} {} {} {}", a_batch, b_batch, batch,
                             m, n, k, trans_a, trans_b, alpha, beta),
                 [&] {
                   dnnl::primitive_attr attr;
                   if (alpha != 1) attr.set_output_scales(0, {alpha});
                   if (beta != 0) {
                     dnnl::post_ops sum;
                     sum.append_sum(beta);
                     attr.set_post_ops(sum);
                   }
                   const dnnl::matmul::desc desc(a_desc, b_desc, c_desc);
                   return dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, cpu_engine()));
                 },
                 {{DNNL_ARG_SRC, bind(a_desc, a.data())},
                  {DNNL_ARG_WEIGHTS, bind(b_desc, b.data())},
                  {DNNL_ARG_DST, bind(c_desc, c.data())}});
}

}  // namespace alloy::cpu::onednn
