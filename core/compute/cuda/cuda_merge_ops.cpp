// The merge ops of the CUDA provider: element-wise ops, reductions, magnitude selection, sign
// election and gemm, with the CPU provider's argument checks (the same OpChecks, called first,
// then the same early returns on empty tensors) and its results. Kernels live in
// elementwise_kernels.cu, reduction_kernels.cu and selection_kernels.cu; everything is
// enqueued on the device's compute stream, and only reduce, kth_magnitude, topk_mask and
// magnitude_histogram wait for the device, to bring back the value or the counts they need.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "compute/cuda/cuda_provider.hpp"
#include "compute/cuda/elementwise_kernels.hpp"
#include "compute/cuda/reduction_kernels.hpp"
#include "compute/cuda/selection_kernels.hpp"
#include "error.hpp"

namespace alloy {
namespace {

float* floats(Tensor& tensor) { return tensor.data_as<float>(); }
const float* floats(const Tensor& tensor) { return tensor.data_as<const float>(); }

// a's and b's shapes as the fewest dimensions: a's dimensions of size 1 dropped, neighbours
// along which b is broadcast alike merged (as the CPU provider collapses them for oneDNN).
cuda::BroadcastDims broadcast_dims(const Shape& a, const Shape& b) {
  cuda::BroadcastDims dims;
  const std::size_t lead = a.size() - b.size();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == 1) continue;
    const bool broadcast = i < lead || b[i - lead] == 1;
    if (dims.ndim > 0 && dims.b_broadcast[dims.ndim - 1] == broadcast) {
      dims.extent[dims.ndim - 1] *= static_cast<uint64_t>(a[i]);
      continue;
    }
    if (dims.ndim == cuda::kMaxBroadcastDims) {
      fail(ALLOY_ERR_UNSUPPORTED,
           "binary: broadcasting b {} over a {} needs more than {} dimensions", shape_string(b),
           shape_string(a), cuda::kMaxBroadcastDims);
    }
    dims.extent[dims.ndim] = static_cast<uint64_t>(a[i]);
    dims.b_broadcast[dims.ndim] = broadcast;
    ++dims.ndim;
  }
  return dims;
}

// The magnitude a radix select found: its bits, how many entries of exactly that magnitude
// are among the k largest, and how many entries have it.
struct Selection {
  uint32_t bits = 0;
  uint64_t equal_taken = 0;
  uint64_t equal_count = 0;
};

// The k-th largest |x| (1 <= k <= n) by radix select, as the CPU's select() (there in two
// 16-bit passes): each pass keeps the bin holding rank `need`, walking down from the top bin,
// and need becomes the rank inside that bin.
// scratch and fetch are the provider's (private) members of those names.
template <typename Scratch, typename Fetch>
Selection radix_select(const Tensor& x, uint64_t k, cudaStream_t s, Scratch scratch, Fetch fetch) {
  const uint64_t n = x.numel();
  Tensor partial = scratch(DType::I32, {static_cast<int64_t>(cuda::radix_scratch(n))});
  Tensor counts = scratch(DType::I64, {static_cast<int64_t>(cuda::kRadixBins)});
  std::vector<uint64_t> host(cuda::kRadixBins);
  Selection found;
  uint64_t need = k;
  for (int pass = 0; pass < cuda::kRadixPasses; ++pass) {
    const int shift = cuda::kRadixShift[pass];
    const uint32_t bins = 1u << cuda::kRadixWidth[pass];
    cuda::radix_histogram(floats(x), n, shift, cuda::kRadixWidth[pass], found.bits,
                          partial.data_as<uint32_t>(), counts.data_as<unsigned long long>(), s);
    fetch(host.data(), counts, bins * sizeof(uint64_t));
    uint32_t bin = bins;
    while (bin-- > 0) {
      if (host[bin] >= need) break;
      need -= host[bin];
    }
    if (bin >= bins) {
      fail(ALLOY_ERR_INTERNAL, "magnitude selection: fewer elements counted than the rank sought");
    }
    found.bits |= bin << shift;
    found.equal_count = host[bin];
  }
  found.equal_taken = need;
  return found;
}

}  // namespace

