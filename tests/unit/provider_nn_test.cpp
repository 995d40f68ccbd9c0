// Provider conformance of the neural-network ops (the model runtime's): every op against a
// plain reference computed here in double, every backward op also against central differences
// of its forward, and the argument rules. Parameterised over providers like provider_test.cpp:
// one this build or machine lacks skips and says why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <thread>

#include "compute/provider.hpp"
#include "error.hpp"
#include "provider_fixture.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using ::testing::HasSubstr;

using Doubles = std::vector<double>;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

int64_t numel(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

std::vector<float> random(const Shape& shape, uint32_t seed, float low = -1.0f, float high = 1.0f) {
  return test::random_floats(static_cast<std::size_t>(numel(shape)), seed, low, high);
}

Doubles widen(const std::vector<float>& values) { return Doubles(values.begin(), values.end()); }

// Reports the first element where |got - want| > atol + rtol * |want|.
void expect_close(const std::vector<float>& got, const Doubles& want, double atol, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(got[i] - want[i]);
    if (!(error <= atol + rtol * std::fabs(want[i]))) {
      ADD_FAILURE() << what << ": element " << i << " of " << got.size() << " is " << got[i]
                    << ", expected " << want[i] << " (error " << error << ")";
      return;
    }
  }
}

// The gradient of f at x by central differences, in double. With h = 1e-6 on functions of
// values of order 1 the truncation error (h^2 f''') and the rounding error (1e-16 / h) both
// stay below 1e-9, far under the F32 tolerances the gradients are held to.
Doubles numeric_gradient(const std::function<double(const Doubles&)>& f, Doubles x,
                         double h = 1e-6) {
  Doubles gradient(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = f(x);
    x[i] = saved - h;
    const double down = f(x);
    x[i] = saved;
    gradient[i] = (up - down) / (2 * h);
  }
  return gradient;
}

double dot(const Doubles& a, const Doubles& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

class ProviderNnTest : public test::ProviderFixture {
 protected:
  Tensor zeros(const Shape& shape) { return p().allocate(DType::F32, shape); }
  Tensor filled(const Shape& shape, float value) {
    Tensor t = zeros(shape);
    p().fill(t, value);
    return t;
  }
  Tensor ints(const std::vector<int32_t>& values) {
    return raw_tensor(DType::I32, values, {static_cast<int64_t>(values.size())});
  }
  std::vector<int32_t> int_values(const Tensor& t) { return raw_values<int32_t>(t); }
};

// --- tensor views ------------------------------------------------------------------------

TEST_P(ProviderNnTest, ReshapedAndRowsAreViewsOfTheSameMemory) {
  std::vector<float> data(24);
  std::iota(data.begin(), data.end(), 0.0f);
  Tensor t = tensor(data, {4, 6});
  const Tensor flat = t.reshaped({2, 3, 4});
  EXPECT_EQ(flat.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(flat.buffer(), t.buffer());
  EXPECT_EQ(values(flat), data);
  Tensor middle = t.rows(1, 2);
  EXPECT_EQ(middle.shape(), (Shape{2, 6}));
  EXPECT_EQ(values(middle), std::vector<float>(data.begin() + 6, data.begin() + 18));
  p().fill(middle, -1);  // writes land in t
  EXPECT_EQ(values(t)[5], 5.0f);
  EXPECT_EQ(values(t)[6], -1.0f);
  EXPECT_EQ(values(t)[17], -1.0f);
  EXPECT_EQ(values(t)[18], 18.0f);
  EXPECT_EQ(values(flat.rows(1, 1).reshaped({12}))[0], -1.0f);  // a view of a view
  EXPECT_EQ(t.rows(4, 0).numel(), 0u);
  EXPECT_STATUS(ALLOY_ERR_SHAPE, t.reshaped({5, 5}));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, t.reshaped({-4, -6}));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, t.rows(3, 2));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, t.rows(-1, 1));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, t.rows(5, 0));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, tensor({1}, {1}).reshaped({}).rows(0, 1));
}

// --- gemm_batched ------------------------------------------------------------------------

// c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i], with a 2-D operand shared.
Doubles gemm_batched_reference(bool trans_a, bool trans_b, double alpha, const Doubles& a,
                               bool a_batched, const Doubles& b, bool b_batched, double beta,
                               const Doubles& c, int64_t batch, int64_t m, int64_t n, int64_t k) {
  Doubles out(c.size());
  for (int64_t i = 0; i < batch; ++i) {
    const double* ai = a.data() + (a_batched ? i * m * k : 0);
    const double* bi = b.data() + (b_batched ? i * k * n : 0);
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t col = 0; col < n; ++col) {
        double sum = 0;
        for (int64_t j = 0; j < k; ++j) {
          sum += (trans_a ? ai[j * m + r] : ai[r * k + j]) *
                 (trans_b ? bi[col * k + j] : bi[j * n + col]);
        }
        const int64_t o = (i * m + r) * n + col;
        out[o] = alpha * sum + beta * c[o];
      }
    }
  }
  return out;
}

TEST_P(ProviderNnTest, GemmBatchedMatchesTripleLoop) {
  const int64_t m = 13, n = 7, k = 19;
  uint32_t seed = 1;
  for (const int64_t batch : {1, 3}) {
    for (const auto& [a_batched, b_batched] :
         {std::pair{true, true}, {true, false}, {false, true}}) {
      for (const bool trans_a : {false, true}) {
        for (const bool trans_b : {false, true}) {
          for (const auto& [alpha, beta] : {std::pair{1.0, 0.0}, {-0.5, 2.0}}) {
            const Shape a_matrix = trans_a ? Shape{k, m} : Shape{m, k};
            const Shape b_matrix = trans_b ? Shape{n, k} : Shape{k, n};
            Shape a_shape = a_matrix;
            Shape b_shape = b_matrix;
            if (a_batched) a_shape.insert(a_shape.begin(), batch);
            if (b_batched) b_shape.insert(b_shape.begin(), batch);
            const std::vector<float> a = random(a_shape, ++seed);
            const std::vector<float> b = random(b_shape, ++seed);
            const std::vector<float> c = random({batch, m, n}, ++seed);
            Tensor tc = tensor(c, {batch, m, n});
            p().gemm_batched(trans_a, trans_b, alpha, tensor(a, a_shape), tensor(b, b_shape), beta,
                             tc);
            // Each entry sums k = 19 products of values in [-1, 1): F32 rounding error is at
            // most about k * 2^-24 * sum |a||b| < 19 * 6e-8 * 19 ~ 2e-5, usually far less.
            expect_close(
                values(tc),
                gemm_batched_reference(trans_a, trans_b, alpha, widen(a), a_batched, widen(b),
                                       b_batched, beta, widen(c), batch, m, n, k),
                2e-5, 1e-6,
                fmt::format("batch {} a {} b {} trans {} {} alpha {} beta {}", batch,
                            shape_string(a_shape), shape_string(b_shape), trans_a, trans_b, alpha,
                            beta));
          }
        }
      }
    }
  }
}

TEST_P(ProviderNnTest, GemmBatchedWithBetaZeroNeverReadsC) {
  const std::vector<float> a = random({2, 3, 4}, 10);
  Tensor c = filled({2, 3, 3}, kNaN);
  p().gemm_batched(false, true, 1.0, tensor(a, {2, 3, 4}), tensor(a, {2, 3, 4}), 0.0, c);
  for (const float v : values(c)) EXPECT_FALSE(std::isnan(v));
}

TEST_P(ProviderNnTest, GemmBatchedWithAnEmptyInnerDimensionScalesC) {
  Tensor c = filled({2, 3, 4}, 1.5f);
  p().gemm_batched(false, false, 1.0, zeros({2, 3, 0}), zeros({0, 4}), 2.0, c);
  EXPECT_EQ(values(c), std::vector<float>(24, 3.0f));
  p().gemm_batched(false, false, 1.0, zeros({2, 3, 0}), zeros({0, 4}), 0.0, c);
  EXPECT_EQ(values(c), std::vector<float>(24, 0.0f));
}

TEST_P(ProviderNnTest, GemmBatchedRejectsBadArguments) {
  const Tensor a = zeros({2, 3, 4});
  const Tensor b = zeros({2, 4, 5});
  Tensor c = zeros({2, 3, 5});
  EXPECT_NO_THROW(p().gemm_batched(false, false, 1, a, b, 0, c));
  const Error inner = test::thrown_error([&] { p().gemm_batched(false, true, 1, a, b, 0, c); });
  EXPECT_EQ(inner.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(inner.what(), HasSubstr("gemm_batched"));
  EXPECT_THAT(inner.what(), HasSubstr("[2, 4, 5]"));
  Tensor wrong_c = zeros({2, 5, 3});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().gemm_batched(false, false, 1, a, b, 0, wrong_c));
  const Tensor other_batch = zeros({3, 4, 5});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().gemm_batched(false, false, 1, a, other_batch, 0, c));
  const Tensor batch_of_one = zeros({1, 4, 5});  // not broadcast: pass it as 2-D
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().gemm_batched(false, false, 1, a, batch_of_one, 0, c));
  EXPECT_STATUS(ALLOY_ERR_SHAPE,
                p().gemm_batched(false, false, 1, zeros({3, 4}), zeros({4, 5}), 0, c));
  Tensor flat_c = zeros({3, 5});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().gemm_batched(false, false, 1, a, b, 0, flat_c));
  EXPECT_STATUS(ALLOY_ERR_DTYPE,
                p().gemm_batched(false, false, 1, a, p().allocate(DType::BF16, {2, 4, 5}), 0, c));
  Tensor square = zeros({2, 3, 3});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT,
                p().gemm_batched(false, false, 1, square, square, 0, square));
  Tensor frozen = read_only(c);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().gemm_batched(false, false, 1, a, b, 0, frozen));
}

// --- permute, broadcast, sum_to ----------------------------------------------------------

