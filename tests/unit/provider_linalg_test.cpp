// Provider conformance of the linear-algebra ops (ABI 1.2): sym_eig against matrices built with
// known eigenpairs, and its argument rules. Parameterised over providers like provider_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "compute/provider.hpp"
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

// One line per provider; the CUDA instance skips, saying why, without a module or device.
INSTANTIATE_TEST_SUITE_P(Cpu, ProviderLinalgTest, ::testing::Values("cpu"),
                         test::provider_test_name);
INSTANTIATE_TEST_SUITE_P(Cuda, ProviderLinalgTest, ::testing::Values("cuda:0"),
                         test::provider_test_name);

}  // namespace
}  // namespace alloy
