// WEMoE end to end on the tiny zoo: the untrained upscaled model is Task Arithmetic at
// init_lambda (so the dynamic modules, the file layout and eval agree), test-time adaptation
// lowers the entropy and raises accuracy over that Task Arithmetic, inspect shows the modules,
// and bad configs are clear errors that leave no output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "compute/provider.hpp"
#include "data/fashion_mnist.hpp"
#include "model/zoo.hpp"
#include "model_set.hpp"

namespace alloy::test {
namespace {

using ::testing::HasSubstr;

// The tasks whose tiny experts learned most over their pretrained model (fine-tuned 40 epochs:
// the default 2 leave them near chance, where entropy says nothing about accuracy).
const char* const kExperts[] = {"checker_coarse", "rot90", "noisy", "pixelated"};

class WemoeZoo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fashion_mnist_available()) return;
    zoo_dir_ = new TempDir();
    const auto provider = create_provider("cpu");
    ZooSpec spec = default_zoo_spec("fmnist8-tiny");
    spec.finetune_epochs = 40;
    build_zoo(spec, zoo(), *provider);
  }
  static void TearDownTestSuite() {
    delete zoo_dir_;
    zoo_dir_ = nullptr;
  }
  void SetUp() override {
    if (!fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  }
  static std::string zoo() { return zoo_dir_->file("zoo"); }

  static std::string config(const std::string& method, const std::string& params,
                            const std::string& data) {
    std::string c = "merge_method: " + method + "\nbase_model: " + zoo() + "/pretrained\nmodels:\n";
    for (const char* task : kExperts) c += "  - " + zoo() + "/finetuned/" + task + "\n";
    c += "parameters: " + params + "\n";
    if (!data.empty()) c += "data: " + data + "\n";
    return c;
  }
  static std::string data() {
    return "{suite: fmnist8-tiny, heads: " + zoo() + "/heads.safetensors, split: test}";
  }

  // Test accuracy of every expert's task, from `alloy eval --json`.
  static std::map<std::string, double> eval(const std::string& model) {
    std::vector<std::string> args = {"eval",         model,     "--suite",
                                     "fmnist8-tiny", "--heads", zoo() + "/heads.safetensors",
                                     "--json"};
    for (const char* task : kExperts) {
      args.push_back("--task");
      args.push_back(task);
    }
    const RunResult r = run_alloy(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, double> accuracy;
    if (r.exit_code != 0) return accuracy;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    for (const auto& [task, value] : j.at("accuracy").items()) accuracy[task] = value.get<double>();
    accuracy["average"] = j.at("average").get<double>();
    return accuracy;
  }

  static TempDir* zoo_dir_;
};

TempDir* WemoeZoo::zoo_dir_ = nullptr;

// Constant routers at init_lambda and no adaptation: every MLP mixes the task vectors with
// weight init_lambda, which is Task Arithmetic at that lambda, up to float rounding.
TEST_F(WemoeZoo, UntrainedUpscaledModelIsTaskArithmetic) {
  TempDir ta, moe;
  ASSERT_EQ(run_merge(ta, config("task_arithmetic", "{lambda: 0.3}", "")).exit_code, 0);
  const RunResult r = run_merge(
      moe, config("wemoe", "{init_lambda: 0.3, steps: 0, router_hidden_layers: 0}", data()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto want = eval(ta.file("out"));
  const auto got = eval(moe.file("out"));
  for (const auto& [task, accuracy] : want) EXPECT_NEAR(got.at(task), accuracy, 1e-9) << task;

  const RunResult inspect = run_alloy({"inspect", moe.file("out")});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_THAT(inspect.out, HasSubstr("module vision_model.encoder.layers.1.mlp: WEMoE MLP, 4 "
                                     "experts, router with 0 hidden layers"));
  EXPECT_THAT(inspect.out, HasSubstr("2 of 2 MLPs upscaled"));
  EXPECT_THAT(inspect.out, HasSubstr("metadata experts = "
                                     "[\"checker_coarse\",\"rot90\",\"noisy\",\"pixelated\"]"));
  EXPECT_THAT(inspect.out, HasSubstr("metadata modules = [{\"kind\":\"wemoe_mlp\""));
}

// The paper's method: two-layer routers adapted on unlabelled test inputs by entropy.
TEST_F(WemoeZoo, AdaptationLowersEntropyAndBeatsTaskArithmetic) {
  TempDir ta, moe;
  ASSERT_EQ(run_merge(ta, config("task_arithmetic", "{lambda: 0.3}", "")).exit_code, 0);
  const RunResult r = run_merge(
      moe, config("wemoe", "{init_lambda: 0.3, steps: 300, batch_size: 16, lr: 1e-4}", data()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("entropy ([0-9.]+) -> ([0-9.]+)"))) << r.err;
  const double first = std::stod(m[1]), last = std::stod(m[2]);
  EXPECT_LT(last, 0.9 * first) << r.err;
  const auto want = eval(ta.file("out"));
  const auto got = eval(moe.file("out"));
  // 128 test images: +0.015 is two more right than Task Arithmetic.
  EXPECT_GT(got.at("average"), want.at("average") + 0.01)
      << "WEMoE " << got.at("average") << " vs Task Arithmetic " << want.at("average");
}

TEST_F(WemoeZoo, BadConfigsAreClearErrors) {
  TempDir dir;
  EXPECT_THAT(failing_merge(dir, config("wemoe", "{steps: 5}", "")), HasSubstr("data: section"));
  EXPECT_THAT(failing_merge(dir, config("wemoe", "{steps: 5}", "{suite: fmnist8-tiny}")),
              HasSubstr("heads: FILE"));
  EXPECT_THAT(failing_merge(dir, config("wemoe", "{router_hidden_layers: 3}", data())),
              HasSubstr("router_hidden_layers must be 0, 1 or 2"));
  EXPECT_THAT(failing_merge(dir, config("wemoe", "{split: holdout}", data())), HasSubstr("split"));
  const std::string bad_heads =
      "{suite: fmnist8-tiny, heads: " + dir.file("missing.safetensors") + "}";
  EXPECT_THAT(failing_merge(dir, config("wemoe", "{steps: 5}", bad_heads)),
              HasSubstr("missing.safetensors"));
}

}  // namespace
}  // namespace alloy::test