std::vector<float> permute_reference(const std::vector<float>& src, const Shape& shape,
                                     const std::vector<int>& perm) {
  const std::size_t rank = shape.size();
  std::vector<int64_t> strides(rank, 1);
  for (std::size_t i = rank; i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  Shape out_shape(rank);
  for (std::size_t i = 0; i < rank; ++i) out_shape[i] = shape[perm[i]];
  std::vector<float> out(src.size());
  for (int64_t flat = 0; flat < static_cast<int64_t>(src.size()); ++flat) {
    int64_t rest = flat;
    int64_t offset = 0;
    for (std::size_t i = rank; i-- > 0;) {
      offset += (rest % out_shape[i]) * strides[perm[i]];
      rest /= out_shape[i];
    }
    out[flat] = src[offset];
  }
  return out;
}

TEST_P(ProviderNnTest, PermuteMatchesIndexArithmetic) {
  const std::vector<std::pair<Shape, std::vector<int>>> cases = {
      {{5, 7}, {1, 0}},
      {{5, 7}, {0, 1}},
      {{3, 5, 7}, {0, 1, 2}},
      {{3, 5, 7}, {2, 1, 0}},
      {{3, 5, 7}, {1, 0, 2}},
      {{3, 5, 7}, {0, 2, 1}},
      {{3, 1, 7}, {2, 0, 1}},
      {{2, 3, 5, 7}, {3, 2, 1, 0}},
      {{2, 3, 5, 7}, {0, 2, 1, 3}},  // heads <-> tokens, as attention does
      {{2, 3, 5, 7}, {2, 0, 3, 1}},
      {{65, 9, 129}, {1, 0, 2}},  // big enough for several threads
      {{65, 9, 129}, {2, 1, 0}},
  };
  uint32_t seed = 20;
  for (const auto& [shape, perm] : cases) {
    const std::vector<float> src = random(shape, ++seed);
    Shape out_shape(shape.size());
    for (std::size_t i = 0; i < shape.size(); ++i) out_shape[i] = shape[perm[i]];
    Tensor dst = zeros(out_shape);
    p().permute(dst, tensor(src, shape), perm);
    EXPECT_EQ(values(dst), permute_reference(src, shape, perm))
        << shape_string(shape) << " perm " << ::testing::PrintToString(perm);
  }
}

TEST_P(ProviderNnTest, PermuteRejectsBadArguments) {
  const Tensor src = zeros({2, 3, 4});
  Tensor dst = zeros({4, 3, 2});
  EXPECT_NO_THROW(p().permute(dst, src, {2, 1, 0}));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().permute(dst, src, {0, 1, 2}));
  for (const std::vector<int>& bad :
       std::vector<std::vector<int>>{{2, 1}, {2, 2, 0}, {3, 1, 0}, {-1, 1, 0}, {2, 1, 0, 3}}) {
    const Error e = test::thrown_error([&] { p().permute(dst, src, bad); });
    EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("perm"));
  }
  Tensor same = zeros({2, 2});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().permute(same, same, {1, 0}));
}

// src broadcast NumPy-style to `shape`.
Doubles broadcast_reference(const std::vector<float>& src, const Shape& src_shape,
                            const Shape& shape) {
  const std::size_t lead = shape.size() - src_shape.size();
  Doubles out(numel(shape));
  for (int64_t flat = 0; flat < static_cast<int64_t>(out.size()); ++flat) {
    int64_t rest = flat;
    int64_t offset = 0;
    int64_t stride = 1;
    for (std::size_t i = shape.size(); i-- > lead;) {
      const int64_t index = rest % shape[i];
      const int64_t dim = src_shape[i - lead];
      offset += (dim == 1 ? 0 : index) * stride;
      stride *= dim;
      rest /= shape[i];
    }
    out[flat] = src[offset];
  }
  return out;
}

const std::vector<std::pair<Shape, Shape>> kBroadcastCases = {
    // (small, big): small broadcasts to big
    {{1}, {1}},
    {{1}, {7}},
    {{1}, {3, 5, 7}},
    {{7}, {3, 5, 7}},
    {{1, 7}, {3, 5, 7}},
    {{1, 5, 7}, {3, 5, 7}},
    {{3, 1, 7}, {3, 5, 7}},
    {{5, 1}, {3, 5, 7}},
    {{3, 1, 1}, {3, 5, 7}},
    {{1, 5, 1}, {3, 5, 7}},
    {{3, 5, 1}, {3, 5, 7}},
    {{3, 5, 7}, {3, 5, 7}},
    {{2, 1, 4, 1}, {2, 3, 4, 5}},
    {{129}, {257, 50, 129}},  // a bias over [B, T, D]: many chunks of rows
    {{1, 50, 129}, {65, 50, 129}},
    {{257, 1}, {257, 131}},
};

TEST_P(ProviderNnTest, BroadcastMatchesNumpyRule) {
  uint32_t seed = 40;
  for (const auto& [small, big] : kBroadcastCases) {
    const std::vector<float> src = random(small, ++seed);
    Tensor dst = zeros(big);
    p().broadcast(dst, tensor(src, small));
    expect_close(values(dst), broadcast_reference(src, small, big), 0, 0,
                 shape_string(small) + " -> " + shape_string(big));
  }
}

TEST_P(ProviderNnTest, SumToIsTheGradientOfBroadcast) {
  uint32_t seed = 60;
  for (const auto& [small, big] : kBroadcastCases) {
    for (const double beta : {0.0, 0.5}) {
      const std::vector<float> src = random(big, ++seed);
      const std::vector<float> start = random(small, ++seed);
      // The reference: each src element added to the dst element it broadcast from.
      Doubles want(start.size());
      for (std::size_t i = 0; i < start.size(); ++i) want[i] = beta * start[i];
      std::vector<float> index(start.size());
      std::iota(index.begin(), index.end(), 0.0f);
      const Doubles from = broadcast_reference(index, small, big);
      for (std::size_t i = 0; i < src.size(); ++i)
        want[static_cast<std::size_t>(from[i])] += src[i];
      // beta 0 must not read dst: NaN there would otherwise survive.
      Tensor dst = beta == 0 ? filled(small, kNaN) : tensor(start, small);
      p().sum_to(dst, tensor(src, big), beta);
      // Summed in double and rounded once: within an ulp or two of the exact sum, plus the
      // sums of up to 65 * 50 terms whose cancellation leaves a small result (atol).
      expect_close(
          values(dst), want, 1e-6, 3e-7,
          shape_string(big) + " -> " + shape_string(small) + " beta " + std::to_string(beta));
    }
  }
}

TEST_P(ProviderNnTest, SumToOfAnEmptySourceScalesDst) {
  Tensor dst = tensor({1, 2, 3}, {3});
  p().sum_to(dst, zeros({0, 3}), 2.0);
  EXPECT_EQ(values(dst), (std::vector<float>{2, 4, 6}));
  p().sum_to(dst, zeros({4, 0, 3}), 0.0);
  EXPECT_EQ(values(dst), (std::vector<float>{0, 0, 0}));
}

TEST_P(ProviderNnTest, SumToDoesNotDependOnTheThreadCount) {
  const Shape big{300, 50, 64};
  const std::vector<float> src = random(big, 70);
  std::vector<std::vector<float>> results;
  for (const int threads : {1, 3}) {
    std::thread([&] {
      p().set_op_threads(threads);
      for (const Shape& small : {Shape{64}, Shape{1, 50, 64}, Shape{300, 1, 1}}) {
        Tensor dst = zeros(small);
        p().sum_to(dst, tensor(src, big), 0.0);
        results.push_back(values(dst));
      }
    }).join();
  }
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(results[i], results[i + 3]) << i;
}

TEST_P(ProviderNnTest, BroadcastAndSumToRejectBadArguments) {
  Tensor big = zeros({3, 5, 7});
  Tensor small = zeros({5, 1});
  EXPECT_NO_THROW(p().broadcast(big, small));
  EXPECT_NO_THROW(p().sum_to(small, big, 1));
  Tensor wrong = zeros({3, 7});
  const Error e = test::thrown_error([&] { p().broadcast(big, wrong); });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("broadcast"));
  EXPECT_THAT(e.what(), HasSubstr("[3, 7]"));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().sum_to(wrong, big, 0));
  Tensor higher = zeros({2, 3, 5, 7});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().broadcast(big, higher));  // src of higher rank
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().sum_to(higher, big, 0));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().sum_to(small, p().allocate(DType::F16, {3, 5, 7}), 0));
  Tensor view = big.reshaped({105}).rows(0, 7);
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().broadcast(big, view));
}

// --- concat, split -----------------------------------------------------------------------

TEST_P(ProviderNnTest, ConcatJoinsAndSplitCutsAlongAnyAxis) {
  const Shape whole{4, 6, 5};
  const std::vector<float> data = random(whole, 80);
  for (int axis = -3; axis < 3; ++axis) {
    const int a = axis < 0 ? axis + 3 : axis;
    // Three parts of lengths 1, 0 and the rest along the axis.
    std::vector<Shape> shapes(3, whole);
    shapes[0][a] = 1;
    shapes[1][a] = 0;
    shapes[2][a] = whole[a] - 1;
    std::vector<Tensor> parts;
    for (const Shape& s : shapes) parts.push_back(zeros(s));
    std::vector<Tensor*> outs;
    for (Tensor& t : parts) outs.push_back(&t);
    p().split(outs, tensor(data, whole), axis);
    // The reference: element (i0, i1, i2) of the whole goes to the part its index along the
    // axis falls in.
    for (int64_t flat = 0; flat < numel(whole); ++flat) {
      int64_t index[3] = {flat / 30, flat / 5 % 6, flat % 5};
      const int part = index[a] < 1 ? 0 : 2;
      if (part == 2) index[a] -= 1;
      const Shape& s = shapes[part];
      const int64_t offset = (index[0] * s[1] + index[1]) * s[2] + index[2];
      ASSERT_EQ(values(parts[part])[offset], data[flat]) << "axis " << axis << " element " << flat;
    }
    Tensor joined = zeros(whole);
    p().concat(joined, {&parts[0], &parts[1], &parts[2]}, axis);
    EXPECT_EQ(values(joined), data) << "axis " << axis;
  }
}

