// The model runtime's ops on CUDA: gemm_batched on cuBLAS, the rest on the kernels of
// layout_kernels.cu, row_kernels.cu and training_kernels.cu. Each op runs the CPU provider's
// argument checks (NnChecks) and returns early on empty tensors where it does, then enqueues
// its work on the compute stream and returns without waiting, but for cross_entropy, whose
// labels are checked on the host first.
#include <climits>
#include <vector>

#include "compute/cuda/cuda_provider.hpp"
#include "compute/cuda/layout_kernels.hpp"
#include "compute/cuda/row_kernels.hpp"
#include "compute/cuda/training_kernels.hpp"
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

int64_t product(const Shape& shape, std::size_t begin, std::size_t end) {
  int64_t n = 1;
  for (std::size_t i = begin; i < end; ++i) n *= shape[i];
  return n;
}

std::vector<int64_t> dense_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// The layout kernels index at most kMaxDims axes (Tensor's kMaxRank).
void rank_fits(const char* op, const char* role, const Tensor& tensor) {
  if (tensor.ndim() > cuda::kMaxDims) {
    fail(ALLOY_ERR_UNSUPPORTED, "{}: {} {} has more than {} dimensions", op, role,
         shape_string(tensor.shape()), cuda::kMaxDims);
  }
}

int cublas_size(const char* op, int64_t value) {
  if (value > INT_MAX) {
    fail(ALLOY_ERR_UNSUPPORTED, "{}: a dimension of {} is too large for cuBLAS's 32-bit sizes", op,
         value);
  }
  return static_cast<int>(value);
}

}  // namespace

void CudaProvider::gemm_batched(bool trans_a, bool trans_b, double alpha, const Tensor& a,
                                const Tensor& b, double beta, Tensor& c) {
  nn_checks_.gemm_batched(trans_a, trans_b, a, b, c);
  if (c.numel() == 0) return;
  cudaStream_t s = begin();
  if (a.numel() == 0) {  // K = 0: the product is all zeros, as in gemm
    if (beta == 0) {
      cuda::check(cudaMemsetAsync(c.data(), 0, c.nbytes(), s), "gemm_batched");
    } else {
      cuda::scale(floats(c), c.numel(), static_cast<float>(beta), s);
    }
    return;
  }
  const char* op = "gemm_batched";
  const int batch = cublas_size(op, c.shape()[0]);
  const int m = cublas_size(op, c.shape()[1]);
  const int n = cublas_size(op, c.shape()[2]);
  const int k = cublas_size(op, a.shape()[a.ndim() - (trans_a ? 2 : 1)]);
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix read
  // column-major is its transpose: cuBLAS gets the operands swapped, each with its own flag,
  // and leading dimensions of the row-major rows. A rank-2 operand shared by the batch has
  // stride 0.
  const long long stride_a = a.ndim() == 3 ? static_cast<long long>(m) * k : 0;
  const long long stride_b = b.ndim() == 3 ? static_cast<long long>(k) * n : 0;
  const long long stride_c = static_cast<long long>(m) * n;
  const float alpha_f = static_cast<float>(alpha);
  const float beta_f = static_cast<float>(beta);  // beta 0: cuBLAS does not read C
  auto lock = device_->lock_handles();
  cublasHandle_t handle = device_->cublas();
  cuda::check(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST), "gemm_batched");
  cuda::check(cublasSgemmStridedBatched(
                  handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                  n, m, k, &alpha_f, floats(b), trans_b ? k : n, stride_b, floats(a),
                  trans_a ? m : k, stride_a, &beta_f, floats(c), n, stride_c, batch),
              "gemm_batched");
}

void CudaProvider::permute(Tensor& dst, const Tensor& src, const std::vector<int>& perm) {
  nn_checks_.permute(dst, src, perm);
  if (dst.numel() == 0) return;
  rank_fits("permute", "src", src);
  const std::vector<int64_t> src_strides = dense_strides(src.shape());
  std::vector<int64_t> strides(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) strides[i] = src_strides[perm[i]];
  cuda::gather(floats(dst), floats(src), dst.shape().data(), strides.data(), dst.ndim(),
               dst.numel(), begin());
}

