// The CLI as users meet it: listing plugins, inspecting models, and every bad input reported
// with a clear message, a non-zero exit and no output folder left behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "model_set.hpp"
#include "run_alloy.hpp"

namespace alloy::test {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kGood = std::string(ALLOY_TEST_PLUGINS) + "/good";
const std::string kBad = std::string(ALLOY_TEST_PLUGINS) + "/bad";

TEST(Cli, PluginsListsBothStrategiesWithParameterDocs) {
  const RunResult r = run_alloy({"plugins"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("task_arithmetic 1.0.0"), HasSubstr("ties 1.0.0"),
                           HasSubstr("density"), HasSubstr("tensor|model"), HasSubstr("(ABI 1.2)"),
                           HasSubstr("Fraction of each task vector")));
}

TEST(Cli, PluginsReportsBadFilesAndStillLoadsTheRest) {
  TempDir dir;
  write_text(dir.file("garbage.so"), "this is not an ELF file");
  const RunResult r = run_alloy(
      {"plugins", "--plugin-dir", kGood, "--plugin-dir", kBad, "--plugin-dir", dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("c_mean"), HasSubstr("frozen_mean"), HasSubstr("ties")));
  EXPECT_THAT(r.err, HasSubstr("future_abi.so: built for alloy ABI 2.0"));
  EXPECT_THAT(r.err, HasSubstr("not_a_plugin.so: not an alloy plugin"));
  EXPECT_THAT(r.err, HasSubstr("garbage.so: cannot be loaded"));
  EXPECT_THAT(r.err, HasSubstr("c_mean_duplicate.so: plugin id 'c_mean' is already provided"));
}

TEST(Cli, PluginPathFromEnvironment) {
  const RunResult r = run_alloy({"plugins"}, {"ALLOY_PLUGIN_PATH=/nonexistent:" + kGood});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("misbehaving"));
}

TEST(Cli, CAndFrozenHeaderPluginsMerge) {
  for (const std::string id : {"c_mean", "frozen_mean"}) {
    TempDir dir;
    const ModelSet set = make_model_set(dir.path(), 2);
    const RunResult r =
        run_merge(dir,
                  "merge_method: " + id + "\nmodels:\n  - model: " + set.models[0] +
                      "\n    parameters: {weight: 3}\n" + "  - model: " + set.models[1] + "\n",
                  {"--plugin-dir", kGood});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto out = read_model_f32(dir.file("out"));
    const auto& a = set.values.at(set.models[0]).at("head.weight");
    const auto& b = set.values.at(set.models[1]).at("head.weight");
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(out.at("head.weight")[i], (3 * a[i] + b[i]) / 4, 1e-6) << id;
    }
  }
}

TEST(Cli, InspectShowsTensorsAndMetadata) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2, "BF16");
  ASSERT_EQ(run_merge(dir, merge_config(set, "task_arithmetic", "{lambda: 0.3}")).exit_code, 0);
  const RunResult r = run_alloy({"inspect", dir.file("out")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("layers.0.mlp.fc1.weight"), HasSubstr("BF16"),
                           HasSubstr("[48, 16]"), HasSubstr("merge_method = task_arithmetic"),
                           HasSubstr("\"lambda\":\"0.3\""), HasSubstr("7 tensors")));
}

TEST(Cli, ShardedOutputWithIndexReadsBack) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  const RunResult r =
      run_merge(dir, merge_config(set, "task_arithmetic", ""), {"--shard-size", "2KB"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.file("out/model.safetensors.index.json")));
  // 2 KB shards: [embed 2368 B], [q_proj + bias], [fc1 3072 B], [norm, head, scalar].
  EXPECT_TRUE(fs::exists(dir.file("out/model-00004-of-00004.safetensors")));
  EXPECT_EQ(read_model_f32(dir.file("out")).size(), 7u);
}

