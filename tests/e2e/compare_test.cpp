// `alloy compare` as users run it, over the tiny fmnist8 zoo: a sweep with validation selection,
// a second strategy, baselines and a failing run; caching and resuming after a kill.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "data/fashion_mnist.hpp"
#include "run_alloy.hpp"
#include "test_files.hpp"

namespace alloy::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr const char* kTasks[] = {"upright",        "rot90", "rot180_inverted", "pixelated",
                                  "patch_shuffled", "noisy", "edges",           "checker_coarse"};

class Compare : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fashion_mnist_available()) return;
    zoo_dir_ = new TempDir();
    const RunResult built =
        run_alloy({"zoo", "build", "fmnist8-tiny", "-o", zoo(), "--finetune-epochs", "40", "-q"});
    ASSERT_EQ(built.exit_code, 0) << built.err;
  }
  static void TearDownTestSuite() {
    delete zoo_dir_;
    zoo_dir_ = nullptr;
  }
  void SetUp() override {
    if (!fashion_mnist_available()) {
      GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
    }
  }
  static std::string zoo() { return zoo_dir_->file("zoo"); }

  // A spec over the tiny zoo with `runs` (YAML list items, indented by two spaces).
  std::string write_spec(const std::string& runs) {
    std::string text = "models:\n  base: " + zoo() + "/pretrained\n  experts:\n";
    for (const char* task : kTasks) text += "    - " + zoo() + "/finetuned/" + task + "\n";
    text += "  heads: " + zoo() + "/heads.safetensors\ndata: {suite: fmnist8-tiny}\nruns:\n" + runs;
    const std::string path = dir_.file("spec.yaml");
    write_text(path, text);
    return path;
  }

  json results() const { return json::parse(read_text(dir_.file("out/results.json"))); }

  static TempDir* zoo_dir_;
  TempDir dir_;
};

TempDir* Compare::zoo_dir_ = nullptr;

const json& run_labelled(const json& results, const std::string& label) {
  for (const json& run : results["runs"]) {
    if (run["label"] == label) return run;
  }
  throw std::runtime_error("no run labelled " + label);
}