TEST_P(ProviderNnTest, ConcatOfManyRowsMatchesSplit) {
  const std::vector<float> a = random({300, 7, 64}, 81);
  const std::vector<float> b = random({300, 1, 64}, 82);
  const Tensor ta = tensor(a, {300, 7, 64});
  const Tensor tb = tensor(b, {300, 1, 64});
  Tensor joined = zeros({300, 8, 64});
  p().concat(joined, {&tb, &ta}, 1);  // a class token before the patch tokens
  Tensor back_a = zeros({300, 7, 64});
  Tensor back_b = zeros({300, 1, 64});
  p().split({&back_b, &back_a}, joined, -2);
  EXPECT_EQ(values(back_a), a);
  EXPECT_EQ(values(back_b), b);
}

TEST_P(ProviderNnTest, ConcatAndSplitRejectBadArguments) {
  const Tensor a = zeros({2, 3});
  const Tensor b = zeros({2, 4});
  Tensor dst = zeros({2, 7});
  EXPECT_NO_THROW(p().concat(dst, {&a, &b}, 1));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().concat(dst, {&a, &b}, 0));
  const Error e = test::thrown_error([&] { p().concat(dst, {&a, &a}, 1); });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("concat"));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().concat(dst, {&a, &b}, 2));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().concat(dst, {&a, &b}, -3));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().concat(dst, {}, 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().concat(dst, {&a, nullptr}, 1));
  const Tensor flat = zeros({14});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().concat(dst, {&flat}, 1));
  const Tensor inside = dst.reshaped({14}).rows(0, 8).reshaped({2, 4});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().concat(dst, {&a, &inside}, 1));
  Tensor pa = zeros({2, 3});
  Tensor pb = zeros({2, 4});
  EXPECT_NO_THROW(p().split({&pa, &pb}, dst, 1));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().split({&pb, &pb}, dst, 1));
  Tensor overlapping = dst.reshaped({14}).rows(0, 6).reshaped({2, 3});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().split({&overlapping, &pb}, dst, 1));
  Tensor integers = p().allocate(DType::I32, {2, 3});
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().split({&integers, &pb}, dst, 1));
  Tensor frozen = read_only(pa);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().split({&frozen, &pb}, dst, 1));
}

// --- layer_norm --------------------------------------------------------------------------

struct LayerNormReference {
  Doubles y, mean, rstd;
};

LayerNormReference layer_norm_reference(const Doubles& x, const Doubles& gamma, const Doubles& beta,
                                        double eps) {
  const std::size_t c = gamma.size();
  const std::size_t rows = x.size() / c;
  LayerNormReference r{Doubles(x.size()), Doubles(rows), Doubles(rows)};
  for (std::size_t i = 0; i < rows; ++i) {
    const double* row = x.data() + i * c;
    double mean = 0;
    for (std::size_t j = 0; j < c; ++j) mean += row[j];
    mean /= c;
    double var = 0;
    for (std::size_t j = 0; j < c; ++j) var += (row[j] - mean) * (row[j] - mean);
    var /= c;
    r.mean[i] = mean;
    r.rstd[i] = 1 / std::sqrt(var + eps);
    for (std::size_t j = 0; j < c; ++j) {
      r.y[i * c + j] = (row[j] - mean) * r.rstd[i] * gamma[j] + beta[j];
    }
  }
  return r;
}

// Rows with a mean far from 0, as activations have: a variance computed as E[x^2] - E[x]^2
// would lose most of its digits.
std::vector<float> offset_rows(const Shape& shape, uint32_t seed) {
  std::vector<float> x = random(shape, seed, -2.0f, 2.0f);
  const int64_t c = shape.back();
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += static_cast<float>(i / c % 5) * 3.0f;
  return x;
}

TEST_P(ProviderNnTest, LayerNormMatchesReference) {
  uint32_t seed = 100;
  for (const Shape& shape : {Shape{13, 37}, Shape{2, 9, 33}, Shape{1, 1, 5}, Shape{7},
                             Shape{151, 128}, Shape{2, 3, 4, 9}}) {
    const int64_t c = shape.back();
    const std::vector<float> x = offset_rows(shape, ++seed);
    const std::vector<float> gamma = random({c}, ++seed, 0.5f, 1.5f);
    const std::vector<float> beta = random({c}, ++seed);
    const int64_t rows = numel(shape) / c;
    Tensor y = zeros(shape);
    Tensor mean = zeros({rows});
    Tensor rstd = zeros(Shape(shape.begin(), shape.end() - 1));  // the [B, T] form
    p().layer_norm(y, mean, rstd, tensor(x, shape), tensor(gamma, {c}), tensor(beta, {c}), 1e-5);
    const LayerNormReference want = layer_norm_reference(widen(x), widen(gamma), widen(beta), 1e-5);
    // F32 statistics of at most 128 values are good to a few ulps (relative 1e-6); y = a
    // product of three such factors plus beta, |y| < ~6.
    const std::string what = shape_string(shape);
    expect_close(values(y), want.y, 1e-5, 1e-5, what + " y");
    expect_close(values(mean), want.mean, 1e-6, 1e-6, what + " mean");
    expect_close(values(rstd), want.rstd, 0, 1e-5, what + " rstd");
  }
}

// dy -> (dx, dgamma, dbeta) of y = layer_norm(x) in double.
void layer_norm_backward_reference(const Doubles& dy, const Doubles& x, const Doubles& gamma,
                                   const LayerNormReference& forward, Doubles* dx, Doubles* dgamma,
                                   Doubles* dbeta) {
  const std::size_t c = gamma.size();
  const std::size_t rows = x.size() / c;
  dx->assign(x.size(), 0);
  dgamma->assign(c, 0);
  dbeta->assign(c, 0);
  for (std::size_t i = 0; i < rows; ++i) {
    double mean_g = 0, mean_gx = 0;
    for (std::size_t j = 0; j < c; ++j) {
      const double xhat = (x[i * c + j] - forward.mean[i]) * forward.rstd[i];
      const double g = dy[i * c + j] * gamma[j];
      mean_g += g / c;
      mean_gx += g * xhat / c;
      (*dgamma)[j] += dy[i * c + j] * xhat;
      (*dbeta)[j] += dy[i * c + j];
    }
    for (std::size_t j = 0; j < c; ++j) {
      const double xhat = (x[i * c + j] - forward.mean[i]) * forward.rstd[i];
      (*dx)[i * c + j] = forward.rstd[i] * (dy[i * c + j] * gamma[j] - mean_g - xhat * mean_gx);
    }
  }
}

TEST_P(ProviderNnTest, LayerNormBackwardMatchesReferenceAndAccumulates) {
  uint32_t seed = 120;
  for (const Shape& shape : {Shape{13, 37}, Shape{2, 9, 33}, Shape{1, 5}, Shape{151, 128}}) {
    const int64_t c = shape.back();
    const int64_t rows = numel(shape) / c;
    const std::vector<float> x = offset_rows(shape, ++seed);
    const std::vector<float> dy = random(shape, ++seed);
    const std::vector<float> gamma = random({c}, ++seed, 0.5f, 1.5f);
    const std::vector<float> beta = random({c}, ++seed);
    const std::vector<float> dgamma_start = random({c}, ++seed);
    const std::vector<float> dbeta_start = random({c}, ++seed);
    Tensor y = zeros(shape);
    Tensor mean = zeros({rows});
    Tensor rstd = zeros({rows});
    const Tensor tx = tensor(x, shape);
    const Tensor tgamma = tensor(gamma, {c});
    p().layer_norm(y, mean, rstd, tx, tgamma, tensor(beta, {c}), 1e-5);
    Tensor dx = zeros(shape);
    Tensor dgamma = tensor(dgamma_start, {c});
    Tensor dbeta = tensor(dbeta_start, {c});
    p().layer_norm_backward(dx, dgamma, dbeta, tensor(dy, shape), tx, mean, rstd, tgamma);
    Doubles want_dx, want_dgamma, want_dbeta;
    layer_norm_backward_reference(widen(dy), widen(x), widen(gamma),
                                  layer_norm_reference(widen(x), widen(gamma), widen(beta), 1e-5),
                                  &want_dx, &want_dgamma, &want_dbeta);
    for (int64_t j = 0; j < c; ++j) {
      want_dgamma[j] += dgamma_start[j];
      want_dbeta[j] += dbeta_start[j];
    }
    // dx: differences of terms of order rstd * |dy| (rstd up to ~2): 1e-5 absolute. dgamma
    // and dbeta: sums over up to 151 rows of terms of order 1, F32-accumulated by oneDNN.
    const std::string what = shape_string(shape);
    expect_close(values(dx), want_dx, 2e-5, 1e-5, what + " dx");
    expect_close(values(dgamma), want_dgamma, 2e-5 * rows, 1e-5, what + " dgamma");
    expect_close(values(dbeta), want_dbeta, 2e-5 * rows, 1e-5, what + " dbeta");
  }
}

TEST_P(ProviderNnTest, LayerNormBackwardIsTheGradientOfLayerNorm) {
  const Shape shape{3, 7};
  const std::vector<float> x = offset_rows(shape, 130);
  const std::vector<float> w = random(shape, 131);  // the loss is sum(w * y)
  const std::vector<float> gamma = random({7}, 132, 0.5f, 1.5f);
  const std::vector<float> beta = random({7}, 133);
  const double eps = 1e-5;
  Tensor y = zeros(shape);
  Tensor mean = zeros({3});
  Tensor rstd = zeros({3});
  const Tensor tx = tensor(x, shape);
  const Tensor tgamma = tensor(gamma, {7});
  p().layer_norm(y, mean, rstd, tx, tgamma, tensor(beta, {7}), eps);
  Tensor dx = zeros(shape);
  Tensor dgamma = zeros({7});
  Tensor dbeta = zeros({7});
  p().layer_norm_backward(dx, dgamma, dbeta, tensor(w, shape), tx, mean, rstd, tgamma);
  const Doubles wd = widen(w);
  const auto loss = [&](const Doubles& xs, const Doubles& g, const Doubles& b) {
    return dot(wd, layer_norm_reference(xs, g, b, eps).y);
  };
  // F32 gradients of order 1: 1e-4 covers their rounding; a wrong term is off by ~0.1.
  expect_close(values(dx),
               numeric_gradient(
                   [&](const Doubles& v) { return loss(v, widen(gamma), widen(beta)); }, widen(x)),
               1e-4, 1e-4, "dx");
  expect_close(values(dgamma),
               numeric_gradient([&](const Doubles& v) { return loss(widen(x), v, widen(beta)); },
                                widen(gamma)),
               1e-4, 1e-4, "dgamma");
  expect_close(values(dbeta),
               numeric_gradient([&](const Doubles& v) { return loss(widen(x), widen(gamma), v); },
                                widen(beta)),
               1e-4, 1e-4, "dbeta");
}