void CudaProvider::broadcast(Tensor& dst, const Tensor& src) {
  nn_checks_.broadcast(dst, src);
  if (dst.numel() == 0) return;
  rank_fits("broadcast", "dst", dst);
  const std::vector<int64_t> src_strides = dense_strides(src.shape());
  const std::size_t lead = dst.shape().size() - src.shape().size();
  std::vector<int64_t> strides(dst.shape().size(), 0);  // new and size-1 axes repeat: stride 0
  for (std::size_t i = 0; i < src.shape().size(); ++i) {
    strides[lead + i] = src.shape()[i] == 1 ? 0 : src_strides[i];
  }
  cuda::gather(floats(dst), floats(src), dst.shape().data(), strides.data(), dst.ndim(),
               dst.numel(), begin());
}

void CudaProvider::sum_to(Tensor& dst, const Tensor& src, double beta) {
  nn_checks_.sum_to(dst, src);
  if (dst.numel() == 0) return;  // an empty src still scales dst by beta
  rank_fits("sum_to", "src", src);
  const cuda::SumToPlan plan =
      cuda::plan_sum_to(dst.shape().data(), dst.ndim(), src.shape().data(), src.ndim());
  cudaStream_t s = begin();
  Tensor partial;
  if (plan.scratch_doubles) {
    partial = scratch(DType::F64, {static_cast<int64_t>(plan.scratch_doubles)});
  }
  cuda::sum_to(plan, floats(dst), floats(src), static_cast<float>(beta),
               partial.defined() ? partial.data_as<double>() : nullptr, s);
}

void CudaProvider::concat(Tensor& dst, const std::vector<const Tensor*>& parts, int axis) {
  axis = nn_checks_.concat(dst, parts, axis);
  if (dst.numel() == 0) return;
  // dst is `outer` rows of `row` floats; part j's rows of `run` floats sit at `start` of each.
  const Shape& whole = dst.shape();
  const int64_t outer = product(whole, 0, axis);
  const int64_t inner = product(whole, axis + 1, whole.size());
  const int64_t row = whole[axis] * inner;
  cudaStream_t s = begin();
  int64_t start = 0;
  for (const Tensor* part : parts) {
    const int64_t run = part->shape()[axis] * inner;
    if (run > 0) cuda::copy_rows(floats(dst) + start, row, floats(*part), run, outer, run, s);
    start += run;
  }
}

void CudaProvider::split(const std::vector<Tensor*>& parts, const Tensor& src, int axis) {
  axis = nn_checks_.split(parts, src, axis);
  if (src.numel() == 0) return;
  const Shape& whole = src.shape();
  const int64_t outer = product(whole, 0, axis);
  const int64_t inner = product(whole, axis + 1, whole.size());
  const int64_t row = whole[axis] * inner;
  cudaStream_t s = begin();
  int64_t start = 0;
  for (Tensor* part : parts) {
    const int64_t run = part->shape()[axis] * inner;
    if (run > 0) cuda::copy_rows(floats(*part), run, floats(src) + start, row, outer, run, s);
    start += run;
  }
}

void CudaProvider::layer_norm(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x,
                              const Tensor& gamma, const Tensor& beta, double eps) {
  nn_checks_.layer_norm(y, mean, rstd, x, gamma, beta, eps);
  if (x.numel() == 0) return;
  cuda::layer_norm(floats(y), floats(mean), floats(rstd), floats(x), floats(gamma), floats(beta),
                   row_count(x), row_length(x), static_cast<float>(eps), begin());
}

void CudaProvider::layer_norm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                                       const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                       const Tensor& gamma) {
  nn_checks_.layer_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma);
  if (x.numel() == 0) return;
  const int64_t rows = row_count(x);
  const int64_t cols = row_length(x);
  cudaStream_t s = begin();
  Tensor partial;
  if (const uint64_t floats_needed = cuda::layer_norm_backward_scratch(rows, cols)) {
    partial = scratch(DType::F32, {static_cast<int64_t>(floats_needed)});
  }
  cuda::layer_norm_backward(floats(dx), floats(dgamma), floats(dbeta), floats(dy), floats(x),
                            floats(mean), floats(rstd), floats(gamma), rows, cols,
                            partial.defined() ? floats(partial) : nullptr, s);
}

void CudaProvider::softmax(Tensor& y, const Tensor& x, double scale) {
  nn_checks_.softmax(y, x, scale);
  if (x.numel() == 0) return;
  cuda::softmax(floats(y), floats(x), row_count(x), row_length(x), static_cast<float>(scale),
                begin());
}