double eval_average(const std::string& model, const std::string& zoo, const char* split) {
  const RunResult r = run_alloy({"eval", model, "--suite", "fmnist8-tiny", "--heads",
                                 zoo + "/heads.safetensors", "--split", split, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out)["average"].get<double>();
}

TEST_F(Compare, SweepSelectionBaselinesAndAFailingRun) {
  const std::string spec = write_spec(
      "  - baseline: pretrained\n"
      "  - baseline: individual\n"
      "  - name: TA\n    merge_method: task_arithmetic\n"
      "    parameters: {lambda: [0.1, 0.3, 0.6]}\n    select: validation\n"
      "  - name: TIES\n    merge_method: ties\n    parameters: {lambda: 0.5}\n"
      "    model_parameters: {density: [0.2, 0.5]}\n"
      // Twin-Merging runs Task Arithmetic inside its own job (strategy_run).
      "  - name: Twin\n    merge_method: twin\n    parameters: {density: 0.1, epochs: 5}\n"
      "  - name: missing\n    merge_method: no_such_strategy\n");
  const RunResult r = run_alloy({"compare", spec, "-o", dir_.file("out")});
  // One failing run fails the command but not the others.
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("1 of 9 runs failed"));
  EXPECT_THAT(r.out, AllOf(HasSubstr("| pretrained |"), HasSubstr("chosen on validation"),
                           HasSubstr("| TIES density=0.2 |"), HasSubstr("| TIES density=0.5 |"),
                           HasSubstr("failed: no strategy plugin with id 'no_such_strategy'"),
                           HasSubstr("against lambda")));

  const json res = results();
  ASSERT_EQ(res["runs"].size(), 9u);
  EXPECT_EQ(run_labelled(res, "missing")["status"], "failed");
  const json& twin = run_labelled(res, "Twin");
  ASSERT_EQ(twin["status"], "ok") << twin.value("error", "");
  EXPECT_GT(twin["parameters_count"].get<double>(),
            run_labelled(res, "pretrained")["parameters_count"].get<double>());
  // The selected TA point is the one with the best validation average.
  int selected = 0;
  double best = -1;
  for (const char* label : {"TA lambda=0.1", "TA lambda=0.3", "TA lambda=0.6"}) {
    const json& run = run_labelled(res, label);
    ASSERT_EQ(run["status"], "ok") << label;
    best = std::max(best, run["average"]["validation"].get<double>());
  }
  for (const char* label : {"TA lambda=0.1", "TA lambda=0.3", "TA lambda=0.6"}) {
    const json& run = run_labelled(res, label);
    if (run["selected"].get<bool>()) {
      ++selected;
      EXPECT_EQ(run["average"]["validation"].get<double>(), best);
    }
  }
  EXPECT_EQ(selected, 1);

  // Figures are alloy eval's on the merged model and the baselines' own models.
  const json& ta = run_labelled(res, "TA lambda=0.3");
  EXPECT_NEAR(ta["average"]["test"].get<double>(),
              eval_average(ta["dir"].get<std::string>() + "/model", zoo(), "test"), 1e-9);
  EXPECT_NEAR(run_labelled(res, "pretrained")["average"]["test"].get<double>(),
              eval_average(zoo() + "/pretrained", zoo(), "test"), 1e-9);
  const json& individual = run_labelled(res, "individual");
  EXPECT_NEAR(individual["normalized"].get<double>(), 1.0, 1e-12);
  double normalized = 0;
  for (const char* task : kTasks) {
    normalized += ta["accuracy"]["test"][task].get<double>() /
                  individual["accuracy"]["test"][task].get<double>();
  }
  EXPECT_NEAR(ta["normalized"].get<double>(), normalized / 8, 1e-9);
  EXPECT_GT(ta["merge"]["peak_memory_bytes"].get<double>(), 0);
  EXPECT_EQ(ta["parameters_count"], run_labelled(res, "pretrained")["parameters_count"]);

  const std::string csv = read_text(dir_.file("out/results.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 10);  // header + 9 runs
  EXPECT_THAT(read_text(dir_.file("out/results.md")), HasSubstr("| TIES density=0.5 |"));
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_THAT(read_text(dir_.file("out/per_task.svg")), HasSubstr("<svg"));
    EXPECT_THAT(read_text(dir_.file("out/sweep_lambda.svg")), HasSubstr("<svg"));
  }
}

TEST_F(Compare, RerunSkipsUnchangedRunsAndRedoesChangedOnes) {
  const std::string runs =
      "  - name: TA\n    merge_method: task_arithmetic\n    parameters: {lambda: [0.1, 0.3]}\n";
  const RunResult first = run_alloy({"compare", write_spec(runs), "-o", dir_.file("out")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // Held in a variable: a range-for over results()["runs"] would outlive the temporary.
  const json first_results = results();
  ASSERT_EQ(first_results["runs"].size(), 2u);  // the two TA points
  for (const json& run : first_results["runs"]) EXPECT_FALSE(run["cached"].get<bool>());

  const RunResult again = run_alloy({"compare", write_spec(runs), "-o", dir_.file("out")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const json again_results = results();
  ASSERT_EQ(again_results["runs"].size(), 2u);
  for (const json& run : again_results["runs"]) EXPECT_TRUE(run["cached"].get<bool>());
  EXPECT_EQ(again.out, first.out);  // the same table

  const RunResult changed =
      run_alloy({"compare",
                 write_spec("  - name: TA\n    merge_method: task_arithmetic\n"
                            "    parameters: {lambda: [0.1, 0.4]}\n"),
                 "-o", dir_.file("out")});
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  const json res = results();
  EXPECT_TRUE(run_labelled(res, "TA lambda=0.1")["cached"].get<bool>());
  EXPECT_FALSE(run_labelled(res, "TA lambda=0.4")["cached"].get<bool>());
}

TEST_F(Compare, ResumesAfterAKill) {
  const std::string spec = write_spec(
      "  - name: TA\n    merge_method: task_arithmetic\n"
      "    parameters: {lambda: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]}\n");
  const std::string out = dir_.file("out");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setpgid(0, 0);  // so that the kill reaches the comparison's own children too
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDOUT_FILENO);
    ::dup2(devnull, STDERR_FILENO);
    ::execl(ALLOY_BINARY, ALLOY_BINARY, "compare", spec.c_str(), "-o", out.c_str(), nullptr);
    ::_exit(127);
  }
  // Kill it once some runs are done and before all are.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  auto finished = [&] {
    int n = 0;
    std::error_code error;
    if (!fs::exists(out + "/runs", error)) return 0;
    for (const auto& entry : fs::directory_iterator(out + "/runs", error)) {
      n += fs::exists(entry.path() / "run.json", error);
    }
    return n;
  };
  while (finished() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  const int done_before = finished();
  ASSERT_GE(done_before, 3);
  ASSERT_FALSE(fs::exists(out + "/results.json")) << "the comparison ended before the kill";

  const RunResult resumed = run_alloy({"compare", spec, "-o", out});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const json res = results();
  ASSERT_EQ(res["runs"].size(), 8u);
  int cached = 0;
  for (const json& run : res["runs"]) {
    EXPECT_EQ(run["status"], "ok");
    cached += run["cached"].get<bool>();
  }
  // The individual baseline (run first) and the finished TA points were not done again.
  EXPECT_GE(cached, done_before - 1);
  EXPECT_LT(cached, 8);
}

TEST_F(Compare, BadSpecIsAClearErrorAndLeavesNothing) {
  const std::string spec = write_spec(
      "  - name: TA\n    merge_method: task_arithmetic\n"
      "    parameters: {lambda: 0.3}\n    select: validation\n");
  const RunResult r = run_alloy({"compare", spec, "-o", dir_.file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr(spec), HasSubstr("runs[0].select needs a grid")));
  EXPECT_FALSE(fs::exists(dir_.file("out")));

  write_text(dir_.file("typo.yaml"), "models: {base: x, experts: [y]}\nrunz: []\n");
  const RunResult typo = run_alloy({"compare", dir_.file("typo.yaml"), "-o", dir_.file("out")});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_THAT(typo.err, HasSubstr("unknown key 'runz'"));
  EXPECT_FALSE(fs::exists(dir_.file("out")));
}

}  // namespace
}  // namespace alloy::test