TEST_P(ProviderNnTest, LayerNormRejectsBadArguments) {
  const Tensor x = zeros({4, 6});
  const Tensor gamma = zeros({6});
  Tensor y = zeros({4, 6});
  Tensor mean = zeros({4});
  Tensor rstd = zeros({4});
  EXPECT_NO_THROW(p().layer_norm(y, mean, rstd, x, gamma, gamma, 1e-5));
  const Error e =
      test::thrown_error([&] { p().layer_norm(y, mean, rstd, x, zeros({4}), gamma, 1e-5); });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("layer_norm"));
  EXPECT_THAT(e.what(), HasSubstr("gamma"));
  Tensor short_mean = zeros({3});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().layer_norm(y, short_mean, rstd, x, gamma, gamma, 1e-5));
  Tensor wrong_y = zeros({6, 4});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().layer_norm(wrong_y, mean, rstd, x, gamma, gamma, 1e-5));
  Tensor empty_rows_y = zeros({4, 0});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().layer_norm(empty_rows_y, mean, rstd, zeros({4, 0}), zeros({0}),
                                                zeros({0}), 1e-5));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().layer_norm(y, mean, rstd, x, gamma, gamma, -1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().layer_norm(y, mean, mean, x, gamma, gamma, 1e-5));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().layer_norm(y, mean, rstd, p().allocate(DType::BF16, {4, 6}),
                                                gamma, gamma, 1e-5));
  Tensor dx = zeros({4, 6});
  Tensor dgamma = zeros({6});
  Tensor dbeta = zeros({6});
  EXPECT_NO_THROW(p().layer_norm_backward(dx, dgamma, dbeta, x, x, mean, rstd, gamma));
  EXPECT_STATUS(ALLOY_ERR_SHAPE,
                p().layer_norm_backward(dx, dgamma, dbeta, zeros({4, 5}), x, mean, rstd, gamma));
  Tensor short_dbeta = zeros({5});
  EXPECT_STATUS(ALLOY_ERR_SHAPE,
                p().layer_norm_backward(dx, dgamma, short_dbeta, x, x, mean, rstd, gamma));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT,
                p().layer_norm_backward(dx, dgamma, dgamma, x, x, mean, rstd, gamma));
  Tensor frozen = read_only(dgamma);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY,
                p().layer_norm_backward(dx, frozen, dbeta, x, x, mean, rstd, gamma));
}

// --- softmax -----------------------------------------------------------------------------

Doubles softmax_reference(const Doubles& x, std::size_t c, double scale) {
  Doubles y(x.size());
  for (std::size_t i = 0; i < x.size() / c; ++i) {
    double max = -INFINITY;
    for (std::size_t j = 0; j < c; ++j) max = std::max(max, scale * x[i * c + j]);
    double sum = 0;
    for (std::size_t j = 0; j < c; ++j) sum += std::exp(scale * x[i * c + j] - max);
    for (std::size_t j = 0; j < c; ++j) y[i * c + j] = std::exp(scale * x[i * c + j] - max) / sum;
  }
  return y;
}

TEST_P(ProviderNnTest, SoftmaxMatchesReference) {
  uint32_t seed = 140;
  for (const Shape& shape :
       {Shape{7, 13}, Shape{3, 5, 50}, Shape{1, 1}, Shape{9}, Shape{2, 2, 3, 17}, Shape{401, 50}}) {
    for (const double scale : {1.0, 0.125, -2.0}) {
      const std::vector<float> x = random(shape, ++seed, -8.0f, 8.0f);
      Tensor y = zeros(shape);
      p().softmax(y, tensor(x, shape), scale);
      // Probabilities in [0, 1]; exp is good to a few ulps in F32 (oneDNN's polynomial).
      expect_close(values(y), softmax_reference(widen(x), shape.back(), scale), 1e-6, 1e-5,
                   shape_string(shape) + " scale " + std::to_string(scale));
    }
  }
}

TEST_P(ProviderNnTest, SoftmaxOfLargeLogitsStaysFinite) {
  const std::vector<float> x = {1e4f, 0.0f, -1e4f, 1e4f, 1e4f, -3e4f, 3e4f, 2e4f, 1e4f};
  Tensor y = zeros({3, 3});
  p().softmax(y, tensor(x, {3, 3}), 1.0);
  expect_close(values(y), {1, 0, 0, 0.5, 0.5, 0, 1, 0, 0}, 1e-7, 0, "y");
  p().softmax(y, tensor(x, {3, 3}), 10.0);  // scaled to 3e5
  expect_close(values(y), {1, 0, 0, 0.5, 0.5, 0, 1, 0, 0}, 1e-7, 0, "scaled y");
}

TEST_P(ProviderNnTest, SoftmaxBackwardMatchesReference) {
  uint32_t seed = 150;
  for (const Shape& shape : {Shape{7, 13}, Shape{3, 5, 50}, Shape{1, 1}, Shape{401, 50}}) {
    for (const double scale : {1.0, 0.125}) {
      const std::vector<float> x = random(shape, ++seed, -4.0f, 4.0f);
      const std::vector<float> dy = random(shape, ++seed);
      Tensor y = zeros(shape);
      p().softmax(y, tensor(x, shape), scale);
      Tensor dx = zeros(shape);
      p().softmax_backward(dx, tensor(dy, shape), y, scale);
      // dx = scale * y * (dy - sum(dy * y)), from the provider's own y.
      const std::vector<float> yv = values(y);
      const std::size_t c = shape.back();
      Doubles want(yv.size());
      for (std::size_t i = 0; i < yv.size() / c; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < c; ++j) s += static_cast<double>(dy[i * c + j]) * yv[i * c + j];
        for (std::size_t j = 0; j < c; ++j) {
          want[i * c + j] = scale * yv[i * c + j] * (dy[i * c + j] - s);
        }
      }
      expect_close(values(dx), want, 1e-6, 1e-5,
                   shape_string(shape) + " scale " + std::to_string(scale));
    }
  }
}

TEST_P(ProviderNnTest, SoftmaxBackwardIsTheGradientOfSoftmax) {
  const Shape shape{3, 11};
  for (const double scale : {1.0, 0.3}) {
    const std::vector<float> x = random(shape, 160, -3.0f, 3.0f);
    const std::vector<float> w = random(shape, 161);
    Tensor y = zeros(shape);
    p().softmax(y, tensor(x, shape), scale);
    Tensor dx = zeros(shape);
    p().softmax_backward(dx, tensor(w, shape), y, scale);
    const Doubles wd = widen(w);
    expect_close(
        values(dx),
        numeric_gradient([&](const Doubles& v) { return dot(wd, softmax_reference(v, 11, scale)); },
                         widen(x)),
        1e-5, 1e-4, "scale " + std::to_string(scale));
  }
}

TEST_P(ProviderNnTest, SoftmaxRejectsBadArguments) {
  const Tensor x = zeros({3, 4});
  Tensor y = zeros({3, 4});
  EXPECT_NO_THROW(p().softmax(y, x, 1));
  Tensor wrong = zeros({4, 3});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().softmax(wrong, x, 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().softmax(y, y, 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().softmax(y, x, INFINITY));
  Tensor scalar_y = zeros({});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().softmax(scalar_y, zeros({}), 1));
  Tensor dx = zeros({3, 4});
  EXPECT_NO_THROW(p().softmax_backward(dx, x, y, 1));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().softmax_backward(dx, zeros({3, 5}), y, 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().softmax_backward(dx, dx, y, 1));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().softmax_backward(dx, p().allocate(DType::F16, {3, 4}), y, 1));
}

// --- activations -------------------------------------------------------------------------

double activation_reference(Activation kind, double x) {
  switch (kind) {
    case Activation::gelu:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::gelu_tanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::quick_gelu:
      return x / (1 + std::exp(-1.702 * x));
    case Activation::relu:
      return std::max(x, 0.0);
  }
  return NAN;
}