void CudaProvider::softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, double scale) {
  nn_checks_.softmax_backward(dx, dy, y, scale);
  if (y.numel() == 0) return;
  cuda::softmax_backward(floats(dx), floats(dy), floats(y), row_count(y), row_length(y),
                         static_cast<float>(scale), begin());
}

void CudaProvider::activation(Activation kind, Tensor& y, const Tensor& x) {
  nn_checks_.activation(kind, y, x);
  if (x.numel() == 0) return;
  cuda::activation(kind, floats(y), floats(x), x.numel(), begin());
}

void CudaProvider::activation_backward(Activation kind, Tensor& dx, const Tensor& dy,
                                       const Tensor& x) {
  nn_checks_.activation_backward(kind, dx, dy, x);
  if (x.numel() == 0) return;
  cuda::activation_backward(kind, floats(dx), floats(dy), floats(x), x.numel(), begin());
}

void CudaProvider::l2_normalize(Tensor& y, Tensor& norm, const Tensor& x, double eps) {
  nn_checks_.l2_normalize(y, norm, x, eps);
  // Rows of length 0 still get their norm of 0.
  const int64_t rows = row_count(x);
  if (rows == 0) return;
  cuda::l2_normalize(floats(y), floats(norm), floats(x), rows, row_length(x),
                     static_cast<float>(eps), begin());
}

void CudaProvider::l2_normalize_backward(Tensor& dx, const Tensor& dy, const Tensor& y,
                                         const Tensor& norm, double eps) {
  nn_checks_.l2_normalize_backward(dx, dy, y, norm, eps);
  if (y.numel() == 0) return;
  cuda::l2_normalize_backward(floats(dx), floats(dy), floats(y), floats(norm), row_count(y),
                              row_length(y), static_cast<float>(eps), begin());
}

void CudaProvider::cross_entropy(Tensor& losses, Tensor& dlogits, const Tensor& logits,
                                 const Tensor& labels, double grad_scale) {
  nn_checks_.cross_entropy(losses, dlogits, logits, labels, grad_scale);
  // The labels are checked on the host, as the CPU provider does, before anything is written
  // (this waits for the stream, so that labels computed by earlier ops are there).
  const int64_t rows = row_count(logits);
  const int64_t classes = row_length(logits);
  std::vector<int32_t> host_labels(static_cast<std::size_t>(rows));
  fetch(host_labels.data(), labels, labels.nbytes());
  nn_checks_.labels(host_labels.data(), rows, classes);
  if (logits.numel() == 0) return;
  cuda::cross_entropy(floats(losses), floats(dlogits), floats(logits),
                      labels.data_as<const int32_t>(), rows, classes,
                      static_cast<float>(grad_scale), begin());
}

void CudaProvider::softmax_entropy(Tensor& entropies, Tensor& dlogits, const Tensor& logits,
                                   double grad_scale) {
  nn_checks_.softmax_entropy(entropies, dlogits, logits, grad_scale);
  if (logits.numel() == 0) return;
  cuda::softmax_entropy(floats(entropies), floats(dlogits), floats(logits), row_count(logits),
                        row_length(logits), static_cast<float>(grad_scale), begin());
}

void CudaProvider::argmax(Tensor& indices, const Tensor& x) {
  nn_checks_.argmax(indices, x);
  if (x.numel() == 0) return;
  cuda::argmax(indices.data_as<int32_t>(), floats(x), row_count(x), row_length(x), begin());
}

void CudaProvider::adam(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                        const AdamStep& step) {
  nn_checks_.adam(param, grad, m, v, step);
  if (param.numel() == 0) return;
  cuda::adam(floats(param), floats(grad), floats(m), floats(v), param.numel(), step, begin());
}

void CudaProvider::patchify(Tensor& patches, const Tensor& images, int64_t patch) {
  nn_checks_.patchify(patches, images, patch);
  if (images.numel() == 0) return;
  const Shape& s = images.shape();
  cuda::patchify(floats(patches), floats(images), s[0], s[1], s[2], s[3], patch, begin());
}

void CudaProvider::fill_random(Tensor& dst, Distribution dist, double a, double b, uint64_t seed) {
  nn_checks_.fill_random(dst, dist, a, b);
  if (dst.numel() == 0) return;
  cuda::fill_random(floats(dst), dst.numel(), dist, a, b, seed, begin());
}

}  // namespace alloy
