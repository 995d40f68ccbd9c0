// `alloy zoo build` and `alloy eval` as users run them, on the tiny fmnist8 suite.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "data/fashion_mnist.hpp"
#include "run_alloy.hpp"
#include "test_files.hpp"

namespace alloy::test {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

class Zoo : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fashion_mnist_available()) {
      GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
    }
  }
  TempDir dir_;
};

TEST_F(Zoo, BuildsOnceThenReusesAndEvaluates) {
  const std::string zoo = dir_.file("zoo");
  const RunResult built = run_alloy({"zoo", "build", "fmnist8-tiny", "-o", zoo, "--quiet"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  EXPECT_THAT(built.out, AllOf(HasSubstr("built the fmnist8-tiny zoo"), HasSubstr("rot90")));
  for (const char* task : {"upright", "rot90", "rot180_inverted", "pixelated", "patch_shuffled",
                           "noisy", "edges", "checker_coarse"}) {
    EXPECT_TRUE(fs::exists(zoo + "/finetuned/" + task + "/model.safetensors")) << task;
    EXPECT_TRUE(fs::exists(zoo + "/finetuned/" + task + "/config.json")) << task;
  }
  EXPECT_TRUE(fs::exists(zoo + "/pretrained/model.safetensors"));
  EXPECT_TRUE(fs::exists(zoo + "/heads.safetensors"));
  const std::string manifest = read_text(zoo + "/zoo.json");

  const RunResult again = run_alloy({"zoo", "build", "fmnist8-tiny", "-o", zoo, "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("already holds this zoo"));
  EXPECT_EQ(read_text(zoo + "/zoo.json"), manifest);

  const RunResult other = run_alloy({"zoo", "build", "fmnist8-tiny", "-o", zoo, "--seed", "5"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.err, HasSubstr("holds a zoo built with other settings"));

  const RunResult table = run_alloy({"eval", zoo + "/finetuned/rot90", "--suite", "fmnist8-tiny",
                                     "--heads", zoo + "/heads.safetensors"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out,
              AllOf(HasSubstr("task"), HasSubstr("checker_coarse"), HasSubstr("average")));
  const RunResult json =
      run_alloy({"eval", zoo + "/pretrained", "--suite", "fmnist8-tiny", "--heads",
                 zoo + "/heads.safetensors", "--split", "validation", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, AllOf(HasSubstr("\"split\": \"validation\""), HasSubstr("\"average\"")));

  // Only the tasks asked for, in that order.
  const RunResult some =
      run_alloy({"eval", zoo + "/pretrained", "--suite", "fmnist8-tiny", "--heads",
                 zoo + "/heads.safetensors", "--task", "noisy", "--task", "rot90"});
  ASSERT_EQ(some.exit_code, 0) << some.err;
  EXPECT_THAT(some.out, AllOf(HasSubstr("noisy"), HasSubstr("rot90")));
  EXPECT_THAT(some.out, ::testing::Not(HasSubstr("upright")));
  EXPECT_LT(some.out.find("noisy"), some.out.find("rot90"));
  const RunResult unknown = run_alloy({"eval", zoo + "/pretrained", "--suite", "fmnist8-tiny",
                                       "--heads", zoo + "/heads.safetensors", "--task", "rot45"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("--task 'rot45': fmnist8-tiny has no such task (it has "));
}

TEST_F(Zoo, BadArgumentsAreClearErrors) {
  const RunResult suite = run_alloy({"zoo", "build", "imagenet", "-o", dir_.file("z")});
  EXPECT_EQ(suite.exit_code, 1);
  EXPECT_THAT(suite.err, HasSubstr("unknown suite 'imagenet' (fmnist8, fmnist8-small, fmnist8-tiny)"));
  EXPECT_FALSE(fs::exists(dir_.file("z")));
  const RunResult missing =
      run_alloy({"eval", dir_.file("nope"), "--suite", "fmnist8-tiny", "--heads", dir_.file("h")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("nope/config.json"));
  const RunResult split = run_alloy({"eval", dir_.file("nope"), "--suite", "fmnist8-tiny",
                                     "--heads", dir_.file("h"), "--split", "dev"});
  EXPECT_THAT(split.err, HasSubstr("--split 'dev' is not train, validation or test"));
}

}  // namespace
}  // namespace alloy::test