double activation_derivative(Activation kind, double x) {
  switch (kind) {
    case Activation::gelu:
      return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
             x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    case Activation::gelu_tanh: {
      const double k = std::sqrt(2 / M_PI);
      const double t = std::tanh(k * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
    }
    case Activation::quick_gelu: {
      const double s = 1 / (1 + std::exp(-1.702 * x));
      return s + 1.702 * x * s * (1 - s);
    }
    case Activation::relu:  // 0 at 0, as torch's
      return x > 0 ? 1.0 : 0.0;
  }
  return NAN;
}

const Activation kActivations[] = {Activation::gelu, Activation::gelu_tanh, Activation::quick_gelu,
                                   Activation::relu};

TEST_P(ProviderNnTest, ActivationsMatchTheirDefinitions) {
  uint32_t seed = 170;
  for (const Activation kind : kActivations) {
    for (const Shape& shape : {Shape{1}, Shape{1001}, Shape{3, 17}, Shape{64, 50, 11}}) {
      const std::vector<float> x = random(shape, ++seed, -7.0f, 7.0f);
      const std::vector<float> dy = random(shape, ++seed);
      Tensor y = zeros(shape);
      Tensor dx = zeros(shape);
      const Tensor tx = tensor(x, shape);
      p().activation(kind, y, tx);
      p().activation_backward(kind, dx, tensor(dy, shape), tx);
      Doubles want_y(x.size());
      Doubles want_dx(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        want_y[i] = activation_reference(kind, x[i]);
        want_dx[i] = dy[i] * activation_derivative(kind, x[i]);
      }
      // oneDNN evaluates erf, tanh and exp by polynomials good to a few F32 ulps; near the
      // zero of x * Phi(x) at large negative x only an absolute bound makes sense.
      const std::string what =
          fmt::format("activation {} {}", static_cast<int>(kind), shape_string(shape));
      expect_close(values(y), want_y, 1e-6, 1e-5, what + " y");
      expect_close(values(dx), want_dx, 1e-6, 1e-5, what + " dx");
    }
  }
}

TEST_P(ProviderNnTest, ActivationBackwardIsTheGradientOfTheActivation) {
  const Shape shape{41};
  const std::vector<float> x = random(shape, 180, -5.0f, 5.0f);
  const std::vector<float> w = random(shape, 181);
  for (const Activation kind : kActivations) {
    Tensor dx = zeros(shape);
    p().activation_backward(kind, dx, tensor(w, shape), tensor(x, shape));
    const auto loss = [&](const Doubles& v) {
      double sum = 0;
      for (std::size_t i = 0; i < v.size(); ++i) sum += w[i] * activation_reference(kind, v[i]);
      return sum;
    };
    expect_close(values(dx), numeric_gradient(loss, widen(x)), 1e-5, 1e-4,
                 fmt::format("activation {}", static_cast<int>(kind)));
  }
}

// torch's convention: relu passes no gradient at 0 (nor at -0).
TEST_P(ProviderNnTest, ReluGradientIsZeroAtZero) {
  const Tensor x = tensor({-1.0f, -0.0f, 0.0f, 1e-30f, 2.0f}, {5});
  Tensor y = zeros({5});
  Tensor dx = zeros({5});
  p().activation(Activation::relu, y, x);
  p().activation_backward(Activation::relu, dx, tensor({3, 3, 3, 3, 3}, {5}), x);
  EXPECT_EQ(values(y), std::vector<float>({0, 0, 0, 1e-30f, 2}));
  EXPECT_EQ(values(dx), std::vector<float>({0, 0, 0, 3, 3}));
}

TEST_P(ProviderNnTest, ActivationsRejectBadArguments) {
  const Tensor x = zeros({3, 4});
  Tensor y = zeros({3, 4});
  EXPECT_NO_THROW(p().activation(Activation::gelu, y, x));
  const Error e = test::thrown_error([&] { p().activation(static_cast<Activation>(9), y, x); });
  EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(e.what(), HasSubstr("activation"));
  Tensor wrong = zeros({12});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().activation(Activation::gelu, wrong, x));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().activation(Activation::gelu, y, y));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().activation_backward(Activation::quick_gelu, y, x, wrong));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().activation_backward(Activation::gelu_tanh, y,
                                                         p().allocate(DType::BF16, {3, 4}), x));
}

// --- l2_normalize ------------------------------------------------------------------------

Doubles l2_normalize_reference(const Doubles& x, std::size_t c, double eps, Doubles* norms) {
  Doubles y(x.size());
  for (std::size_t i = 0; i < x.size() / c; ++i) {
    double squares = 0;
    for (std::size_t j = 0; j < c; ++j) squares += x[i * c + j] * x[i * c + j];
    const double norm = std::sqrt(squares);
    if (norms) norms->push_back(norm);
    for (std::size_t j = 0; j < c; ++j) y[i * c + j] = x[i * c + j] / std::max(norm, eps);
  }
  return y;
}

TEST_P(ProviderNnTest, L2NormalizeMatchesReference) {
  uint32_t seed = 190;
  for (const Shape& shape :
       {Shape{9, 31}, Shape{2, 3, 16}, Shape{1, 1}, Shape{5}, Shape{257, 512}}) {
    const std::vector<float> x = random(shape, ++seed, -3.0f, 3.0f);
    Tensor y = zeros(shape);
    Tensor norm = zeros(Shape(shape.begin(), shape.end() - 1));
    p().l2_normalize(y, norm, tensor(x, shape), 1e-12);
    Doubles norms;
    const Doubles want = l2_normalize_reference(widen(x), shape.back(), 1e-12, &norms);
    expect_close(values(y), want, 1e-7, 1e-6, shape_string(shape) + " y");
    expect_close(values(norm), norms, 0, 1e-6, shape_string(shape) + " norm");
  }
}

TEST_P(ProviderNnTest, L2NormalizeOfAZeroRowIsZero) {
  const std::vector<float> x = {0, 0, 0, 3, 4, 0, 1e-8f, 0, 0};
  Tensor y = zeros({3, 3});
  Tensor norm = zeros({3});
  p().l2_normalize(y, norm, tensor(x, {3, 3}), 1e-6);
  // Rows with a norm below eps are divided by eps.
  expect_close(values(y), {0, 0, 0, 0.6, 0.8, 0, 1e-2, 0, 0}, 1e-7, 1e-6, "y");
  expect_close(values(norm), {0, 5, 1e-8}, 0, 1e-6, "norm");
  Tensor dx = zeros({3, 3});
  const std::vector<float> dy = {1, 2, 3, 1, 1, 1, -1, 2, 5};
  p().l2_normalize_backward(dx, tensor(dy, {3, 3}), y, norm, 1e-6);
  // Clamped rows pass dy / eps; the middle row (y = [0.6, 0.8, 0], y.dy = 1.4) projects out y.
  expect_close(values(dx),
               {1e6, 2e6, 3e6, (1 - 0.6 * 1.4) / 5, (1 - 0.8 * 1.4) / 5, 0.2, -1e6, 2e6, 5e6}, 1e-6,
               1e-5, "dx");
  // Rows of length 0 have norm 0.
  Tensor empty_y = zeros({2, 0});
  Tensor norms = filled({2}, 7);
  p().l2_normalize(empty_y, norms, zeros({2, 0}), 1e-6);
  EXPECT_EQ(values(norms), (std::vector<float>{0, 0}));
}

TEST_P(ProviderNnTest, L2NormalizeBackwardClampsOnlyBelowEps) {
  // Norms 0.5 (= eps), 1 and 0.05: torch's clamp_min passes the gradient through the norm at
  // equality, so only the last row is divided by eps alone.
  const std::vector<float> x = {0.3f, 0.4f, 0, 0.6f, 0.8f, 0, 0.03f, 0.04f, 0};
  const std::vector<float> dy = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  Tensor y = zeros({3, 3});
  Tensor norm = zeros({3});
  p().l2_normalize(y, norm, tensor(x, {3, 3}), 0.5);
  Tensor dx = zeros({3, 3});
  p().l2_normalize_backward(dx, tensor(dy, {3, 3}), y, norm, 0.5);
  // y = [0.6, 0.8, 0] in the first two rows, y . dy = 1.4; the last row is x / 0.5.
  expect_close(values(y), {0.6, 0.8, 0, 0.6, 0.8, 0, 0.06, 0.08, 0}, 1e-7, 1e-6, "y");
  expect_close(values(dx), {(1 - 0.84) / 0.5, (1 - 1.12) / 0.5, 2, 1 - 0.84, 1 - 1.12, 1, 2, 2, 2},
               1e-6, 1e-5, "dx");
}

TEST_P(ProviderNnTest, L2NormalizeBackwardMatchesReferenceAndGradient) {
  uint32_t seed = 200;
  for (const Shape& shape : {Shape{9, 31}, Shape{2, 3, 16}, Shape{257, 512}, Shape{4, 6}}) {
    const std::vector<float> x = random(shape, ++seed, -3.0f, 3.0f);
    const std::vector<float> w = random(shape, ++seed);
    const double eps = 1e-12;
    Tensor y = zeros(shape);
    Tensor norm = zeros({numel(shape) / shape.back()});
    p().l2_normalize(y, norm, tensor(x, shape), eps);
    Tensor dx = zeros(shape);
    p().l2_normalize_backward(dx, tensor(w, shape), y, norm, eps);
    const std::size_t c = shape.back();
    // The reference: dx = (w - y (y . w)) / |x|, in double from x.
    Doubles norms;
    const Doubles yd = l2_normalize_reference(widen(x), c, eps, &norms);
    Doubles want(x.size());
    for (std::size_t i = 0; i < norms.size(); ++i) {
      double yw = 0;
      for (std::size_t j = 0; j < c; ++j) yw += yd[i * c + j] * w[i * c + j];
      for (std::size_t j = 0; j < c; ++j) {
        want[i * c + j] = (w[i * c + j] - yd[i * c + j] * yw) / norms[i];
      }
    }
    expect_close(values(dx), want, 1e-6, 1e-5, shape_string(shape));
    if (x.size() <= 64) {
      const Doubles wd = widen(w);
      expect_close(
          values(dx),
          numeric_gradient(
              [&](const Doubles& v) { return dot(wd, l2_normalize_reference(v, c, eps, nullptr)); },
              widen(x)),
          1e-5, 1e-4, shape_string(shape) + " numeric");
    }
  }
}

TEST_P(ProviderNnTest, L2NormalizeRejectsBadArguments) {
  const Tensor x = zeros({3, 4});
  Tensor y = zeros({3, 4});
  Tensor norm = zeros({3});
  EXPECT_NO_THROW(p().l2_normalize(y, norm, x, 1e-12));
  Tensor long_norm = zeros({4});
  const Error e = test::thrown_error([&] { p().l2_normalize(y, long_norm, x, 1e-12); });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("norm"));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().l2_normalize(y, norm, x, -1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().l2_normalize(y, norm, x, NAN));
  Tensor dx = zeros({3, 4});
  EXPECT_NO_THROW(p().l2_normalize_backward(dx, x, y, norm, 1e-12));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().l2_normalize_backward(dx, x, y, zeros({3, 1, 1}), 1e-12));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().l2_normalize_backward(dx, x, dx, norm, 1e-12));
}

// --- cross_entropy, softmax_entropy ------------------------------------------------------

double log_sum_exp(const double* x, std::size_t c) {
  const double max = *std::max_element(x, x + c);
  double sum = 0;
  for (std::size_t j = 0; j < c; ++j) sum += std::exp(x[j] - max);
  return max + std::log(sum);
}

Doubles cross_entropy_reference(const Doubles& logits, const std::vector<int32_t>& labels) {
  const std::size_t c = logits.size() / labels.size();
  Doubles losses;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    losses.push_back(log_sum_exp(&logits[i * c], c) - logits[i * c + labels[i]]);
  }
  return losses;
}