void CudaProvider::copy(Tensor& dst, const Tensor& src) {
  checks_.copy(dst, src);
  if (dst.numel() == 0) return;
  cudaStream_t s = begin();
  if (dst.dtype() == src.dtype()) {
    if (dst.data() == src.data()) return;  // a copy onto itself
    if (OpChecks::overlap(dst, src)) {
      // memmove semantics, as on the CPU: cudaMemcpy does not allow overlapping ranges.
      Tensor staging = scratch(DType::U8, {static_cast<int64_t>(src.nbytes())});
      cuda::check(
          cudaMemcpyAsync(staging.data(), src.data(), src.nbytes(), cudaMemcpyDeviceToDevice, s),
          "copy");
      cuda::check(
          cudaMemcpyAsync(dst.data(), staging.data(), dst.nbytes(), cudaMemcpyDeviceToDevice, s),
          "copy");
      return;
    }
    cuda::check(cudaMemcpyAsync(dst.data(), src.data(), dst.nbytes(), cudaMemcpyDeviceToDevice, s),
                "copy");
    return;
  }
  if (!cuda::convert(dst.data(), dst.dtype(), src.data(), src.dtype(), dst.numel(), s)) {
    fail(ALLOY_ERR_INTERNAL, "copy: no CUDA kernel from {} to {}", dtype_name(src.dtype()),
         dtype_name(dst.dtype()));
  }
}

void CudaProvider::fill(Tensor& dst, double value) {
  checks_.fill(dst);
  if (dst.numel() == 0) return;
  cudaStream_t s = begin();
  const auto v = static_cast<float>(value);
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if (bits == 0) {  // +0.0: all zero bytes
    cuda::check(cudaMemsetAsync(dst.data(), 0, dst.nbytes(), s), "fill");
    return;
  }
  cuda::fill(floats(dst), dst.numel(), v, s);
}

void CudaProvider::unary(int32_t op, Tensor& dst, const Tensor& src, double alpha, double beta) {
  checks_.unary(op, dst, src);
  if (dst.numel() == 0) return;
  cuda::unary(op, floats(dst), floats(src), dst.numel(), static_cast<float>(alpha),
              static_cast<float>(beta), begin());
}

void CudaProvider::binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b) {
  checks_.binary(op, dst, a, b);
  if (dst.numel() == 0) return;
  cudaStream_t s = begin();
  // Checks passed: b's extents equal a's or are 1, so equal counts mean no broadcasting.
  if (b.numel() == a.numel()) {
    return cuda::binary(op, floats(dst), floats(a), floats(b), a.numel(), s);
  }
  const cuda::BroadcastDims dims = broadcast_dims(a.shape(), b.shape());
  cuda::binary_broadcast(op, floats(dst), floats(a), floats(b), a.numel(), dims, s);
}

void CudaProvider::binary_scalar(int32_t op, Tensor& dst, const Tensor& a, double scalar) {
  checks_.binary_scalar(op, dst, a);
  if (dst.numel() == 0) return;
  cuda::binary_scalar(op, floats(dst), floats(a), a.numel(), static_cast<float>(scalar), begin());
}

void CudaProvider::axpby(double alpha, const Tensor& x, double beta, Tensor& y) {
  checks_.axpby(x, y);
  if (y.numel() == 0) return;
  cuda::axpby(static_cast<float>(alpha), floats(x), static_cast<float>(beta), floats(y), y.numel(),
              begin());
}

double CudaProvider::reduce(int32_t op, const Tensor& x) {
  checks_.reduce(op, x);
  const uint64_t n = x.numel();
  if (n == 0) return 0.0;  // every op, as on the CPU
  cudaStream_t s = begin();
  Tensor partials = scratch(DType::F64, {static_cast<int64_t>(cuda::reduce_scratch(n))});
  cuda::reduce(op, floats(x), n, partials.data_as<double>(), s);
  double result = 0;
  fetch(&result, partials, sizeof result);
  return op == ALLOY_REDUCE_L2_NORM ? std::sqrt(result) : result;
}

double CudaProvider::kth_magnitude(const Tensor& x, uint64_t k) {
  checks_.kth_magnitude(x, k);
  cudaStream_t s = begin();
  const Selection found = radix_select(
      x, k, s, [this](DType d, const Shape& shape) { return scratch(d, shape); },
      [this](void* dst, const Tensor& src, uint64_t bytes) { fetch(dst, src, bytes); });
  float magnitude;
  std::memcpy(&magnitude, &found.bits, sizeof magnitude);
  return magnitude;
}

void CudaProvider::topk_mask(Tensor& mask, const Tensor& x, uint64_t k) {
  checks_.topk_mask(mask, x, k);
  const uint64_t n = x.numel();
  if (n == 0) return;
  cudaStream_t s = begin();
  if (k == 0 || k == n) return cuda::fill(floats(mask), n, k == 0 ? 0.0f : 1.0f, s);
  const Selection threshold = radix_select(
      x, k, s, [this](DType d, const Shape& shape) { return scratch(d, shape); },
      [this](void* dst, const Tensor& src, uint64_t bytes) { fetch(dst, src, bytes); });
  if (threshold.equal_taken == threshold.equal_count) {  // no tie to break: one plain pass
    return cuda::threshold_mask(floats(mask), floats(x), n, threshold.bits, s);
  }
  const auto chunks = static_cast<int64_t>(cuda::ties_chunks(n));
  Tensor ties = scratch(DType::I32, {chunks});
  Tensor offsets = scratch(DType::I64, {chunks});
  cuda::ties_mask(floats(mask), floats(x), n, threshold.bits, threshold.equal_taken,
                  ties.data_as<uint32_t>(), offsets.data_as<unsigned long long>(), s);
}

