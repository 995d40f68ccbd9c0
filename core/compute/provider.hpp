// The compute provider interface: every op a strategy or the model runtime can run, with one
// implementation per device (cpu/ on oneDNN + OpenMP, cuda/ as a run-time module).
//
// Semantics are those documented for the matching alloy_host member in sdk alloy.h; op codes
// are the ALLOY_UNARY_* / ALLOY_BINARY_* / ALLOY_REDUCE_* / ALLOY_ELECT_* constants. Every
// method throws alloy::Error (with an ALLOY_ERR_* status) on bad arguments. Methods are safe
// to call concurrently from several threads on different destination tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace alloy {

class Provider {
 public:
  virtual ~Provider() = default;

  // "cpu", "cuda:0"
  virtual std::string name() const = 0;
  virtual DLDevice device() const = 0;

  // Called on each worker thread of a job before its first op: how many threads one op on
  // that thread may use, so that workers x op threads match the cores.
  virtual void set_op_threads(int threads) { (void)threads; }

  // A new zero-filled, writable tensor on this provider's device.
  virtual Tensor allocate(DType dtype, const Shape& shape) = 0;
  // The tensor on this provider's device: the same tensor when it is already there.
  virtual Tensor to_device(const Tensor& tensor) = 0;
  // Host <-> device byte copies; `bytes` must equal tensor.nbytes().
  virtual void download(const Tensor& tensor, void* dst, uint64_t bytes) = 0;
  virtual void upload(Tensor& tensor, const void* src, uint64_t bytes) = 0;

  virtual void copy(Tensor& dst, const Tensor& src) = 0;  // with dtype conversion
  virtual void fill(Tensor& dst, double value) = 0;
  virtual void unary(int32_t op, Tensor& dst, const Tensor& src, double alpha, double beta) = 0;
  virtual void binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b) = 0;
  virtual void binary_scalar(int32_t op, Tensor& dst, const Tensor& a, double scalar) = 0;
  virtual void axpby(double alpha, const Tensor& x, double beta, Tensor& y) = 0;
  virtual double reduce(int32_t op, const Tensor& x) = 0;
  virtual double kth_magnitude(const Tensor& x, uint64_t k) = 0;
  virtual void topk_mask(Tensor& mask, const Tensor& x, uint64_t k) = 0;
  virtual void magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                                   uint64_t* counts) = 0;
  virtual void sign_elect(int32_t method, Tensor& dst, const std::vector<const Tensor*>& xs) = 0;
  virtual void where(Tensor& dst, const Tensor& cond, const Tensor& a, const Tensor* b) = 0;
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                    double beta, Tensor& c) = 0;
};

// Creates the provider for a --device string ("cpu"; "cuda", "cuda:N" once that module
// exists). Throws alloy::Error naming why a device is unavailable.
std::unique_ptr<Provider> create_provider(const std::string& device);

}  // namespace alloy
