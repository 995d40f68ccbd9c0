// Task Arithmetic and TIES through the real CLI and plugins, against the naive references.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model_set.hpp"
#include "reference.hpp"
#include "run_alloy.hpp"

namespace alloy::test {
namespace {

using ::testing::HasSubstr;

// Relative-or-absolute closeness at float32 rounding of the values involved.
void expect_close(const Weights& expected, const Weights& actual, double tolerance = 2e-6) {
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [name, e] : expected) {
    ASSERT_TRUE(actual.count(name)) << name;
    const auto& a = actual.at(name);
    ASSERT_EQ(e.size(), a.size()) << name;
    for (std::size_t j = 0; j < e.size(); ++j) {
      ASSERT_NEAR(e[j], a[j], tolerance * std::max(1.0f, std::fabs(e[j])))
          << name << "[" << j << "]";
    }
  }
}

std::vector<Weights> fine_tuned(const ModelSet& set) {
  std::vector<Weights> out;
  for (const auto& m : set.models) out.push_back(set.values.at(m));
  return out;
}

Weights merge(const TempDir& dir, const std::string& config,
              const std::vector<std::string>& extra_args = {}) {
  const RunResult r = run_merge(dir, config, extra_args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return read_model_f32(dir.file("out"));
}

TEST(TaskArithmetic, MatchesReferenceWithWeightsAndLambda) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 3);
  const Weights out = merge(dir, merge_config(set, "task_arithmetic", "{lambda: 0.3}",
                                              {"{weight: 0.5}", "", "{weight: 2.0}"}));
  expect_close(reference_task_arithmetic(set.values.at(set.base), fine_tuned(set), {0.5, 1.0, 2.0},
                                         0.3, false),
               out);
}

TEST(TaskArithmetic, NormalizeDividesByWeightSum) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  const Weights out = merge(dir, merge_config(set, "task_arithmetic", "{normalize: true}",
                                              {"{weight: 3}", "{weight: 1}"}));
  expect_close(
      reference_task_arithmetic(set.values.at(set.base), fine_tuned(set), {3, 1}, 1.0, true), out);
}

TEST(TaskArithmetic, ParallelAndSerialRunsAgreeBitForBit) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 3);
  const std::string config = merge_config(set, "task_arithmetic", "{lambda: 0.7}");
  const Weights one = merge(dir, config, {"--threads", "1"});
  const Weights two = merge(dir, config, {"--threads", "2", "--force"});
  EXPECT_EQ(one, two);
}

TEST(Ties, MergekitSemanticsPerTensor) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 3);
  const Weights out =
      merge(dir, merge_config(set, "ties", "{lambda: 0.9, int8_mask: true}",
                              {"{density: 0.5, weight: 1.0}", "{density: 0.3, weight: 0.7}",
                               "{density: 0.9, weight: 1.3}"}));
  TiesOptions opt;
  opt.densities = {0.5, 0.3, 0.9};
  opt.weights = {1.0, 0.7, 1.3};
  opt.lambda = 0.9;
  expect_close(reference_ties(set.values.at(set.base), fine_tuned(set), opt), out);
}

TEST(Ties, DefaultDensityIsTwentyPercent) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 3);
  const Weights out = merge(dir, merge_config(set, "ties", ""));
  TiesOptions opt;
  opt.densities = {0.2, 0.2, 0.2};
  opt.weights = {1, 1, 1};
  expect_close(reference_ties(set.values.at(set.base), fine_tuned(set), opt), out);
}

TEST(Ties, NormalizeFalseMeansDisjointSum) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 3);
  const Weights out = merge(dir, merge_config(set, "ties", "{normalize: false, density: 0.4}"));
  TiesOptions opt;
  opt.densities = {0.4, 0.4, 0.4};
  opt.weights = {1, 1, 1};
  opt.mean = false;
  expect_close(reference_ties(set.values.at(set.base), fine_tuned(set), opt), out);
}

TEST(Ties, ModelScopeOneThresholdPerTaskVector) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 4);
  const Weights out = merge(
      dir, merge_config(set, "ties", "{trim_scope: model, disjoint: sum, lambda: 0.3}",
                        {"{density: 0.2}", "{density: 0.1}", "{density: 0.6}", "{density: 0.0}"}));
  TiesOptions opt;
  opt.densities = {0.2, 0.1, 0.6, 0.0};
  opt.weights = {1, 1, 1, 1};
  opt.lambda = 0.3;
  opt.model_scope = true;
  opt.mean = false;
  expect_close(reference_ties(set.values.at(set.base), fine_tuned(set), opt), out);
}

TEST(Ties, Bf16ModelsMergeInF32AndWriteRequestedDtype) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 3, "BF16");
  const Weights out =
      merge(dir, merge_config(set, "ties", "{density: 0.5}", {}, "out_dtype: float32\n"));
  TiesOptions opt;
  opt.densities = {0.5, 0.5, 0.5};
  opt.weights = {1, 1, 1};
  expect_close(reference_ties(set.values.at(set.base), fine_tuned(set), opt), out);
}

TEST(Ties, OutputDtypeDefaultsToTheInputs) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2, "F16");
  ASSERT_EQ(run_merge(dir, merge_config(set, "ties", "")).exit_code, 0);
  const RunResult inspect = run_alloy({"inspect", dir.file("out")});
  EXPECT_THAT(inspect.out, HasSubstr("F16"));
  EXPECT_THAT(inspect.out, ::testing::Not(HasSubstr("F32")));
}

}  // namespace
}  // namespace alloy::test