Doubles entropy_reference(const Doubles& logits, std::size_t c) {
  Doubles entropies;
  for (std::size_t i = 0; i < logits.size() / c; ++i) {
    const double lse = log_sum_exp(&logits[i * c], c);
    double h = 0;
    for (std::size_t j = 0; j < c; ++j) {
      const double log_p = logits[i * c + j] - lse;
      h -= std::exp(log_p) * log_p;
    }
    entropies.push_back(h);
  }
  return entropies;
}

std::vector<int32_t> random_labels(std::size_t n, int32_t classes, uint32_t seed) {
  std::vector<int32_t> labels;
  for (const float r : test::random_floats(n, seed, 0.0f, 1.0f)) {
    labels.push_back(std::min(classes - 1, static_cast<int32_t>(r * classes)));
  }
  return labels;
}

TEST_P(ProviderNnTest, CrossEntropyMatchesReference) {
  uint32_t seed = 210;
  for (const auto& [n, c] : {std::pair<int64_t, int64_t>{17, 10}, {1, 3}, {1, 1}, {257, 101}}) {
    const std::vector<float> logits = random({n, c}, ++seed, -6.0f, 6.0f);
    const std::vector<int32_t> labels = random_labels(n, c, ++seed);
    Tensor losses = zeros({n});
    Tensor dlogits = zeros({n, c});
    const double scale = 1.0 / n;
    p().cross_entropy(losses, dlogits, tensor(logits, {n, c}), ints(labels), scale);
    const Doubles x = widen(logits);
    Doubles want_d(x.size());
    for (int64_t i = 0; i < n; ++i) {
      const double lse = log_sum_exp(&x[i * c], c);
      for (int64_t j = 0; j < c; ++j) {
        want_d[i * c + j] = scale * (std::exp(x[i * c + j] - lse) - (j == labels[i] ? 1 : 0));
      }
    }
    // Losses up to ~12: logsumexp in F32 exps with a double sum, good to ~1e-6 relative.
    const std::string what = fmt::format("[{}, {}]", n, c);
    expect_close(values(losses), cross_entropy_reference(x, labels), 1e-6, 1e-6, what);
    expect_close(values(dlogits), want_d, 1e-7, 1e-5, what + " dlogits");
  }
}

TEST_P(ProviderNnTest, CrossEntropyGradientIsTheGradientOfTheLoss) {
  const int64_t n = 4, c = 7;
  const std::vector<float> logits = random({n, c}, 220, -3.0f, 3.0f);
  const std::vector<int32_t> labels = {0, 6, 3, 3};
  Tensor losses = zeros({n});
  Tensor dlogits = zeros({n, c});
  p().cross_entropy(losses, dlogits, tensor(logits, {n, c}), ints(labels), 0.25);
  Doubles want = numeric_gradient(
      [&](const Doubles& v) {
        const Doubles l = cross_entropy_reference(v, labels);
        return std::accumulate(l.begin(), l.end(), 0.0);
      },
      widen(logits));
  for (double& g : want) g *= 0.25;
  expect_close(values(dlogits), want, 1e-6, 1e-4, "dlogits");
}

TEST_P(ProviderNnTest, CrossEntropyOfLargeLogitsStaysFinite) {
  const std::vector<float> logits = {1e4f, 0, -1e4f, 1e4f, 0, -1e4f, 1e4f, 1e4f, -1e4f};
  Tensor losses = zeros({3});
  Tensor dlogits = zeros({3, 3});
  p().cross_entropy(losses, dlogits, tensor(logits, {3, 3}), ints({0, 2, 1}), 1.0);
  expect_close(values(losses), {0, 2e4, std::log(2.0)}, 1e-6, 1e-6, "losses");
  expect_close(values(dlogits), {0, 0, 0, 1, 0, -1, 0.5, -0.5, 0}, 1e-7, 0, "dlogits");
}

TEST_P(ProviderNnTest, CrossEntropyRejectsLabelsOutOfRangeNamingTheRow) {
  const std::vector<float> logits = random({5, 4}, 230);
  Tensor losses = filled({5}, 9);
  Tensor dlogits = filled({5, 4}, 9);
  for (const int32_t bad : {-1, 4, 1000}) {
    const Error e = test::thrown_error([&] {
      p().cross_entropy(losses, dlogits, tensor(logits, {5, 4}), ints({0, 3, 1, bad, 2}), 1.0);
    });
    EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("cross_entropy"));
    EXPECT_THAT(e.what(), HasSubstr("row 3"));
    EXPECT_THAT(e.what(), HasSubstr(std::to_string(bad)));
  }
  // Nothing was written.
  EXPECT_EQ(values(losses), std::vector<float>(5, 9));
  EXPECT_EQ(values(dlogits), std::vector<float>(20, 9));
}

TEST_P(ProviderNnTest, CrossEntropyRejectsBadArguments) {
  const Tensor logits = zeros({5, 4});
  Tensor losses = zeros({5});
  Tensor dlogits = zeros({5, 4});
  const Tensor labels = ints({0, 1, 2, 3, 0});
  EXPECT_NO_THROW(p().cross_entropy(losses, dlogits, logits, labels, 1));
  const Error e = test::thrown_error(
      [&] { p().cross_entropy(losses, dlogits, logits, p().allocate(DType::I64, {5}), 1); });
  EXPECT_EQ(e.status(), ALLOY_ERR_DTYPE);
  EXPECT_THAT(e.what(), HasSubstr("labels"));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().cross_entropy(losses, dlogits, logits, zeros({5}), 1));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().cross_entropy(losses, dlogits, logits, ints({0, 1}), 1));
  Tensor short_losses = zeros({4});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().cross_entropy(short_losses, dlogits, logits, labels, 1));
  Tensor flat = zeros({20});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().cross_entropy(losses, flat, zeros({20}), labels, 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().cross_entropy(losses, dlogits, dlogits, labels, 1));
}

TEST_P(ProviderNnTest, SoftmaxEntropyMatchesReferenceAndGradient) {
  uint32_t seed = 240;
  for (const auto& [n, c] : {std::pair<int64_t, int64_t>{17, 10}, {1, 1}, {3, 2}, {257, 101}}) {
    const std::vector<float> logits = random({n, c}, ++seed, -6.0f, 6.0f);
    Tensor entropies = zeros({n});
    Tensor dlogits = zeros({n, c});
    p().softmax_entropy(entropies, dlogits, tensor(logits, {n, c}), 0.5);
    const Doubles x = widen(logits);
    // The entropy of each row depends on that row alone, so the gradient of their sum is
    // every row's own gradient.
    const auto total = [&](const Doubles& v) {
      const Doubles h = entropy_reference(v, c);
      return std::accumulate(h.begin(), h.end(), 0.0);
    };
    Doubles want_d = n * c <= 64 ? numeric_gradient(total, x) : Doubles(x.size());
    if (n * c > 64) {  // -p (log p + H), from the definition
      const Doubles h = entropy_reference(x, c);
      for (int64_t i = 0; i < n; ++i) {
        const double lse = log_sum_exp(&x[i * c], c);
        for (int64_t j = 0; j < c; ++j) {
          const double log_p = x[i * c + j] - lse;
          want_d[i * c + j] = -std::exp(log_p) * (log_p + h[i]);
        }
      }
    }
    for (double& g : want_d) g *= 0.5;
    const std::string what = fmt::format("[{}, {}]", n, c);
    expect_close(values(entropies), entropy_reference(x, c), 1e-6, 1e-5, what);
    expect_close(values(dlogits), want_d, 1e-6, 1e-4, what + " dlogits");
  }
}

TEST_P(ProviderNnTest, SoftmaxEntropyOfLargeLogitsStaysFinite) {
  const std::vector<float> logits = {1e4f, 0, -1e4f, 1e4f, 1e4f, -1e4f};
  Tensor entropies = zeros({2});
  Tensor dlogits = zeros({2, 3});
  p().softmax_entropy(entropies, dlogits, tensor(logits, {2, 3}), 1.0);
  expect_close(values(entropies), {0, std::log(2.0)}, 1e-6, 1e-6, "entropies");
  expect_close(values(dlogits), {0, 0, 0, 0, 0, 0}, 1e-6, 0, "dlogits");
}

TEST_P(ProviderNnTest, SoftmaxEntropyRejectsBadArguments) {
  const Tensor logits = zeros({5, 4});
  Tensor entropies = zeros({5});
  Tensor dlogits = zeros({5, 4});
  EXPECT_NO_THROW(p().softmax_entropy(entropies, dlogits, logits, 1));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().softmax_entropy(entropies, dlogits, zeros({5, 3}), 1));
  Tensor empty_rows = zeros({5, 0});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().softmax_entropy(entropies, empty_rows, zeros({5, 0}), 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().softmax_entropy(entropies, dlogits, dlogits, 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().softmax_entropy(entropies, dlogits, logits, NAN));
}

// --- argmax ------------------------------------------------------------------------------

TEST_P(ProviderNnTest, ArgmaxFindsTheFirstMaximumOfEachRow) {
  uint32_t seed = 250;
  for (const Shape& shape : {Shape{17, 10}, Shape{2, 3, 5}, Shape{7}, Shape{1025, 33}}) {
    // Values on a coarse grid, so that ties are common.
    std::vector<float> x = random(shape, ++seed);
    for (float& v : x) v = std::round(v * 4);
    const int64_t c = shape.back();
    std::vector<int32_t> want;
    for (std::size_t i = 0; i < x.size() / c; ++i) {
      const auto row = x.begin() + i * c;
      want.push_back(static_cast<int32_t>(std::max_element(row, row + c) - row));
    }
    Tensor indices = p().allocate(DType::I32, Shape(shape.begin(), shape.end() - 1));
    p().argmax(indices, tensor(x, shape));
    EXPECT_EQ(int_values(indices), want) << shape_string(shape);
  }
}

TEST_P(ProviderNnTest, ArgmaxBreaksTiesToTheFirstAndCountsNaNAsLargest) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {1, 3,    3,    2,    0,  0,    0, 0, -1,  kNaN,
                                5, kNaN, -inf, -inf, -2, -inf, 7, 7, inf, inf};
  Tensor indices = p().allocate(DType::I32, {5});
  p().argmax(indices, tensor(x, {5, 4}));
  EXPECT_EQ(int_values(indices), (std::vector<int32_t>{1, 0, 1, 2, 2}));
}

