// The argument rules of the neural-network ops of Provider (the model runtime's), shared by
// every provider so that a bad call is rejected with the same status and message on any
// device: ALLOY_ERR_SHAPE for shapes that do not fit, ALLOY_ERR_DTYPE, ALLOY_ERR_READ_ONLY,
// and ALLOY_ERR_INVALID_ARGUMENT for bad values and for outputs that overlap an input or each
// other. Messages name the op and the argument.
#pragma once

#include <cstdint>
#include <vector>

#include "compute/op_checks.hpp"
#include "compute/provider.hpp"

namespace alloy {

class NnChecks {
 public:
  explicit NnChecks(DLDevice device) : tensors_(device) {}

  void gemm_batched(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b,
                    const Tensor& c) const;
  void permute(const Tensor& dst, const Tensor& src, const std::vector<int>& perm) const;
  void broadcast(const Tensor& dst, const Tensor& src) const;
  void sum_to(const Tensor& dst, const Tensor& src) const;
  // Both return `axis` counted from the front (0 <= axis < rank).
  int concat(const Tensor& dst, const std::vector<const Tensor*>& parts, int axis) const;
  int split(const std::vector<Tensor*>& parts, const Tensor& src, int axis) const;
  void layer_norm(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                  const Tensor& gamma, const Tensor& beta, double eps) const;
  void layer_norm_backward(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                           const Tensor& dy, const Tensor& x, const Tensor& mean,
                           const Tensor& rstd, const Tensor& gamma) const;
  void softmax(const Tensor& y, const Tensor& x, double scale) const;
  void softmax_backward(const Tensor& dx, const Tensor& dy, const Tensor& y, double scale) const;
  void activation(Activation kind, const Tensor& y, const Tensor& x) const;
  void activation_backward(Activation kind, const Tensor& dx, const Tensor& dy,
                           const Tensor& x) const;
  void l2_normalize(const Tensor& y, const Tensor& norm, const Tensor& x, double eps) const;
  void l2_normalize_backward(const Tensor& dx, const Tensor& dy, const Tensor& y,
                             const Tensor& norm, double eps) const;
  void cross_entropy(const Tensor& losses, const Tensor& dlogits, const Tensor& logits,
                     const Tensor& labels, double grad_scale) const;
  // The values of cross_entropy's labels, read into host memory by the provider.
  void labels(const int32_t* labels, int64_t rows, int64_t classes) const;
  void softmax_entropy(const Tensor& entropies, const Tensor& dlogits, const Tensor& logits,
                       double grad_scale) const;
  void argmax(const Tensor& indices, const Tensor& x) const;
  void adam(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
            const AdamStep& step) const;
  void patchify(const Tensor& patches, const Tensor& images, int64_t patch) const;
  void fill_random(const Tensor& dst, Distribution dist, double a, double b) const;

 private:
  // A tensor of one entry per row of `x` (all axes but the last): of shape [rows], or x's
  // shape without its last axis.
  void per_row(const char* op, const char* role, const Tensor& tensor, const char* x_role,
               const Tensor& x) const;

  OpChecks tensors_;
};

}  // namespace alloy
