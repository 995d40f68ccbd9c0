#include "compute/cpu/cpu_provider.hpp"

#include <dnnl.h>
#include <omp.h>

#include <cstring>

#include "compute/cpu/conversion_kernels.hpp"
#include "compute/cpu/elementwise_kernels.hpp"
#include "compute/cpu/lapack_ops.hpp"
#include "compute/cpu/layout_kernels.hpp"
#include "compute/cpu/onednn_nn_ops.hpp"
#include "compute/cpu/onednn_ops.hpp"
#include "compute/cpu/reduction_kernels.hpp"
#include "compute/cpu/row_kernels.hpp"
#include "compute/cpu/selection_kernels.hpp"
#include "compute/cpu/training_kernels.hpp"
#include "error.hpp"

namespace alloy {
namespace {

float* floats(Tensor& tensor) { return tensor.data_as<float>(); }
const float* floats(const Tensor& tensor) { return tensor.data_as<const float>(); }

// The length of x's rows (its last axis) and their number (the product of the others).
int64_t row_length(const Tensor& x) { return x.shape().back(); }
int64_t row_count(const Tensor& x) {
  int64_t rows = 1;
  for (int32_t i = 0; i + 1 < x.ndim(); ++i) rows *= x.shape()[i];
  return rows;
}

}  // namespace

std::string CpuProvider::describe() const {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("cpu ({} threads, oneDNN {}.{}.{})", omp_get_max_threads(), v->major, v->minor,
                     v->patch);
}

void CpuProvider::set_op_threads(int threads) {
  if (threads < 1) fail(ALLOY_ERR_INVALID_ARGUMENT, "set_op_threads: {} threads", threads);
  omp_set_num_threads(threads);
}

Tensor CpuProvider::allocate(DType dtype, const Shape& shape) {
  const uint64_t numel = shape_numel(shape);
  if (numel > UINT64_MAX / dtype_size(dtype)) {
    fail(ALLOY_ERR_SHAPE, "allocate: {} {} does not fit in 64-bit byte counts", dtype_name(dtype),
         shape_string(shape));
  }
  return Tensor(dtype, shape, std::make_shared<HostBuffer>(numel * dtype_size(dtype)));
}

Tensor CpuProvider::to_device(const Tensor& tensor) {
  checks_.transfer("to_device", tensor, tensor.nbytes());
  return tensor;
}

void CpuProvider::download(const Tensor& tensor, void* dst, uint64_t bytes) {
  checks_.transfer("download", tensor, bytes);
  if (bytes) std::memcpy(dst, tensor.data(), bytes);
}

void CpuProvider::upload(Tensor& tensor, const void* src, uint64_t bytes) {
  checks_.upload(tensor, bytes);
  if (bytes) std::memcpy(tensor.data(), src, bytes);
}

void CpuProvider::copy(Tensor& dst, const Tensor& src) {
  checks_.copy(dst, src);
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype()) {
    std::memmove(dst.data(), src.data(), dst.nbytes());  // dst may be src itself
    return;
  }
  if (cpu::onednn::convert(dst, src)) return;
  cpu::convert(dst.data(), dst.dtype(), src.data(), src.dtype(), dst.numel());
}

void CpuProvider::fill(Tensor& dst, double value) {
  checks_.fill(dst);
  cpu::fill(floats(dst), dst.numel(), static_cast<float>(value));
}

void CpuProvider::unary(int32_t op, Tensor& dst, const Tensor& src, double alpha, double beta) {
  checks_.unary(op, dst, src);
  if (dst.numel() == 0) return;
  const auto a = static_cast<float>(alpha);
  const auto b = static_cast<float>(beta);
  if (cpu::onednn::unary(op, dst, src, a, b)) return;
  cpu::unary(op, floats(dst), floats(src), dst.numel(), a, b);
}

void CpuProvider::binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b) {
  checks_.binary(op, dst, a, b);
  if (dst.numel() == 0) return;
  cpu::onednn::binary(op, dst, a, b);
}

void CpuProvider::binary_scalar(int32_t op, Tensor& dst, const Tensor& a, double scalar) {
  checks_.binary_scalar(op, dst, a);
  if (dst.numel() == 0) return;
  cpu::onednn::binary_scalar(op, dst, a, static_cast<float>(scalar));
}

void CpuProvider::axpby(double alpha, const Tensor& x, double beta, Tensor& y) {
  checks_.axpby(x, y);
  // Own kernel: oneDNN 2.6's binary takes its scales only at primitive creation, so every new
  // (alpha, beta), as in each optimiser step, would generate a new primitive for one pass.
  cpu::axpby(static_cast<float>(alpha), floats(x), static_cast<float>(beta), floats(y), y.numel());
}

