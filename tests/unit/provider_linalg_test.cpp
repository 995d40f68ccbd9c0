// Provider conformance of the linear-algebra ops: sym_eig (ABI 1.2) against matrices built with
// known eigenpairs, truncated SVD (ABI 1.4, exact and randomized) against matrices built with known
// singular values, and their argument rules. Parameterised over providers like provider_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "compute/provider.hpp"
#include "compute/truncated_svd.hpp"
#include "error.hpp"
#include "provider_fixture.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using ::testing::HasSubstr;

// An orthonormal basis of R^n (Gram-Schmidt of seeded random vectors, in double), row i = q_i.
std::vector<std::vector<double>> orthonormal_basis(int64_t n, uint32_t seed) {
  const std::vector<float> raw = test::random_floats(static_cast<std::size_t>(n * n), seed);
  std::vector<std::vector<double>> q;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> v(raw.begin() + i * n, raw.begin() + (i + 1) * n);
    for (const auto& u : q) {
      double d = 0;
      for (int64_t j = 0; j < n; ++j) d += u[j] * v[j];
      for (int64_t j = 0; j < n; ++j) v[j] -= d * u[j];
    }
    double norm = 0;
    for (const double x : v) norm += x * x;
    for (double& x : v) x /= std::sqrt(norm);
    q.push_back(v);
  }
  return q;
}

class ProviderLinalgTest : public test::ProviderFixture {
 protected:
  // A = sum_i lambda_i q_i q_i^T with the given eigenvalues, and the basis.
  Tensor symmetric(const std::vector<double>& eigenvalues, uint32_t seed,
                   std::vector<std::vector<double>>* basis) {
    const auto n = static_cast<int64_t>(eigenvalues.size());
    *basis = orthonormal_basis(n, seed);
    std::vector<float> a(static_cast<std::size_t>(n * n));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = 0; c < n; ++c) {
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += eigenvalues[i] * (*basis)[i][r] * (*basis)[i][c];
        a[r * n + c] = static_cast<float>(sum);
      }
    }
    return tensor(a, {n, n});
  }
};

TEST_P(ProviderLinalgTest, SymEigFindsTheLargestAndSmallestEigenpairs) {
  const std::vector<double> eigenvalues = {5.0, -3.0, 2.0, 0.5, 9.0, -1.0, 0.0, 4.0};
  const int64_t n = 8;
  std::vector<std::vector<double>> q;
  const Tensor a = symmetric(eigenvalues, 11, &q);
  for (const bool largest : {true, false}) {
    SCOPED_TRACE(largest ? "largest" : "smallest");
    const int64_t k = 3;
    Tensor w = p().allocate(DType::F32, {k});
    Tensor v = p().allocate(DType::F32, {n, k});
    p().sym_eig(a, k, largest, w, v);
    std::vector<double> sorted = eigenvalues;
    std::sort(sorted.begin(), sorted.end());
    if (largest) std::reverse(sorted.begin(), sorted.end());
    const std::vector<float> got_w = values(w);
    const std::vector<float> got_v = values(v);
    for (int64_t i = 0; i < k; ++i) {
      EXPECT_NEAR(got_w[i], sorted[i], 1e-5) << "value " << i;
      // Column i is +-q of that eigenvalue.
      const auto which = std::find(eigenvalues.begin(), eigenvalues.end(), sorted[i]);
      const std::vector<double>& want = q[which - eigenvalues.begin()];
      double d = 0;
      for (int64_t r = 0; r < n; ++r) d += got_v[r * k + i] * want[r];
      EXPECT_NEAR(std::fabs(d), 1.0, 1e-5) << "vector " << i;
    }
  }
}