TEST_P(ProviderNnTest, ArgmaxRejectsBadArguments) {
  const Tensor x = zeros({3, 4});
  Tensor indices = p().allocate(DType::I32, {3});
  EXPECT_NO_THROW(p().argmax(indices, x));
  Tensor float_indices = zeros({3});
  const Error e = test::thrown_error([&] { p().argmax(float_indices, x); });
  EXPECT_EQ(e.status(), ALLOY_ERR_DTYPE);
  EXPECT_THAT(e.what(), HasSubstr("I32"));
  Tensor wrong = p().allocate(DType::I32, {4});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().argmax(wrong, x));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().argmax(indices, zeros({3, 0})));
}

// --- adam --------------------------------------------------------------------------------

TEST_P(ProviderNnTest, AdamMatchesTwoStepsOfTorchAdamW) {
  // torch.optim.AdamW (torch/optim/adamw.py, _single_tensor_adamw), for one parameter:
  //   param *= 1 - lr * wd; m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2
  //   param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
  // by hand with lr 0.1, wd 0.01, b1 0.9, b2 0.999, eps 1e-8, param 1:
  //   t = 1, g = 0.5:   param = 0.999 - 1.0 * 0.05 / (0.5 + 1e-8)              = 0.899000002
  //                     m = 0.05, v = 0.00025
  //   t = 2, g = -0.25: param = 0.898101001998 - (0.1 / 0.19) * 0.02 /
  //                             (sqrt(0.00031225) / sqrt(0.001999) + 1e-8)      = 0.8714672987
  //                     m = 0.02, v = 0.00031225
  AdamStep step;
  step.lr = 0.1;
  step.weight_decay = 0.01;
  Tensor param = tensor({1}, {1});
  Tensor m = zeros({1});
  Tensor v = zeros({1});
  p().adam(param, tensor({0.5f}, {1}), m, v, step);
  expect_close(values(param), {0.899000002}, 0, 1e-7, "param after step 1");
  expect_close(values(m), {0.05}, 0, 1e-7, "m after step 1");
  expect_close(values(v), {0.00025}, 0, 1e-6, "v after step 1");
  step.step = 2;
  p().adam(param, tensor({-0.25f}, {1}), m, v, step);
  expect_close(values(param), {0.8714672987}, 0, 1e-7, "param after step 2");
  expect_close(values(m), {0.02}, 0, 1e-6, "m after step 2");
  expect_close(values(v), {0.00031225}, 0, 1e-6, "v after step 2");
}

TEST_P(ProviderNnTest, AdamMatchesTheFormulaOnManyElements) {
  const Shape shape{3, 40001};  // past the CPU kernels' parallel grain
  std::vector<float> param = random(shape, 260);
  Doubles want_p = widen(param), want_m(param.size()), want_v(param.size());
  Tensor tp = tensor(param, shape);
  Tensor tm = zeros(shape);
  Tensor tv = zeros(shape);
  AdamStep step;
  step.lr = 1e-3;
  step.beta1 = 0.8;
  step.beta2 = 0.99;
  step.eps = 1e-6;
  step.weight_decay = 0.1;
  for (int64_t t = 1; t <= 3; ++t) {
    const std::vector<float> grad = random(shape, 260 + t);
    step.step = t;
    p().adam(tp, tensor(grad, shape), tm, tv, step);
    for (std::size_t i = 0; i < grad.size(); ++i) {
      want_p[i] *= 1 - step.lr * step.weight_decay;
      want_m[i] = step.beta1 * want_m[i] + (1 - step.beta1) * grad[i];
      want_v[i] = step.beta2 * want_v[i] + (1 - step.beta2) * grad[i] * grad[i];
      const double m_hat = want_m[i] / (1 - std::pow(step.beta1, t));
      const double v_hat = want_v[i] / (1 - std::pow(step.beta2, t));
      want_p[i] -= step.lr * m_hat / (std::sqrt(v_hat) + step.eps);
    }
  }
  // Parameters of order 1 moved by steps of ~1e-3: F32 rounding of the parameter dominates.
  expect_close(values(tp), want_p, 2e-7, 2e-7, "param");
  expect_close(values(tm), want_m, 1e-7, 1e-5, "m");
  expect_close(values(tv), want_v, 1e-9, 1e-5, "v");
}

TEST_P(ProviderNnTest, AdamRejectsBadArguments) {
  Tensor param = zeros({4});
  Tensor m = zeros({4});
  Tensor v = zeros({4});
  const Tensor grad = zeros({4});
  EXPECT_NO_THROW(p().adam(param, grad, m, v, AdamStep{}));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().adam(param, zeros({5}), m, v, AdamStep{}));
  Tensor short_v = zeros({3});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().adam(param, grad, m, short_v, AdamStep{}));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().adam(param, grad, m, m, AdamStep{}));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().adam(param, param, m, v, AdamStep{}));
  for (const auto& change : std::vector<std::function<void(AdamStep&)>>{
           [](AdamStep& s) { s.step = 0; }, [](AdamStep& s) { s.lr = -1; },
           [](AdamStep& s) { s.beta1 = 1; }, [](AdamStep& s) { s.beta2 = -0.1; },
           [](AdamStep& s) { s.eps = -1; }, [](AdamStep& s) { s.weight_decay = NAN; }}) {
    AdamStep step;
    change(step);
    const Error e = test::thrown_error([&] { p().adam(param, grad, m, v, step); });
    EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("adam"));
  }
  Tensor frozen = read_only(m);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().adam(param, grad, frozen, v, AdamStep{}));
}

// --- patchify ----------------------------------------------------------------------------

TEST_P(ProviderNnTest, PatchifyIsTheStridedConvolutionLayout) {
  const int64_t b = 2, c = 3, h = 8, w = 12, k = 4;
  const std::vector<float> images = random({b, c, h, w}, 270);
  Tensor patches = zeros({b, (h / k) * (w / k), c * k * k});
  p().patchify(patches, tensor(images, {b, c, h, w}), k);
  const std::vector<float> got = values(patches);
  // Patch (gy, gx) holds images[b, ch, gy*k + ky, gx*k + kx] at (ch, ky, kx).
  std::vector<float> want(got.size());
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t gy = 0; gy < h / k; ++gy) {
      for (int64_t gx = 0; gx < w / k; ++gx) {
        for (int64_t ch = 0; ch < c; ++ch) {
          for (int64_t ky = 0; ky < k; ++ky) {
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t patch = (i * (h / k) + gy) * (w / k) + gx;
              want[(patch * c + ch) * k * k + ky * k + kx] =
                  images[((i * c + ch) * h + gy * k + ky) * w + gx * k + kx];
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(got, want);
  // And so patches @ W^T, W a convolution weight [D, C, k, k], is the stride-k convolution.
  const int64_t d = 5;
  const std::vector<float> weight = random({d, c, k, k}, 271);
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t gy = 0; gy < h / k; ++gy) {
      for (int64_t gx = 0; gx < w / k; ++gx) {
        for (int64_t out = 0; out < d; ++out) {
          double conv = 0;
          double product = 0;
          for (int64_t ch = 0; ch < c; ++ch) {
            for (int64_t ky = 0; ky < k; ++ky) {
              for (int64_t kx = 0; kx < k; ++kx) {
                conv += images[((i * c + ch) * h + gy * k + ky) * w + gx * k + kx] *
                        static_cast<double>(weight[((out * c + ch) * k + ky) * k + kx]);
              }
            }
          }
          const int64_t patch = (i * (h / k) + gy) * (w / k) + gx;
          for (int64_t j = 0; j < c * k * k; ++j) {
            product +=
                got[patch * c * k * k + j] * static_cast<double>(weight[out * c * k * k + j]);
          }
          EXPECT_NEAR(product, conv, 1e-12);
        }
      }
    }
  }
}

TEST_P(ProviderNnTest, PatchifyOfManyImages) {
  const Shape shape{64, 1, 28, 28};  // Fashion-MNIST
  const std::vector<float> images = random(shape, 272);
  Tensor patches = zeros({64, 16, 49});
  p().patchify(patches, tensor(images, shape), 7);
  const std::vector<float> got = values(patches);
  // Spot checks: the first and last pixel of every patch.
  for (int64_t i = 0; i < 64; ++i) {
    for (int64_t patch = 0; patch < 16; ++patch) {
      const int64_t y0 = patch / 4 * 7, x0 = patch % 4 * 7;
      ASSERT_EQ(got[(i * 16 + patch) * 49], images[(i * 28 + y0) * 28 + x0]);
      ASSERT_EQ(got[(i * 16 + patch) * 49 + 48], images[(i * 28 + y0 + 6) * 28 + x0 + 6]);
    }
  }
}

TEST_P(ProviderNnTest, PatchifyRejectsBadArguments) {
  const Tensor images = zeros({2, 3, 8, 12});
  Tensor patches = zeros({2, 6, 48});
  EXPECT_NO_THROW(p().patchify(patches, images, 4));
  for (const int64_t bad : {5, 3, 0, -4}) {  // 3 divides 12 but not 8
    const Error e = test::thrown_error([&] { p().patchify(patches, images, bad); });
    EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT) << bad;
    EXPECT_THAT(e.what(), HasSubstr("patch"));
  }
  Tensor wrong = zeros({2, 48, 6});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().patchify(wrong, images, 4));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().patchify(patches, zeros({3, 8, 12}), 4));
}

// --- fill_random -------------------------------------------------------------------------

