// Twin-Merging end to end: on the tiny zoo the router learns to tell the tasks apart (on their
// validation inputs; measured on the test inputs) and the Twin model beats its own shared expert;
// the shared expert is whatever a loaded strategy writes, a third-party C plugin built against
// the frozen ABI 1.0 included; inspect counts the parameters; bad configs are clear errors that
// leave no output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "compute/provider.hpp"
#include "data/fashion_mnist.hpp"
#include "model/vit.hpp"
#include "model/zoo.hpp"
#include "model_set.hpp"

namespace alloy::test {
namespace {

using ::testing::HasSubstr;

// Four tasks whose inputs look unlike each other's (inverted, checkered, edge maps, pixelated).
const char* const kExperts[] = {"rot180_inverted", "checker_coarse", "edges", "pixelated"};
const std::string kPlugins = std::string(ALLOY_TEST_PLUGINS) + "/good";

std::string config(const std::string& root, const std::string& method, const std::string& params,
                   const std::string& data, int experts = 4) {
  std::string c = "merge_method: " + method + "\nbase_model: " + root + "/pretrained\nmodels:\n";
  for (int i = 0; i < experts; ++i) c += "  - " + root + "/finetuned/" + kExperts[i] + "\n";
  c += "parameters: " + params + "\n";
  if (!data.empty()) c += "data: " + data + "\n";
  return c;
}

nlohmann::json eval(const std::string& root, const std::string& model,
                    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {
      "eval", model, "--suite", "fmnist8-tiny", "--heads", root + "/heads.safetensors", "--json"};
  for (const char* task : kExperts) {
    args.push_back("--task");
    args.push_back(task);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult r = run_alloy(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

class TwinZoo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fashion_mnist_available()) return;
    zoo_dir_ = new TempDir();
    const auto provider = create_provider("cpu");
    // Experts fine-tuned long enough to know their tasks (the default 2 epochs leave them near
    // chance, where no merge has anything to keep), on an encoder pretrained long enough for its
    // hidden states to tell the tasks apart.
    ZooSpec spec = default_zoo_spec("fmnist8-tiny");
    spec.pretrain_epochs = 10;
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
  static TempDir* zoo_dir_;
};

TempDir* TwinZoo::zoo_dir_ = nullptr;

// The paper's settings: the shared expert is Task Arithmetic at 0.3, density 0.1. The router
// learns from the train split: the tiny suite's validation split (32 inputs a task) is too small
// for a router that generalises; fmnist8's (1,000 a task) is the default's.
TEST_F(TwinZoo, RouterTellsTheTasksApartAndTwinBeatsItsSharedExpert) {
  TempDir ta, twin;
  ASSERT_EQ(run_merge(ta, config(zoo(), "task_arithmetic", "{lambda: 0.3}", "")).exit_code, 0);
  const RunResult r = run_merge(
      twin, config(zoo(), "twin", "{shared_parameters: '{lambda: 0.3}', split: train, epochs: 300}",
                   "{suite: fmnist8-tiny}"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("right task for ([0-9.]+)%"))) << r.err;
  EXPECT_GT(std::stod(m[1]), 90.0) << "router accuracy on the inputs it learned from";

  // theta* is exactly what Task Arithmetic writes.
  const auto shared = read_model_f32(ta.file("out"));
  const auto merged = read_model_f32(twin.file("out"));
  ASSERT_FALSE(shared.empty());
  for (const auto& [name, values] : shared) EXPECT_EQ(merged.at(name), values) << name;

  const nlohmann::json base = eval(zoo(), ta.file("out"));
  const nlohmann::json got = eval(zoo(), twin.file("out"));
  double routed = 0;
  for (const char* task : kExperts) routed += got.at("routing").at(task).get<double>() / 4;
  EXPECT_GT(routed, 0.85) << got.dump();  // on the test inputs, never seen
  // 128 test images: +0.05 is seven more right than the shared expert.
  EXPECT_GT(got.at("average").get<double>(), base.at("average").get<double>() + 0.05)
      << "Twin " << got.dump() << "\nshared expert " << base.dump();
  // Sending every input to its task's expert is what a perfect router would do.
  const nlohmann::json oracle = eval(zoo(), twin.file("out"), {"--oracle-routing"});
  EXPECT_TRUE(oracle.at("oracle_routing").get<bool>());
  EXPECT_GT(oracle.at("average").get<double>(), base.at("average").get<double>());

  const RunResult inspect = run_alloy({"inspect", twin.file("out")});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_THAT(inspect.out, HasSubstr("Twin-Merging model: 4 experts, router of width 64"));
  EXPECT_TRUE(std::regex_search(
      inspect.out, std::regex("parameters: [0-9]+ \\([0-9.]+x a plain model's [0-9]+: low-rank")))
      << inspect.out;
  EXPECT_THAT(inspect.out, HasSubstr("metadata experts = "
                                     "[\"rot180_inverted\",\"checker_coarse\",\"edges\","
                                     "\"pixelated\"]"));
}

// Small random CLIP-style models for fmnist8-tiny's 28 x 28 grey images, in a zoo's layout:
// ROOT/pretrained and ROOT/finetuned/<task>.
void write_random_models(const std::string& root) {
  const auto provider = create_provider("cpu");
  VitConfig c;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_channels = 1;
  c.image_size = 28;
  c.patch_size = 7;
  c.projection_dim = 8;
  uint64_t seed = 1;
  VitModel model(c, *provider);
  model.init_random(seed++);
  model.save(root + "/pretrained");
  std::filesystem::create_directories(root + "/finetuned");
  for (const char* task : kExperts) {
    model.init_random(seed++);
    model.save(root + "/finetuned/" + task);
  }
}

TEST(Twin, SharedExpertIsWhatAnyLoadedStrategyWrites) {
  if (!fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  TempDir models, mean, twin;
  write_random_models(models.path());
  const std::vector<std::string> plugins = {"--plugin-dir", kPlugins};
  ASSERT_EQ(run_merge(mean, config(models.path(), "frozen_mean", "{}", ""), plugins).exit_code, 0);
  const RunResult r = run_merge(twin,
                                config(models.path(), "twin",
                                       "{shared_strategy: frozen_mean, shared_parameters: "
                                       "'{weight: 1.0}', epochs: 2}",
                                       "{suite: fmnist8-tiny}"),
                                plugins);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("ran strategy 'frozen_mean' ({weight: 1.0}) on 4 models"));
  const auto want = read_model_f32(mean.file("out"));
  const auto got = read_model_f32(twin.file("out"));
  ASSERT_FALSE(want.empty());
  for (const auto& [name, values] : want) EXPECT_EQ(got.at(name), values) << name;
  // fc1 is [24, 16]: floor(0.1 * 16) = 1 triplet per expert; a bias stays dense.
  const std::string fc1 = "vision_model.encoder.layers.0.mlp.fc1";
  EXPECT_EQ(got.at("twin.experts.3." + fc1 + ".weight.us").size(), 24u);
  EXPECT_EQ(got.at("twin.experts.3." + fc1 + ".weight.v").size(), 16u);
  EXPECT_EQ(got.at("twin.experts.0." + fc1 + ".bias").size(), 24u);
  EXPECT_EQ(got.count("twin.experts.0." + fc1 + ".weight"), 0u);  // never the product
}

TEST(Twin, BadConfigsAreClearErrorsThatLeaveNoOutput) {
  if (!fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  TempDir models, dir;
  write_random_models(models.path());
  const std::string data = "{suite: fmnist8-tiny}";
  const auto fails = [&](const std::string& params,
                         const std::string& with_data =
                             "{suite: "
                             "fmnist8-tiny}",
                         int experts = 4) {
    return failing_merge(dir, config(models.path(), "twin", params, with_data, experts));
  };
  EXPECT_THAT(fails("{shared_strategy: no_such}"),
              HasSubstr("strategy 'no_such', which is not loaded (loaded: "));
  EXPECT_THAT(fails("{shared_strategy: twin}"),
              HasSubstr("strategy 'twin' is already running (twin -> twin)"));
  EXPECT_THAT(fails("{shared_parameters: '{no_such: 1}'}"),
              HasSubstr("strategy 'task_arithmetic' has no parameter 'no_such'"));
  EXPECT_THAT(fails("{shared_parameters: '{lambda: [1, 2]}'}"),
              HasSubstr("parameter 'lambda' must be a single value"));
  EXPECT_THAT(fails("{shared_parameters: '{lambda: x}'}"), HasSubstr("'lambda'"));
  EXPECT_THAT(fails("{density: 0}"), HasSubstr("density must be in (0, 1]"));
  EXPECT_THAT(fails("{epochs: 0}"), HasSubstr("epochs must be at least 1"));
  EXPECT_THAT(fails("{split: test}"), HasSubstr("split"));
  EXPECT_THAT(fails("{}", ""), HasSubstr("data: section"));
  EXPECT_THAT(fails("{}", data, 1), HasSubstr("at least two fine-tuned models"));
}

}  // namespace
}  // namespace alloy::test