TEST_P(ProviderLinalgTest, SymEigOfAllPairsReconstructsTheMatrixAndReadsOneTriangle) {
  const int64_t n = 6;
  std::vector<std::vector<double>> q;
  Tensor a = symmetric({1.0, 2.0, 3.0, -4.0, 0.25, 7.0}, 3, &q);
  const std::vector<float> original = values(a);
  // Garbage above the diagonal must not matter: only the lower triangle is read.
  std::vector<float> lower = original;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = r + 1; c < n; ++c) lower[r * n + c] = 1e3f;
  }
  const Tensor a_lower = tensor(lower, {n, n});
  Tensor w = p().allocate(DType::F32, {n});
  Tensor v = p().allocate(DType::F32, {n, n});
  p().sym_eig(a_lower, n, true, w, v);
  const std::vector<float> wv = values(w), vv = values(v);
  EXPECT_TRUE(std::is_sorted(wv.rbegin(), wv.rend()));  // descending
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      double sum = 0, gram = 0;
      for (int64_t i = 0; i < n; ++i) {
        sum += wv[i] * vv[r * n + i] * vv[c * n + i];
        gram += vv[i * n + r] * vv[i * n + c];  // V^T V = I
      }
      EXPECT_NEAR(sum, original[r * n + c], 1e-5) << r << "," << c;
      EXPECT_NEAR(gram, r == c ? 1.0 : 0.0, 1e-5) << r << "," << c;
    }
  }
}

TEST_P(ProviderLinalgTest, SymEigRejectsBadArguments) {
  const Tensor square = tensor(std::vector<float>(9, 1.0f), {3, 3});
  Tensor w = p().allocate(DType::F32, {2});
  Tensor v = p().allocate(DType::F32, {3, 2});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, {
    Tensor v3 = p().allocate(DType::F32, {2, 2});
    p().sym_eig(tensor(std::vector<float>(6, 1.0f), {2, 3}), 2, true, w, v3);
  });
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().sym_eig(square, 0, true, w, v));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().sym_eig(square, 4, true, w, v));
  Tensor wrong = p().allocate(DType::F32, {3, 3});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().sym_eig(square, 2, true, w, wrong));
  std::vector<float> nan(9, 1.0f);
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  const Error e = test::thrown_error([&] { p().sym_eig(tensor(nan, {3, 3}), 2, true, w, v); });
  EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(e.what(), HasSubstr("non-finite entry at [1, 0]"));
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, {
    Tensor ro = read_only(w);
    p().sym_eig(square, 2, true, ro, v);
  });
}

// A [m, n] matrix sum_i s_i u_i v_i^T with orthonormal u_i, v_i (seeded) and the given singular
// values, and its values in double.
struct Spectral {
  Tensor a;
  std::vector<double> values;  // row-major
};

class ProviderSvdTest : public ProviderLinalgTest {
 protected:
  Spectral with_spectrum(int64_t m, int64_t n, const std::vector<double>& singular, uint32_t seed) {
    const auto left = orthonormal_basis(m, seed);
    const auto right = orthonormal_basis(n, seed + 1);
    Spectral out;
    out.values.assign(static_cast<std::size_t>(m * n), 0.0);
    for (std::size_t i = 0; i < singular.size(); ++i) {
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < n; ++c)
          out.values[r * n + c] += singular[i] * left[i][r] * right[i][c];
      }
    }
    out.a = tensor(std::vector<float>(out.values.begin(), out.values.end()), {m, n});
    return out;
  }

  struct Triplets {
    std::vector<float> u, s, v;
  };
  Triplets decompose(SvdMethod method, const Tensor& a, int64_t k) {
    const int64_t m = a.shape()[0], n = a.shape()[1];
    Tensor u = p().allocate(DType::F32, {m, k});
    Tensor s = p().allocate(DType::F32, {k});
    Tensor v = p().allocate(DType::F32, {n, k});
    truncated_svd(p(), method, a, k, u, s, v);
    return {values(u), values(s), values(v)};
  }

  // ||a - u diag(s) v^T||_F, in double.
  static double residual(const std::vector<double>& a, int64_t m, int64_t n, const Triplets& t) {
    const auto k = static_cast<int64_t>(t.s.size());
    double sum = 0;
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = 0; c < n; ++c) {
        double approx = 0;
        for (int64_t i = 0; i < k; ++i) approx += double(t.u[r * k + i]) * t.s[i] * t.v[c * k + i];
        sum += (a[r * n + c] - approx) * (a[r * n + c] - approx);
      }
    }
    return std::sqrt(sum);
  }

  // Largest |X^T X - I| over the columns of X [rows, k].
  static double orthonormality_error(const std::vector<float>& x, int64_t rows, int64_t k) {
    double worst = 0;
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < k; ++j) {
        double dot = 0;
        for (int64_t r = 0; r < rows; ++r) dot += double(x[r * k + i]) * x[r * k + j];
        worst = std::max(worst, std::fabs(dot - (i == j ? 1.0 : 0.0)));
      }
    }
    return worst;
  }

  // sqrt(sum of the squared singular values after the k largest): the best error of rank k.
  static double optimal(std::vector<double> singular, int64_t k) {
    std::sort(singular.rbegin(), singular.rend());
    double sum = 0;
    for (std::size_t i = static_cast<std::size_t>(k); i < singular.size(); ++i) {
      sum += singular[i] * singular[i];
    }
    return std::sqrt(sum);
  }
};