double CpuProvider::reduce(int32_t op, const Tensor& x) {
  checks_.reduce(op, x);
  return cpu::reduce(op, floats(x), x.numel());
}

double CpuProvider::kth_magnitude(const Tensor& x, uint64_t k) {
  checks_.kth_magnitude(x, k);
  return cpu::kth_magnitude(floats(x), x.numel(), k);
}

void CpuProvider::topk_mask(Tensor& mask, const Tensor& x, uint64_t k) {
  checks_.topk_mask(mask, x, k);
  cpu::topk_mask(floats(mask), floats(x), x.numel(), k);
}

void CpuProvider::magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                                      uint64_t* counts) {
  checks_.magnitude_histogram(x, level, prefix, counts);
  cpu::magnitude_histogram(floats(x), x.numel(), level, prefix, counts);
}

void CpuProvider::sign_elect(int32_t method, Tensor& dst, const std::vector<const Tensor*>& xs) {
  checks_.sign_elect(method, dst, xs);
  std::vector<const float*> inputs;
  inputs.reserve(xs.size());
  for (const Tensor* x : xs) inputs.push_back(floats(*x));
  cpu::sign_elect(method, floats(dst), inputs, dst.numel());
}

void CpuProvider::where(Tensor& dst, const Tensor& cond, const Tensor& a, const Tensor* b) {
  checks_.where(dst, cond, a, b);
  cpu::where(floats(dst), floats(cond), floats(a), b ? floats(*b) : nullptr, dst.numel());
}

void CpuProvider::gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                       double beta, Tensor& c) {
  checks_.gemm(trans_a, trans_b, a, b, c);
  if (c.numel() == 0) return;
  // oneDNN 2.6's matmul dies on K = 0 (a division by zero); the product is then all zeros.
  if (a.numel() == 0) {
    if (beta == 0) return cpu::fill(floats(c), c.numel(), 0.0f);
    return unary(ALLOY_UNARY_LINEAR, c, c, beta, 0.0);
  }
  Tensor batch = c.reshaped({1, c.shape()[0], c.shape()[1]});
  cpu::onednn::gemm_batched(
      trans_a, trans_b, static_cast<float>(alpha), a.reshaped({1, a.shape()[0], a.shape()[1]}),
      b.reshaped({1, b.shape()[0], b.shape()[1]}), static_cast<float>(beta), batch);
}

// --- neural-network ops --------------------------------------------------------------------

void CpuProvider::gemm_batched(bool trans_a, bool trans_b, double alpha, const Tensor& a,
                               const Tensor& b, double beta, Tensor& c) {
  nn_checks_.gemm_batched(trans_a, trans_b, a, b, c);
  if (c.numel() == 0) return;
  if (a.numel() == 0) {  // K = 0, as in gemm
    if (beta == 0) return cpu::fill(floats(c), c.numel(), 0.0f);
    return unary(ALLOY_UNARY_LINEAR, c, c, beta, 0.0);
  }
  cpu::onednn::gemm_batched(trans_a, trans_b, static_cast<float>(alpha), a, b,
                            static_cast<float>(beta), c);
}

void CpuProvider::permute(Tensor& dst, const Tensor& src, const std::vector<int>& perm) {
  nn_checks_.permute(dst, src, perm);
  if (dst.numel() == 0) return;
  cpu::permute(dst, src, perm);
}

void CpuProvider::broadcast(Tensor& dst, const Tensor& src) {
  nn_checks_.broadcast(dst, src);
  if (dst.numel() == 0) return;
  cpu::broadcast(dst, src);
}

void CpuProvider::sum_to(Tensor& dst, const Tensor& src, double beta) {
  nn_checks_.sum_to(dst, src);
  if (dst.numel() == 0) return;  // an empty src still scales dst by beta
  cpu::sum_to(dst, src, static_cast<float>(beta));
}

void CpuProvider::concat(Tensor& dst, const std::vector<const Tensor*>& parts, int axis) {
  axis = nn_checks_.concat(dst, parts, axis);
  if (dst.numel() == 0) return;
  cpu::concat(dst, parts, axis);
}

void CpuProvider::split(const std::vector<Tensor*>& parts, const Tensor& src, int axis) {
  axis = nn_checks_.split(parts, src, axis);
  if (src.numel() == 0) return;
  cpu::split(parts, src, axis);
}

void CpuProvider::layer_norm(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x,
                             const Tensor& gamma, const Tensor& beta, double eps) {
  nn_checks_.layer_norm(y, mean, rstd, x, gamma, beta, eps);
  if (x.numel() == 0) return;
  cpu::onednn::layer_norm(y, mean, rstd, x, gamma, beta, static_cast<float>(eps));
}