// Provider::fill_random's formula, written out again as the specification every provider
// must reproduce.
uint64_t splitmix_finaliser(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t random_bits(uint64_t seed, uint64_t i) {
  return splitmix_finaliser(splitmix_finaliser(seed) + (i + 1) * 0x9e3779b97f4a7c15ull);
}

TEST_P(ProviderNnTest, FillRandomFollowsTheDocumentedFormula) {
  const uint64_t seed = 0x5eed;
  Tensor t = zeros({1000});
  p().fill_random(t, Distribution::uniform, -2.0, 3.0, seed);
  const std::vector<float> uniform = values(t);
  p().fill_random(t, Distribution::normal, 0.5, 2.0, seed);
  const std::vector<float> normal = values(t);
  for (uint64_t i = 0; i < 1000; ++i) {
    const uint64_t r = random_bits(seed, i);
    const double u = static_cast<double>(r >> 11) * 0x1p-53;
    ASSERT_EQ(uniform[i], static_cast<float>(-2.0 + 5.0 * u)) << i;
    const double u1 = (static_cast<double>(r >> 32) + 1) / 4294967296.0;
    const double u2 = static_cast<double>(r & 0xffffffffu) / 4294967296.0;
    const auto z = static_cast<float>(0.5 + 2.0 * std::sqrt(-2 * std::log(u1)) *
                                                std::cos(6.283185307179586 * u2));
    // Transcendental functions may differ by an ulp in double between libraries.
    ASSERT_NEAR(normal[i], z, 4 * std::fabs(z) * FLT_EPSILON) << i;
  }
}

TEST_P(ProviderNnTest, FillRandomDependsOnlyOnSeedAndIndex) {
  Tensor a = zeros({100003});
  Tensor b = zeros({100003});
  Tensor prefix = zeros({7, 3});
  p().fill_random(a, Distribution::normal, 0, 1, 42);
  p().fill_random(prefix, Distribution::normal, 0, 1, 42);
  std::thread([&] {
    p().set_op_threads(1);
    p().fill_random(b, Distribution::normal, 0, 1, 42);
  }).join();
  const std::vector<float> va = values(a);
  EXPECT_EQ(va, values(b));
  EXPECT_EQ(std::vector<float>(va.begin(), va.begin() + 21), values(prefix));
  p().fill_random(b, Distribution::normal, 0, 1, 43);
  const std::vector<float> vb = values(b);
  std::size_t same = 0;
  for (std::size_t i = 0; i < va.size(); ++i) same += va[i] == vb[i];
  EXPECT_LT(same, 10u);
}

TEST_P(ProviderNnTest, FillRandomNormalHasItsMeanAndStd) {
  Tensor t = zeros({100000});
  p().fill_random(t, Distribution::normal, 2.0, 3.0, 7);
  double sum = 0, squares = 0;
  for (const float v : values(t)) {
    sum += v;
    squares += static_cast<double>(v) * v;
  }
  const double mean = sum / 1e5;
  const double deviation = std::sqrt(squares / 1e5 - mean * mean);
  // Standard errors: 3 / sqrt(1e5) = 0.0095 for the mean, ~0.0067 for the std; 1% of 3 is 0.03.
  EXPECT_NEAR(mean, 2.0, 0.03);
  EXPECT_NEAR(deviation, 3.0, 0.03);
}

TEST_P(ProviderNnTest, FillRandomUniformStaysInItsHalfOpenRange) {
  Tensor t = zeros({100000});
  for (const auto& [a, b] : {std::pair{0.0, 1.0}, {-0.5, 0.5}, {10.0, 10.001}}) {
    p().fill_random(t, Distribution::uniform, a, b, 11);
    const std::vector<float> v = values(t);
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    EXPECT_GE(*lo, a);
    EXPECT_LT(*hi, b);
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
    EXPECT_NEAR(mean, (a + b) / 2, 0.01 * (b - a));
  }
  // Values that round to b or below a are moved inside: the only F32 in [a, b) here is
  // 1 - 2^-24, while a rounds down to 1 - 2^-23 and values near b round up to 1.
  Tensor tiny = zeros({1000});
  p().fill_random(tiny, Distribution::uniform, 1.0 - 1e-7, 1.0 - 1e-9, 3);
  EXPECT_EQ(values(tiny), std::vector<float>(1000, 1.0f - 0x1p-24f));
}

TEST_P(ProviderNnTest, FillRandomRejectsBadParameters) {
  Tensor t = zeros({4});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().fill_random(t, Distribution::uniform, 1, 1, 0));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().fill_random(t, Distribution::uniform, 2, 1, 0));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().fill_random(t, Distribution::normal, 0, -1, 0));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT,
                p().fill_random(t, Distribution::normal, INFINITY, 1, 0));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT,
                p().fill_random(t, static_cast<Distribution>(0), 0, 1, 0));
  Tensor integers = p().allocate(DType::I32, {4});
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().fill_random(integers, Distribution::normal, 0, 1, 0));
  Tensor frozen = read_only(t);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().fill_random(frozen, Distribution::normal, 0, 1, 0));
}

// --- every op ----------------------------------------------------------------------------

TEST_P(ProviderNnTest, EveryOpAcceptsEmptyTensors) {
  Tensor e = zeros({0, 4});
  Tensor e2 = zeros({0, 4});
  Tensor rows = zeros({0});
  Tensor rows2 = zeros({0});
  Tensor gamma = zeros({4});
  Tensor dgamma = zeros({4});
  Tensor dbeta = zeros({4});
  Tensor c = zeros({2, 0, 3});
  EXPECT_NO_THROW(p().gemm_batched(false, false, 1, zeros({2, 0, 5}), zeros({5, 3}), 0, c));
  EXPECT_NO_THROW(p().permute(e, zeros({0, 4}), {0, 1}));
  EXPECT_NO_THROW(p().broadcast(e, zeros({4})));
  EXPECT_NO_THROW(p().sum_to(rows, zeros({0, 4}).reshaped({4, 0}), 1));
  const Tensor part = zeros({0, 4});
  EXPECT_NO_THROW(p().concat(e, {&part, &part}, 0));
  EXPECT_NO_THROW(p().split({&e, &e2}, zeros({0, 4}), 0));
  EXPECT_NO_THROW(p().layer_norm(e, rows, rows2, zeros({0, 4}), gamma, gamma, 1e-5));
  EXPECT_NO_THROW(p().layer_norm_backward(e, dgamma, dbeta, e2, zeros({0, 4}), rows, rows2, gamma));
  EXPECT_EQ(values(dgamma), std::vector<float>(4, 0));
  EXPECT_NO_THROW(p().softmax(e, zeros({0, 4}), 1));
  EXPECT_NO_THROW(p().softmax_backward(e, e2, zeros({0, 4}), 1));
  for (const Activation kind : kActivations) {
    EXPECT_NO_THROW(p().activation(kind, e, e2));
    EXPECT_NO_THROW(p().activation_backward(kind, e, e2, zeros({0, 4})));
  }
  EXPECT_NO_THROW(p().l2_normalize(e, rows, zeros({0, 4}), 1e-12));
  EXPECT_NO_THROW(p().l2_normalize_backward(e, e2, zeros({0, 4}), rows, 1e-12));
  EXPECT_NO_THROW(p().cross_entropy(rows, e, zeros({0, 4}), ints({}), 1));
  EXPECT_NO_THROW(p().softmax_entropy(rows, e, zeros({0, 4}), 1));
  Tensor indices = p().allocate(DType::I32, {0});
  EXPECT_NO_THROW(p().argmax(indices, zeros({0, 4})));
  Tensor v = zeros({0});
  EXPECT_NO_THROW(p().adam(rows, zeros({0}), rows2, v, AdamStep{}));
  Tensor patches = zeros({0, 4, 12});
  EXPECT_NO_THROW(p().patchify(patches, zeros({0, 3, 4, 4}), 2));
  EXPECT_NO_THROW(p().fill_random(e, Distribution::normal, 0, 1, 1));
}

// Provider methods may run concurrently on different tensors, each thread with its own
// number of op threads.
TEST_P(ProviderNnTest, OpsRunConcurrentlyOnDifferentTensors) {
  constexpr int kThreads = 6;
  const Shape shape{8 * 50, 64};
  const std::vector<float> x = random(shape, 300);
  const std::vector<float> gamma = random({64}, 301);
  const auto work = [&](Provider& provider, int thread) {
    Tensor tx = provider.allocate(DType::F32, shape);
    provider.upload(tx, x.data(), x.size() * sizeof(float));
    Tensor tg = provider.allocate(DType::F32, {64});
    provider.upload(tg, gamma.data(), gamma.size() * sizeof(float));
    Tensor y = provider.allocate(DType::F32, shape);
    Tensor mean = provider.allocate(DType::F32, {shape[0]});
    Tensor rstd = provider.allocate(DType::F32, {shape[0]});
    provider.layer_norm(y, mean, rstd, tx, tg, tg, 1e-5 * (thread + 1));
    Tensor scores = provider.allocate(DType::F32, {8, 50, 50});
    const Tensor heads = y.reshaped({8, 50, 64});
    provider.gemm_batched(false, true, 0.125, heads, heads, 0.0, scores);
    Tensor probs = provider.allocate(DType::F32, {8, 50, 50});
    provider.softmax(probs, scores, 1.0 + thread);
    Tensor dx = provider.allocate(DType::F32, shape);
    Tensor dgamma = provider.allocate(DType::F32, {64});
    Tensor dbeta = provider.allocate(DType::F32, {64});
    provider.layer_norm_backward(dx, dgamma, dbeta, y, tx, mean, rstd, tg);
    std::vector<float> out(probs.numel() + dx.numel() + dgamma.numel());
    provider.download(probs, out.data(), probs.nbytes());
    provider.download(dx, out.data() + probs.numel(), dx.nbytes());
    provider.download(dgamma, out.data() + probs.numel() + dx.numel(), dgamma.nbytes());
    return out;
  };
  std::vector<std::vector<float>> want;
  for (int t = 0; t < kThreads; ++t) want.push_back(work(p(), t));
  std::vector<std::vector<float>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (t % 2) p().set_op_threads(1);
      for (int repeat = 0; repeat < 3; ++repeat) got[t] = work(p(), t);
    });
  }
  for (std::thread& thread : threads) thread.join();
  // With fewer op threads a sum may be split differently: equal up to F32 reassociation.
  for (int t = 0; t < kThreads; ++t) {
    expect_close(got[t], widen(want[t]), 1e-4, 1e-5, "thread " + std::to_string(t));
  }
}

// One line per provider; add "cuda:0" once its module exists.
INSTANTIATE_TEST_SUITE_P(Cpu, ProviderNnTest, ::testing::Values("cpu"), test::provider_test_name);
INSTANTIATE_TEST_SUITE_P(Cuda, ProviderNnTest, ::testing::Values("cuda:0"),
                         test::provider_test_name);

}  // namespace
}  // namespace alloy