// Eckart-Young: the rank-k truncation's error is the root of the dropped squared singular values,
// for every k, on a tall and a wide matrix (the CUDA provider factors one of them transposed).
TEST_P(ProviderSvdTest, ReconstructionErrorFallsWithRankAsEckartYoungSays) {
  const std::vector<double> singular = {6.0, 0.5, 4.0, 3.0, 2.0, 1.0};
  for (const auto& [m, n] : {std::pair<int64_t, int64_t>{9, 6}, {6, 9}}) {
    SCOPED_TRACE(::testing::Message() << "a [" << m << ", " << n << "]");
    const Spectral a = with_spectrum(m, n, singular, 5);
    double previous = 1e9;
    for (int64_t k = 1; k <= 6; ++k) {
      SCOPED_TRACE(::testing::Message() << "rank " << k);
      const Triplets t = decompose(SvdMethod::exact, a.a, k);
      const double error = residual(a.values, m, n, t);
      EXPECT_NEAR(error, optimal(singular, k), 1e-5);
      EXPECT_LT(error, previous);
      previous = error;
      std::vector<double> sorted = singular;
      std::sort(sorted.rbegin(), sorted.rend());
      for (int64_t i = 0; i < k; ++i) EXPECT_NEAR(t.s[i], sorted[i], 1e-5) << "value " << i;
      EXPECT_LT(orthonormality_error(t.u, m, k), 1e-5);
      EXPECT_LT(orthonormality_error(t.v, n, k), 1e-5);
    }
  }
}

// A matrix of a merge's size with a task vector's slowly decaying spectrum: at every rank the
// randomized method stays within 1% of the exact truncation's error, and repeats itself exactly.
TEST_P(ProviderSvdTest, RandomizedSvdIsNearOptimalOnADecayingSpectrum) {
  const int64_t m = 96, n = 64;
  std::vector<double> singular;
  for (int i = 0; i < 64; ++i) singular.push_back(10.0 * std::pow(0.9, i));
  const Spectral a = with_spectrum(m, n, singular, 9);
  for (const int64_t k : {1, 6, 20}) {
    SCOPED_TRACE(::testing::Message() << "rank " << k);
    const Triplets exact = decompose(SvdMethod::exact, a.a, k);
    const Triplets randomized = decompose(SvdMethod::randomized, a.a, k);
    const double best = optimal(singular, k);
    EXPECT_NEAR(residual(a.values, m, n, exact), best, 1e-4 * best);
    EXPECT_LT(residual(a.values, m, n, randomized), 1.01 * best);
    EXPECT_LT(orthonormality_error(randomized.u, m, k), 1e-4);
    EXPECT_LT(orthonormality_error(randomized.v, n, k), 1e-4);
    EXPECT_EQ(decompose(SvdMethod::randomized, a.a, k).u, randomized.u);  // a fixed seed
  }
  // A sketch as wide as the matrix is no sketch: the exact method's result.
  const Triplets near_full = decompose(SvdMethod::randomized, a.a, 60);
  EXPECT_EQ(near_full.s, decompose(SvdMethod::exact, a.a, 60).s);
}