void CpuProvider::layer_norm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                                      const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                      const Tensor& gamma) {
  nn_checks_.layer_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma);
  if (x.numel() == 0) return;
  cpu::onednn::layer_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma);
}

void CpuProvider::softmax(Tensor& y, const Tensor& x, double scale) {
  nn_checks_.softmax(y, x, scale);
  if (x.numel() == 0) return;
  cpu::onednn::softmax(y, x, static_cast<float>(scale));
}

void CpuProvider::softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, double scale) {
  nn_checks_.softmax_backward(dx, dy, y, scale);
  if (y.numel() == 0) return;
  cpu::onednn::softmax_backward(dx, dy, y, static_cast<float>(scale));
}

void CpuProvider::activation(Activation kind, Tensor& y, const Tensor& x) {
  nn_checks_.activation(kind, y, x);
  if (x.numel() == 0) return;
  cpu::onednn::activation(kind, y, x);
}

void CpuProvider::activation_backward(Activation kind, Tensor& dx, const Tensor& dy,
                                      const Tensor& x) {
  nn_checks_.activation_backward(kind, dx, dy, x);
  if (x.numel() == 0) return;
  cpu::onednn::activation_backward(kind, dx, dy, x);
}

void CpuProvider::l2_normalize(Tensor& y, Tensor& norm, const Tensor& x, double eps) {
  nn_checks_.l2_normalize(y, norm, x, eps);
  // Rows of length 0 still get their norm of 0.
  cpu::l2_normalize(floats(y), floats(norm), floats(x), row_count(x), row_length(x),
                    static_cast<float>(eps));
}

void CpuProvider::l2_normalize_backward(Tensor& dx, const Tensor& dy, const Tensor& y,
                                        const Tensor& norm, double eps) {
  nn_checks_.l2_normalize_backward(dx, dy, y, norm, eps);
  if (y.numel() == 0) return;
  cpu::l2_normalize_backward(floats(dx), floats(dy), floats(y), floats(norm), row_count(y),
                             row_length(y), static_cast<float>(eps));
}

void CpuProvider::cross_entropy(Tensor& losses, Tensor& dlogits, const Tensor& logits,
                                const Tensor& labels, double grad_scale) {
  nn_checks_.cross_entropy(losses, dlogits, logits, labels, grad_scale);
  const int32_t* classes = labels.data_as<const int32_t>();
  nn_checks_.labels(classes, row_count(logits), row_length(logits));
  if (logits.numel() == 0) return;
  cpu::cross_entropy(floats(losses), floats(dlogits), floats(logits), classes, row_count(logits),
                     row_length(logits), static_cast<float>(grad_scale));
}

void CpuProvider::softmax_entropy(Tensor& entropies, Tensor& dlogits, const Tensor& logits,
                                  double grad_scale) {
  nn_checks_.softmax_entropy(entropies, dlogits, logits, grad_scale);
  if (logits.numel() == 0) return;
  cpu::softmax_entropy(floats(entropies), floats(dlogits), floats(logits), row_count(logits),
                       row_length(logits), static_cast<float>(grad_scale));
}

void CpuProvider::argmax(Tensor& indices, const Tensor& x) {
  nn_checks_.argmax(indices, x);
  if (x.numel() == 0) return;
  cpu::argmax(indices.data_as<int32_t>(), floats(x), row_count(x), row_length(x));
}

void CpuProvider::adam(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                       const AdamStep& step) {
  nn_checks_.adam(param, grad, m, v, step);
  cpu::adam(floats(param), floats(grad), floats(m), floats(v), param.numel(), step);
}

void CpuProvider::patchify(Tensor& patches, const Tensor& images, int64_t patch) {
  nn_checks_.patchify(patches, images, patch);
  if (images.numel() == 0) return;
  cpu::patchify(patches, images, patch);
}

void CpuProvider::fill_random(Tensor& dst, Distribution dist, double a, double b, uint64_t seed) {
  nn_checks_.fill_random(dst, dist, a, b);
  cpu::fill_random(floats(dst), dst.numel(), dist, a, b, seed);
}

void CpuProvider::sym_eig(const Tensor& a, int64_t k, bool largest, Tensor& values,
                          Tensor& vectors) {
  checks_.sym_eig(a, k, values, vectors);
  cpu::sym_eig(a, k, largest, values, vectors);
}

void CpuProvider::svd(const Tensor& a, int64_t k, Tensor& u, Tensor& s, Tensor& v) {
  checks_.svd(a, k, u, s, v);
  cpu::svd(a, k, u, s, v);
}

}  // namespace alloy
