#include "compute/cpu/cpu_provider.hpp"

#include <omp.h>

#include <cstring>

#include "compute/cpu/conversion_kernels.hpp"
#include "compute/cpu/elementwise_kernels.hpp"
#include "compute/cpu/onednn_ops.hpp"
#include "compute/cpu/reduction_kernels.hpp"
#include "compute/cpu/selection_kernels.hpp"
#include "error.hpp"

namespace alloy {
namespace {

float* floats(Tensor& tensor) { return tensor.data_as<float>(); }
const float* floats(const Tensor& tensor) { return tensor.data_as<const float>(); }

}  // namespace

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
  cpu::onednn::gemm(trans_a, trans_b, static_cast<float>(alpha), a, b, static_cast<float>(beta), c);
}

}  // namespace alloy