// A rank-deficient matrix (rank 2 of 8): the kept triplets reconstruct it, and asking for more
// than its rank gives zeros, not garbage, on both methods.
TEST_P(ProviderSvdTest, RankDeficientMatricesReconstructExactly) {
  const Spectral a = with_spectrum(40, 30, {3.0, 1.5}, 2);
  for (const SvdMethod method : {SvdMethod::exact, SvdMethod::randomized}) {
    const Triplets t = decompose(method, a.a, 4);
    EXPECT_LT(residual(a.values, 40, 30, t), 1e-5);
    EXPECT_NEAR(t.s[2], 0.0, 1e-5);
    EXPECT_NEAR(t.s[3], 0.0, 1e-5);
  }
}

TEST_P(ProviderSvdTest, SvdRejectsBadArguments) {
  const Tensor a = tensor(test::random_floats(12, 1), {4, 3});
  Tensor u = p().allocate(DType::F32, {4, 2});
  Tensor s = p().allocate(DType::F32, {2});
  Tensor v = p().allocate(DType::F32, {3, 2});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().svd(tensor(test::random_floats(12, 1), {12}), 2, u, s, v));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().svd(a, 0, u, s, v));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().svd(a, 4, u, s, v));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, {
    Tensor wrong = p().allocate(DType::F32, {3, 3});
    p().svd(a, 2, u, s, wrong);
  });
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, {
    Tensor inside_u = u.rows(0, 3);  // v's shape, u's memory
    p().svd(a, 2, u, s, inside_u);
  });
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, {
    Tensor ro = read_only(s);
    p().svd(a, 2, u, ro, v);
  });
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT,
                truncated_svd(p(), static_cast<SvdMethod>(7), a, 2, u, s, v));
  std::vector<float> bad = test::random_floats(12, 1);
  bad[7] = std::numeric_limits<float>::infinity();
  const Tensor infinite = tensor(bad, {4, 3});
  Tensor u1 = p().allocate(DType::F32, {4, 1}), s1 = p().allocate(DType::F32, {1});
  Tensor v1 = p().allocate(DType::F32, {3, 1});
  const Error e = test::thrown_error([&] { p().svd(infinite, 1, u1, s1, v1); });
  EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(e.what(), HasSubstr("non-finite entry at [2, 1]"));
  // The randomized method refuses it before sketching (a [40, 30] with k 2 sketches).
  std::vector<float> large = test::random_floats(1200, 3);
  large[100] = std::numeric_limits<float>::quiet_NaN();
  Tensor u2 = p().allocate(DType::F32, {40, 2}), s2 = p().allocate(DType::F32, {2});
  Tensor v2 = p().allocate(DType::F32, {30, 2});
  const Error r = test::thrown_error([&] {
    truncated_svd(p(), SvdMethod::randomized, tensor(large, {40, 30}), 2, u2, s2, v2);
  });
  EXPECT_EQ(r.status(), ALLOY_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(r.what(), HasSubstr("non-finite entry"));
}

// One line per provider; the CUDA instance skips, saying why, without a module or device.
INSTANTIATE_TEST_SUITE_P(Cpu, ProviderLinalgTest, ::testing::Values("cpu"),
                         test::provider_test_name);
INSTANTIATE_TEST_SUITE_P(Cuda, ProviderLinalgTest, ::testing::Values("cuda:0"),
                         test::provider_test_name);

INSTANTIATE_TEST_SUITE_P(Cpu, ProviderSvdTest, ::testing::Values("cpu"), test::provider_test_name);
INSTANTIATE_TEST_SUITE_P(Cuda, ProviderSvdTest, ::testing::Values("cuda:0"),
                         test::provider_test_name);

}  // namespace
}  // namespace alloy
