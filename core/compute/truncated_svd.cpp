#include "compute/truncated_svd.hpp"

#include <algorithm>
#include <cmath>

#include <alloy/alloy.h>

#include "compute/op_checks.hpp"
#include "error.hpp"

namespace alloy {
namespace {

// An orthonormal basis of the columns of y [rows, cols] (rows >= cols): the left singular vectors
// of its thin SVD. Slower than a QR factorisation by a constant, but every provider has it, and
// it stays orthonormal when y is rank-deficient.
Tensor orthonormal_columns(Provider& p, const Tensor& y) {
  const int64_t rows = y.shape()[0], cols = y.shape()[1];
  Tensor q = p.allocate(DType::F32, {rows, cols});
  Tensor s = p.allocate(DType::F32, {cols});
  Tensor v = p.allocate(DType::F32, {cols, cols});
  p.svd(y, cols, q, s, v);
  return q;
}

// out [rows, cols] = op(a) @ b
Tensor product(Provider& p, bool trans_a, const Tensor& a, const Tensor& b) {
  Tensor out = p.allocate(DType::F32, {a.shape()[trans_a ? 1 : 0], b.shape()[1]});
  p.gemm(trans_a, false, 1.0, a, b, 0.0, out);
  return out;
}

void randomized_svd(Provider& p, const Tensor& a, int64_t k, int64_t samples, Tensor& u, Tensor& s,
                    Tensor& v, const RandomizedSvdOptions& options) {
  // The sketch and every step below would turn one NaN into a matrix of them; refuse it as the
  // exact method does.
  if (!std::isfinite(p.reduce(ALLOY_REDUCE_L2_NORM, a))) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "svd: a {} has a non-finite entry", shape_string(a.shape()));
  }
  const int64_t n = a.shape()[1];
  Tensor sketch = p.allocate(DType::F32, {n, samples});
  p.fill_random(sketch, Distribution::normal, 0.0, 1.0, options.seed);
  // Q spans the range of a's largest singular directions; each power iteration multiplies the
  // gap between kept and dropped singular values by itself (orthonormalising in between keeps
  // the small ones from drowning in rounding).
  Tensor q = orthonormal_columns(p, product(p, false, a, sketch));
  for (int64_t i = 0; i < options.power_iterations; ++i) {
    const Tensor z = orthonormal_columns(p, product(p, true, a, q));
    q = orthonormal_columns(p, product(p, false, a, z));
  }
  // a ~ Q Q^T a = Q (B), B = Q^T a [samples, n]: its SVD gives a's.
  const Tensor b = product(p, true, q, a);
  Tensor small_u = p.allocate(DType::F32, {samples, k});
  p.svd(b, k, small_u, s, v);
  p.gemm(false, false, 1.0, q, small_u, 0.0, u);
}

}  // namespace

void truncated_svd(Provider& p, SvdMethod method, const Tensor& a, int64_t k, Tensor& u, Tensor& s,
                   Tensor& v, const RandomizedSvdOptions& options) {
  if (method != SvdMethod::exact && method != SvdMethod::randomized) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "svd: unknown method {} (ALLOY_SVD_EXACT or _RANDOMIZED)",
         static_cast<int32_t>(method));
  }
  OpChecks(p.device()).svd(a, k, u, s, v);
  if (options.oversampling < 0 || options.power_iterations < 0) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "svd: oversampling {} and power iterations {} must be >= 0",
         options.oversampling, options.power_iterations);
  }
  const int64_t full = std::min(a.shape()[0], a.shape()[1]);
  const int64_t samples = std::min(k + options.oversampling, full);
  if (method == SvdMethod::exact || samples == full) {
    p.svd(a, k, u, s, v);
    return;
  }
  randomized_svd(p, a, k, samples, u, s, v, options);
}

}  // namespace alloy
