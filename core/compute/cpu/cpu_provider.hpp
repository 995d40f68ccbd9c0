// The CPU provider: tensors in host memory, ops on oneDNN where it computes them exactly and
// on own OpenMP kernels elsewhere. Each op checks its arguments (OpChecks, NnChecks), returns
// early on empty tensors, then runs the first implementation that takes it, best first,
// reference last.
#pragma once

#include "compute/nn_checks.hpp"
#include "compute/op_checks.hpp"
#include "compute/provider.hpp"

namespace alloy {

class CpuProvider final : public Provider {
 public:
  std::string name() const override { return "cpu"; }
  DLDevice device() const override { return cpu_device(); }
  std::string describe() const override;  // "cpu (2 threads, oneDNN 2.6.x)"
  // Sets the OpenMP team size of the calling thread, which oneDNN (built on the same OpenMP
  // runtime) and the own kernels both use.
  void set_op_threads(int threads) override;

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
  OpChecks checks_{cpu_device()};
  NnChecks nn_checks_{cpu_device()};
};

}  // namespace alloy
