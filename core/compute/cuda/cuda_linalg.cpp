// Decompositions on CUDA, in double precision: sym_eig on cuSOLVER's symmetric eigensolver, svd on
// its general SVD (gesvd).
#include <cstdint>
#include <vector>

#include "compute/cuda/cuda_provider.hpp"
#include "compute/cuda/layout_kernels.hpp"
#include "error.hpp"

namespace alloy {
namespace {

// cuSOLVER's parameter object of the 64-bit API, destroyed on every path.
class SolverParams {
 public:
  SolverParams() { cuda::check(cusolverDnCreateParams(&params_), "cusolverDnCreateParams"); }
  ~SolverParams() { cusolverDnDestroyParams(params_); }
  SolverParams(const SolverParams&) = delete;
  SolverParams& operator=(const SolverParams&) = delete;
  cusolverDnParams_t get() const { return params_; }

 private:
  cusolverDnParams_t params_{};
};

}  // namespace

void CudaProvider::sym_eig(const Tensor& a, int64_t k, bool largest, Tensor& values,
                           Tensor& vectors) {
  checks_.sym_eig(a, k, values, vectors);
  const int64_t n = a.shape()[0];  // >= k >= 1
  const uint64_t count = static_cast<uint64_t>(n) * static_cast<uint64_t>(n);
  cudaStream_t s = begin();
  // The matrix in double, checked for non-finite entries (all of them, as the CPU provider
  // does) on the way: one flag comes back, naming the first.
  Tensor matrix = scratch(DType::F64, {n, n});
  Tensor first_bad = scratch(DType::I64, {1});
  cuda::widen_checked(matrix.data_as<double>(), a.data_as<const float>(), count,
                      static_cast<unsigned long long*>(first_bad.data()), s);
  uint64_t bad = 0;
  fetch(&bad, first_bad, sizeof bad);
  if (bad != 0) {
    const uint64_t i = count - bad;
    fail(ALLOY_ERR_INVALID_ARGUMENT, "sym_eig: a has a non-finite entry at [{}, {}]",
         i / static_cast<uint64_t>(n), i % static_cast<uint64_t>(n));
  }
  // The row-major lower triangle is the column-major upper one: cuSOLVER reads 'U' of the same
  // bytes. syevd gives every eigenvalue, ascending, and overwrites the matrix with the
  // eigenvectors (column-major, column j that of eigenvalue j).
  Tensor w = scratch(DType::F64, {n});
  Tensor info = scratch(DType::I32, {1});
  const SolverParams params;
  std::vector<char> host_work;  // kept until the solver is done (the fetch below)
  {
    auto lock = device_->lock_handles();
    cusolverDnHandle_t handle = device_->cusolver();
    std::size_t device_bytes = 0, host_bytes = 0;
    cuda::check(
        cusolverDnXsyevd_bufferSize(handle, params.get(), CUSOLVER_EIG_MODE_VECTOR,
                                    CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F, matrix.data(), n,
                                    CUDA_R_64F, w.data(), CUDA_R_64F, &device_bytes, &host_bytes),
        "sym_eig (workspace query)");
    Tensor work = scratch(DType::U8, {static_cast<int64_t>(device_bytes)});
    host_work.resize(host_bytes);
    cuda::check(
        cusolverDnXsyevd(handle, params.get(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, n,
                         CUDA_R_64F, matrix.data(), n, CUDA_R_64F, w.data(), CUDA_R_64F,
                         work.data(), device_bytes, host_bytes ? host_work.data() : nullptr,
                         host_bytes, info.data_as<int>()),
        "sym_eig (syevd)");
  }
  cuda::pick_eigenpairs(values.data_as<float>(), vectors.data_as<float>(), w.data_as<double>(),
                        matrix.data_as<double>(), n, k, largest, s);
  int status = 0;
  fetch(&status, info, sizeof status);
  if (status != 0) {
    fail(ALLOY_ERR_INTERNAL, "sym_eig: cuSOLVER syevd did not converge on a [{}, {}] (info {})", n,
         n, status);
  }
}

void CudaProvider::svd(const Tensor& a, int64_t k, Tensor& u, Tensor& s, Tensor& v) {
  checks_.svd(a, k, u, s, v);
  const int64_t m = a.shape()[0], n = a.shape()[1];
  const uint64_t count = static_cast<uint64_t>(m) * static_cast<uint64_t>(n);
  cudaStream_t stream = begin();
  // gesvd factors column-major matrices with at least as many rows as columns. The row-major
  // bytes of a are a^T column-major, which has n rows: used as they are when n >= m, else a is
  // transposed first so that the solver sees a itself (m rows).
  const bool wide = n >= m;
  Tensor transposed;
  if (!wide) {
    transposed = scratch(DType::F32, {n, m});
    permute(transposed, a, {1, 0});
  }
  const Tensor& source = wide ? a : transposed;
  const int64_t rows = wide ? n : m, cols = wide ? m : n;
  Tensor matrix = scratch(DType::F64, {cols, rows});
  Tensor first_bad = scratch(DType::I64, {1});
  cuda::widen_checked(matrix.data_as<double>(), source.data_as<const float>(), count,
                      static_cast<unsigned long long*>(first_bad.data()), stream);
  uint64_t bad = 0;
  fetch(&bad, first_bad, sizeof bad);
  if (bad != 0) {
    const uint64_t i = count - bad;  // an index into `source`, row-major [cols, rows]
    const uint64_t r = i / static_cast<uint64_t>(rows), c = i % static_cast<uint64_t>(rows);
    fail(ALLOY_ERR_INVALID_ARGUMENT, "svd: a has a non-finite entry at [{}, {}]", wide ? r : c,
         wide ? c : r);
  }
  Tensor values = scratch(DType::F64, {cols});
  Tensor left = scratch(DType::F64, {cols, rows});   // column-major [rows, cols]
  Tensor right = scratch(DType::F64, {cols, cols});  // column-major [cols, cols], V^T
  Tensor info = scratch(DType::I32, {1});
  const SolverParams params;
  std::vector<char> host_work;  // kept until the solver is done (the fetch below)
  {
    auto lock = device_->lock_handles();
    cusolverDnHandle_t handle = device_->cusolver();
    std::size_t device_bytes = 0, host_bytes = 0;
    cuda::check(cusolverDnXgesvd_bufferSize(handle, params.get(), 'S', 'S', rows, cols, CUDA_R_64F,
                                            matrix.data(), rows, CUDA_R_64F, values.data(),
                                            CUDA_R_64F, left.data(), rows, CUDA_R_64F, right.data(),
                                            cols, CUDA_R_64F, &device_bytes, &host_bytes),
                "svd (workspace query)");
    Tensor work = scratch(DType::U8, {static_cast<int64_t>(device_bytes)});
    host_work.resize(host_bytes);
    cuda::check(
        cusolverDnXgesvd(handle, params.get(), 'S', 'S', rows, cols, CUDA_R_64F, matrix.data(),
                         rows, CUDA_R_64F, values.data(), CUDA_R_64F, left.data(), rows, CUDA_R_64F,
                         right.data(), cols, CUDA_R_64F, work.data(), device_bytes,
                         host_bytes ? host_work.data() : nullptr, host_bytes, info.data_as<int>()),
        "svd (gesvd)");
  }
  // The solver's matrix is a^T (wide: a = V S U^T) or a (a = U S V^T).
  Tensor& from_left = wide ? v : u;
  Tensor& from_right = wide ? u : v;
  cuda::pick_singular_triplets(from_left.data_as<float>(), s.data_as<float>(),
                               from_right.data_as<float>(), left.data_as<double>(),
                               values.data_as<double>(), right.data_as<double>(), rows, cols, k,
                               stream);
  int status = 0;
  fetch(&status, info, sizeof status);
  if (status != 0) {
    fail(ALLOY_ERR_INTERNAL, "svd: cuSOLVER gesvd did not converge on a [{}, {}] (info {})", m, n,
         status);
  }
}

}  // namespace alloy