void CudaProvider::magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                                       uint64_t* counts) {
  checks_.magnitude_histogram(x, level, prefix, counts);
  const uint64_t n = x.numel();
  if (n == 0) return;
  cudaStream_t s = begin();
  const uint32_t bins = cuda::histogram_bins(level);
  Tensor device_counts = scratch(DType::I64, {static_cast<int64_t>(bins)});  // zero-filled
  cuda::magnitude_histogram(floats(x), n, level, prefix,
                            device_counts.data_as<unsigned long long>(), s);
  std::vector<uint64_t> host(bins);
  fetch(host.data(), device_counts, bins * sizeof(uint64_t));
  for (uint32_t b = 0; b < bins; ++b) counts[b] += host[b];
}

void CudaProvider::sign_elect(int32_t method, Tensor& dst, const std::vector<const Tensor*>& xs) {
  checks_.sign_elect(method, dst, xs);
  const uint64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t s = begin();
  // The inputs' device pointers, in a small device array the kernel indexes.
  std::vector<const float*> pointers;
  pointers.reserve(xs.size());
  bool vector = reinterpret_cast<uintptr_t>(dst.data()) % 16 == 0;
  for (const Tensor* x : xs) {
    pointers.push_back(floats(*x));
    vector = vector && reinterpret_cast<uintptr_t>(x->data()) % 16 == 0;
  }
  Tensor table;
  if (!pointers.empty()) {
    table = scratch(DType::I64, {static_cast<int64_t>(pointers.size())});
    device_->upload(table.data(), pointers.data(), pointers.size() * sizeof(const float*));
  }
  cuda::sign_elect(method, floats(dst),
                   table.defined() ? table.data_as<const float* const>() : nullptr,
                   static_cast<int64_t>(pointers.size()), n, vector, s);
}

void CudaProvider::where(Tensor& dst, const Tensor& cond, const Tensor& a, const Tensor* b) {
  checks_.where(dst, cond, a, b);
  if (dst.numel() == 0) return;
  cuda::where(floats(dst), floats(cond), floats(a), b ? floats(*b) : nullptr, dst.numel(), begin());
}

void CudaProvider::gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                        double beta, Tensor& c) {
  checks_.gemm(trans_a, trans_b, a, b, c);
  if (c.numel() == 0) return;
  cudaStream_t s = begin();
  const auto f_alpha = static_cast<float>(alpha);
  const auto f_beta = static_cast<float>(beta);
  // K = 0: the product is zero, so c = beta * c, computed as the CPU does (beta 0: zeros,
  // never reading c; else its eltwise_linear, one FMA beta * c + 0).
  if (a.numel() == 0) {
    if (beta == 0) {
      cuda::check(cudaMemsetAsync(c.data(), 0, c.nbytes(), s), "gemm");
      return;
    }
    return cuda::unary(ALLOY_UNARY_LINEAR, floats(c), floats(c), c.numel(), f_beta, 0.0f, s);
  }
  // cuBLAS is column-major: a row-major [r, q] matrix is, read column-major, its transpose
  // [q, r] with leading dimension q. So c^T = op(b)^T op(a)^T is computed column-major with b
  // as the first operand: op(b)^T is b as stored when trans_b is false (N), b^T when it is true
  // (T), and likewise for a. With beta 0, cuBLAS does not read c.
  const int64_t m = c.shape()[0];
  const int64_t n = c.shape()[1];
  const int64_t k = a.shape()[trans_a ? 0 : 1];
  const int64_t lda = a.shape()[1];
  const int64_t ldb = b.shape()[1];
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  auto lock = device_->lock_handles();  // the handle is bound to the compute stream, s
#if CUBLAS_VER_MAJOR >= 12
  cuda::check(cublasSgemm_64(device_->cublas(), op_b, op_a, n, m, k, &f_alpha, floats(b), ldb,
                             floats(a), lda, &f_beta, floats(c), n),
              "gemm");
#else
  for (const int64_t extent : {m, n, k, lda, ldb}) {
    if (extent > INT32_MAX) {
      fail(ALLOY_ERR_UNSUPPORTED, "gemm: dimension {} exceeds this cuBLAS's 32-bit sizes", extent);
    }
  }
  cuda::check(
      cublasSgemm(device_->cublas(), op_b, op_a, static_cast<int>(n), static_cast<int>(m),
                  static_cast<int>(k), &f_alpha, floats(b), static_cast<int>(ldb), floats(a),
                  static_cast<int>(lda), &f_beta, floats(c), static_cast<int>(n)),
      "gemm");
#endif
}

}  // namespace alloy
