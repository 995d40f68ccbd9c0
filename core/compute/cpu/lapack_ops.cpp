#include "compute/cpu/lapack_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <alloy/alloy.h>

#include "error.hpp"

// LAPACK's Fortran interface (gfortran's calling convention: every argument by reference, the
// lengths of character arguments appended).
extern "C" void dsyevr_(const char* jobz, const char* range, const char* uplo, const int* n,
                        double* a, const int* lda, const double* vl, const double* vu,
                        const int* il, const int* iu, const double* abstol, int* m, double* w,
                        double* z, const int* ldz, int* isuppz, double* work, const int* lwork,
                        int* iwork, const int* liwork, int* info, std::size_t jobz_len,
                        std::size_t range_len, std::size_t uplo_len);
extern "C" void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda,
                        double* s, double* u, const int* ldu, double* vt, const int* ldvt,
                        double* work, const int* lwork, int* iwork, int* info,
                        std::size_t jobz_len);

namespace alloy::cpu {
namespace {

// LAPACK indexes with 32-bit ints.
int lapack_dim(const char* op, const Tensor& a) {
  const int64_t rows = a.shape()[0], cols = a.shape()[1];
  if (rows > INT32_MAX / std::max<int64_t>(cols, 1)) {
    fail(ALLOY_ERR_UNSUPPORTED, "{}: a [{}, {}] is too large for LAPACK's 32-bit indices", op, rows,
         cols);
  }
  return static_cast<int>(rows);
}

}  // namespace

void sym_eig(const Tensor& a, int64_t k, bool largest, Tensor& values, Tensor& vectors) {
  const int64_t n64 = a.shape()[0];
  const int n = lapack_dim("sym_eig", a);
  const auto* src = static_cast<const float*>(a.data());
  // Row-major lower triangle = column-major upper triangle: LAPACK reads 'U' of the same bytes.
  std::vector<double> matrix(static_cast<std::size_t>(n) * n);
  for (std::size_t i = 0; i < matrix.size(); ++i) {
    if (!std::isfinite(src[i])) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "sym_eig: a has a non-finite entry at [{}, {}]",
           i / static_cast<std::size_t>(n), i % static_cast<std::size_t>(n));
    }
    matrix[i] = src[i];
  }
  // Eigenvalues are numbered 1..n ascending; the k largest are n-k+1..n.
  const int il = largest ? n - static_cast<int>(k) + 1 : 1;
  const int iu = largest ? n : static_cast<int>(k);
  const double vl = 0, vu = 0, abstol = 0;  // abstol 0: LAPACK's default accuracy
  int found = 0, info = 0;
  std::vector<double> w(static_cast<std::size_t>(n));
  std::vector<double> z(static_cast<std::size_t>(n) * static_cast<std::size_t>(k));
  std::vector<int> isuppz(2 * static_cast<std::size_t>(k));
  // Workspace query, then the work.
  double work_size = 0;
  int iwork_size = 0, query = -1;
  dsyevr_("V", "I", "U", &n, matrix.data(), &n, &vl, &vu, &il, &iu, &abstol, &found, w.data(),
          z.data(), &n, isuppz.data(), &work_size, &query, &iwork_size, &query, &info, 1, 1, 1);
  if (info != 0) fail(ALLOY_ERR_INTERNAL, "sym_eig: LAPACK dsyevr workspace query failed");
  int lwork = static_cast<int>(work_size), liwork = iwork_size;
  std::vector<double> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  dsyevr_("V", "I", "U", &n, matrix.data(), &n, &vl, &vu, &il, &iu, &abstol, &found, w.data(),
          z.data(), &n, isuppz.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1, 1);
  if (info != 0 || found != k) {
    fail(ALLOY_ERR_INTERNAL, "sym_eig: LAPACK dsyevr did not converge (info {}, {} of {} found)",
         info, found, k);
  }
  // dsyevr gives ascending values and column-major vectors (column j at z[j * n]).
  auto* out_values = static_cast<float*>(values.data());
  auto* out_vectors = static_cast<float*>(vectors.data());
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = largest ? k - 1 - i : i;
    out_values[i] = static_cast<float>(w[static_cast<std::size_t>(j)]);
    for (int64_t r = 0; r < n64; ++r) {
      out_vectors[r * k + i] = static_cast<float>(z[static_cast<std::size_t>(j * n64 + r)]);
    }
  }
}

void svd(const Tensor& a, int64_t k, Tensor& u, Tensor& s, Tensor& v) {
  lapack_dim("svd", a);
  const int64_t m64 = a.shape()[0], n64 = a.shape()[1];
  // The row-major bytes of a [m, n] are a^T column-major: LAPACK factors a^T = U' S V'^T, so
  // a = V' S U'^T: a's left vectors are the rows of V'^T, its right vectors the columns of U'.
  const int rows = static_cast<int>(n64), cols = static_cast<int>(m64);
  const int thin = std::min(rows, cols);
  const auto* src = static_cast<const float*>(a.data());
  std::vector<double> matrix(static_cast<std::size_t>(m64 * n64));
  for (std::size_t i = 0; i < matrix.size(); ++i) {
    if (!std::isfinite(src[i])) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "svd: a has a non-finite entry at [{}, {}]",
           i / static_cast<std::size_t>(n64), i % static_cast<std::size_t>(n64));
    }
    matrix[i] = src[i];
  }
  std::vector<double> values(static_cast<std::size_t>(thin));
  std::vector<double> left(static_cast<std::size_t>(rows) * thin);   // U' [rows, thin]
  std::vector<double> right(static_cast<std::size_t>(thin) * cols);  // V'^T [thin, cols]
  std::vector<int> iwork(8 * static_cast<std::size_t>(thin));
  double work_size = 0;
  int info = 0, query = -1;
  dgesdd_("S", &rows, &cols, matrix.data(), &rows, values.data(), left.data(), &rows, right.data(),
          &thin, &work_size, &query, iwork.data(), &info, 1);
  if (info != 0) fail(ALLOY_ERR_INTERNAL, "svd: LAPACK dgesdd workspace query failed");
  int lwork = static_cast<int>(work_size);
  std::vector<double> work(static_cast<std::size_t>(lwork));
  dgesdd_("S", &rows, &cols, matrix.data(), &rows, values.data(), left.data(), &rows, right.data(),
          &thin, work.data(), &lwork, iwork.data(), &info, 1);
  if (info != 0) {
    fail(ALLOY_ERR_INTERNAL, "svd: LAPACK dgesdd did not converge on a [{}, {}] (info {})", m64,
         n64, info);
  }
  auto* out_u = static_cast<float*>(u.data());
  auto* out_s = static_cast<float*>(s.data());
  auto* out_v = static_cast<float*>(v.data());
  for (int64_t j = 0; j < k; ++j) {
    out_s[j] = static_cast<float>(values[static_cast<std::size_t>(j)]);
    for (int64_t i = 0; i < m64; ++i) {  // u[i, j] = V'^T[j, i], column-major (ld thin)
      out_u[i * k + j] = static_cast<float>(right[static_cast<std::size_t>(j + i * thin)]);
    }
    for (int64_t i = 0; i < n64; ++i) {  // v[i, j] = U'[i, j], column-major (ld rows)
      out_v[i * k + j] = static_cast<float>(left[static_cast<std::size_t>(i + j * rows)]);
    }
  }
}

}  // namespace alloy::cpu