TEST(Cli, ExistingOutputIsRefusedUnlessForced) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  const std::string config = merge_config(set, "task_arithmetic", "");
  fs::create_directory(dir.file("out"));
  write_text(dir.file("out/keep"), "x");
  const RunResult refused = run_merge(dir, config);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("exists"));
  EXPECT_TRUE(fs::exists(dir.file("out/keep")));
  const RunResult forced = run_merge(dir, config, {"--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_FALSE(fs::exists(dir.file("out/keep")));
}

TEST(CliErrors, MalformedModelFileNamesTheFile) {
  TempDir dir;
  ModelSet set = make_model_set(dir.path(), 2);
  write_raw_safetensors(set.models[1], "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], ", {});
  const std::string err = failing_merge(dir, merge_config(set, "ties", ""));
  EXPECT_THAT(err, HasSubstr("model_1.safetensors"));
}

TEST(CliErrors, OffsetsPastTheEndNameFileAndTensor) {
  TempDir dir;
  ModelSet set = make_model_set(dir.path(), 2);
  write_raw_safetensors(
      set.models[0], R"({"head.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
      {1, 2, 3});
  const std::string err = failing_merge(dir, merge_config(set, "task_arithmetic", ""));
  EXPECT_THAT(err, AllOf(HasSubstr("model_0.safetensors"), HasSubstr("head.weight")));
}

TEST(CliErrors, MissingTensorNamesModelAndTensor) {
  TempDir dir;
  auto layout = default_layout();
  const ModelSet set = make_model_set(dir.path(), 2, "F32", layout);
  layout.pop_back();
  TempDir other;
  const ModelSet partial = make_model_set(other.path(), 1, "F32", layout);
  ModelSet mixed = set;
  mixed.models[1] = partial.models[0];
  const std::string err = failing_merge(dir, merge_config(mixed, "task_arithmetic", ""));
  EXPECT_THAT(err, AllOf(HasSubstr("scalar"), HasSubstr("has no tensor")));
}

TEST(CliErrors, ShapeMismatchNamesTensor) {
  TempDir dir;
  auto layout = default_layout();
  const ModelSet set = make_model_set(dir.path(), 2, "F32", layout);
  layout[0].shape = {36, 16};
  TempDir other;
  const ModelSet wrong = make_model_set(other.path(), 1, "F32", layout);
  ModelSet mixed = set;
  mixed.models[0] = wrong.models[0];
  const std::string err = failing_merge(dir, merge_config(mixed, "ties", ""));
  EXPECT_THAT(err, AllOf(HasSubstr("embed.weight"), HasSubstr("shape")));
}

TEST(CliErrors, MissingModelPath) {
  TempDir dir;
  ModelSet set = make_model_set(dir.path(), 2);
  set.models[1] = dir.file("nope.safetensors");
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "")), HasSubstr("nope.safetensors"));
}

TEST(CliErrors, BadParameterValueAndUnknownParameter) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "{lambda: abc}")),
              AllOf(HasSubstr("lambda"), HasSubstr("abc")));
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "{densty: 0.5}")),
              AllOf(HasSubstr("densty"), HasSubstr("density")));
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "{trim_scope: layer}")),
              AllOf(HasSubstr("trim_scope"), HasSubstr("tensor, model")));
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "", {"{density: 1.5}"})),
              HasSubstr("density"));
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "", {"{lambda: 0.5}"})),
              HasSubstr("global"));
}

TEST(CliErrors, UnknownStrategyListsAvailable) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  EXPECT_THAT(failing_merge(dir, merge_config(set, "dare_ties", "")),
              AllOf(HasSubstr("dare_ties"), HasSubstr("task_arithmetic")));
}

TEST(CliErrors, MalformedYamlAndUnsupportedKeys) {
  TempDir dir;
  EXPECT_THAT(failing_merge(dir, "models: [unclosed\n"), HasSubstr("merge.yaml"));
  const ModelSet set = make_model_set(dir.path(), 2);
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "", {}, "slices: []\n")),
              HasSubstr("slices"));
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "", {}, "dtype: float8\n")),
              HasSubstr("float8"));
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", "{density: [0.1, 0.5]}")),
              HasSubstr("gradient"));
}

TEST(CliErrors, MissingBaseModelForTies) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  const std::string config = "merge_method: ties\nmodels:\n  - model: " + set.models[0] +
                             "\n  - model: " + set.models[1] + "\n";
  EXPECT_THAT(failing_merge(dir, config), HasSubstr("needs a base_model"));
}

TEST(CliErrors, BadShardSizeAndUsage) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  EXPECT_THAT(failing_merge(dir, merge_config(set, "ties", ""), {"--shard-size", "lots"}),
              HasSubstr("lots"));
  EXPECT_EQ(run_alloy({"merge"}).exit_code, 2);
  EXPECT_EQ(run_alloy({"frobnicate"}).exit_code, 2);
}

}  // namespace
}  // namespace alloy::test
