// The argument rules of every Provider op, in one place, so that a call is rejected with the
// same status and message whichever kernel would have run it. Nothing here depends on the
// device beyond the one tensors must live on, so other providers can share these rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace alloy {

class OpChecks {
 public:
  explicit OpChecks(DLDevice device) : device_(device) {}

  void transfer(const char* op, const Tensor& tensor, uint64_t bytes) const;
  void upload(const Tensor& tensor, uint64_t bytes) const;
  void copy(const Tensor& dst, const Tensor& src) const;
  void fill(const Tensor& dst) const;
  void unary(int32_t op, const Tensor& dst, const Tensor& src) const;
  void binary(int32_t op, const Tensor& dst, const Tensor& a, const Tensor& b) const;
  void binary_scalar(int32_t op, const Tensor& dst, const Tensor& a) const;
  void axpby(const Tensor& x, const Tensor& y) const;
  void reduce(int32_t op, const Tensor& x) const;
  void kth_magnitude(const Tensor& x, uint64_t k) const;
  void topk_mask(const Tensor& mask, const Tensor& x, uint64_t k) const;
  void magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                           const uint64_t* counts) const;
  void sign_elect(int32_t method, const Tensor& dst, const std::vector<const Tensor*>& xs) const;
  void where(const Tensor& dst, const Tensor& cond, const Tensor& a, const Tensor* b) const;
  void gemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b, const Tensor& c) const;
  void sym_eig(const Tensor& a, int64_t k, const Tensor& values, const Tensor& vectors) const;
  void svd(const Tensor& a, int64_t k, const Tensor& u, const Tensor& s, const Tensor& v) const;

  // The rules of single tensors and pairs that every op family shares (see nn_checks.hpp).
  // Defined and on this provider's device.
  void present(const char* op, const char* role, const Tensor& tensor) const;
  // present() and of `dtype`.
  void input(const char* op, const char* role, const Tensor& tensor,
             DType dtype = DType::F32) const;
  // input() and writable.
  void output(const char* op, const char* role, const Tensor& tensor,
              DType dtype = DType::F32) const;
  // "F32 [2, 3]"
  static std::string describe(const Tensor& tensor);
  static void check_same_shape(const char* op, const char* role, const Tensor& tensor,
                               const char* expected_role, const Tensor& expected);
  // Whether the two tensors share any byte of memory.
  static bool overlap(const Tensor& a, const Tensor& b);

 private:
  DLDevice device_;
};

}  // namespace alloy
