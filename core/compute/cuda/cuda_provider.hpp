// The CUDA provider: tensors in device memory, ops on cuBLAS (gemm), cuSOLVER (sym_eig, svd) and
// kernels of its own, with the CPU provider's semantics and argument rules (OpChecks,
// NnChecks: the same checks, so the same errors). F32 compute; copy() converts F16/BF16 on the
// device. Built into its own module (liballoy_cuda.so), loaded at run time by
// create_provider(); nothing outside core/compute/cuda includes a CUDA header.
//
// The op methods are defined across files by family: cuda_provider.cpp (memory, transfers),
// cuda_merge_ops.cpp (elementwise, reductions, selection, gemm), cuda_nn_ops.cpp (the model
// runtime's ops), cuda_linalg.cpp (decompositions).
#pragma once

#include <memory>

#include "compute/cuda/cuda_device.hpp"
#include "compute/nn_checks.hpp"
#include "compute/op_checks.hpp"
#include "compute/provider.hpp"

namespace alloy {

class CudaProvider final : public Provider {
 public:
  CudaProvider(int ordinal, const ProviderOptions& options);

  std::string name() const override;
  DLDevice device() const override { return DLDevice{kDLCUDA, device_->ordinal()}; }
  std::string describe() const override;

  Tensor allocate(DType dtype, const Shape& shape) override;
  Tensor to_device(const Tensor& tensor) override;
  void download(const Tensor& tensor, void* dst, uint64_t bytes) override;
  void upload(Tensor& tensor, const void* src, uint64_t bytes) override;

  void copy(Tensor& dst, const Tensor& src) override;
  void fill(Tensor& dst, double value) override;
  void unary(int32_t op, Tensor& dst, const Tensor& src, double alpha, double beta) override;
  void binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b) override;
  void binary_scalar(int32_t op, Tensor& dst, const Tensor& a, double scalar) override;
  void axpby(double alpha, const Tensor& x, double beta, Tensor& y) override;
  double reduce(int32_t op, const Tensor& x) override;
  double kth_magnitude(const Tensor& x, uint64_t k) override;
  void topk_mask(Tensor& mask, const Tensor& x, uint64_t k) override;
  void magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                           uint64_t* counts) override;
  void sign_elect(int32_t method, Tensor& dst, const std::vector<const Tensor*>& xs) override;
  void where(Tensor& dst, const Tensor& cond, const Tensor& a, const Tensor* b) override;
  void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
            Tensor& c) override;

  void gemm_batched(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                    double beta, Tensor& c) override;
  void permute(Tensor& dst, const Tensor& src, const std::vector<int>& perm) override;
  void broadcast(Tensor& dst, const Tensor& src) override;
  void sum_to(Tensor& dst, const Tensor& src, double beta) override;
  void concat(Tensor& dst, const std::vector<const Tensor*>& parts, int axis) override;
  void split(const std::vector<Tensor*>& parts, const Tensor& src, int axis) override;
  void layer_norm(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                  const Tensor& beta, double eps) override;
  void layer_norm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                           const Tensor& x, const Tensor& mean, const Tensor& rstd,
                           const Tensor& gamma) override;
  void softmax(Tensor& y, const Tensor& x, double scale) override;
  void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, double scale) override;
  void activation(Activation kind, Tensor& y, const Tensor& x) override;
  void activation_backward(Activation kind, Tensor& dx, const Tensor& dy, const Tensor& x) override;
  void l2_normalize(Tensor& y, Tensor& norm, const Tensor& x, double eps) override;
  void l2_normalize_backward(Tensor& dx, const Tensor& dy, const Tensor& y, const Tensor& norm,
                             double eps) override;
  void cross_entropy(Tensor& losses, Tensor& dlogits, const Tensor& logits, const Tensor& labels,
                     double grad_scale) override;
  void softmax_entropy(Tensor& entropies, Tensor& dlogits, const Tensor& logits,
                       double grad_scale) override;
  void argmax(Tensor& indices, const Tensor& x) override;
  void adam(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& step) override;
  void patchify(Tensor& patches, const Tensor& images, int64_t patch) override;
  void fill_random(Tensor& dst, Distribution dist, double a, double b, uint64_t seed) override;
  void sym_eig(const Tensor& a, int64_t k, bool largest, Tensor& values, Tensor& vectors) override;
  void svd(const Tensor& a, int64_t k, Tensor& u, Tensor& s, Tensor& v) override;

 private:
  // Every op family's file uses these: the device current on the calling thread, the compute
  // stream every kernel is launched on, and device scratch memory for one op (zero-filled,
  // freed stream-ordered when the last tensor viewing it goes).
  cudaStream_t begin() const {
    device_->activate();
    return device_->stream();
  }
  Tensor scratch(DType dtype, const Shape& shape) { return allocate(dtype, shape); }
  // A value computed on the device into `src` (bytes of it), copied to host memory `dst` after
  // everything enqueued before; blocks until it is there.
  void fetch(void* dst, const Tensor& src, uint64_t bytes) {
    device_->download(dst, src.data(), bytes);
  }

  std::shared_ptr<cuda::Device> device_;
  OpChecks checks_;
  NnChecks nn_checks_;
};

}  // namespace alloy
