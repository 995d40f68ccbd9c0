// alloy zoo build SUITE -o DIR: the pretrained encoder, the heads and the fine-tuned encoders
// of a task suite (see core/model/zoo.hpp), cached in DIR.
#include <chrono>
#include <cstdio>

#include "error.hpp"
#include "model/zoo.hpp"
#include "options.hpp"
#include "progress_bar.hpp"

namespace alloy::cli {
int zoo_command(const Args& args) {
  po::options_description visible("zoo options");
  std::string output;
  uint64_t seed = 0;
  int threads = 0;
  int64_t finetune_epochs = 0;
  visible.add_options()("output,o", po::value(&output)->required(), "zoo folder")(
      "finetune-epochs", po::value(&finetune_epochs),
      "fine-tuning epochs per task (default: the suite's, 5 for fmnist8, 2 for fmnist8-tiny)")(
      "seed", po::value(&seed)->default_value(0), "initialisation and example order")(
      "threads", po::value(&threads)->default_value(0), "threads (0: every core)")(
      "quiet,q", "no progress bar");
  po::options_description hidden;
  std::string action, suite;
  hidden.add_options()("action", po::value(&action)->required(), "build")(
      "suite", po::value(&suite)->required(), "suite");
  po::positional_options_description positional;
  positional.add("action", 1).add("suite", 1);
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy zoo build fmnist8|fmnist8-small|fmnist8-tiny -o DIR [options]", visible, hidden,
                     positional, vm, &exit_code)) {
    return exit_code;
  }
  ProgressBar bar(vm.count("quiet") == 0);
  try {
    if (action != "build") fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown zoo action '{}'", action);
    ZooSpec spec = default_zoo_spec(suite);
    spec.seed = seed;
    if (vm.count("finetune-epochs")) {
      if (finetune_epochs < 1) {
        fail(ALLOY_ERR_INVALID_ARGUMENT, "--finetune-epochs {} is not a positive number",
             finetune_epochs);
      }
      spec.finetune_epochs = finetune_epochs;
    }
    const auto provider = create_provider("cpu");
    if (threads > 0) provider->set_op_threads(threads);
    const auto started = std::chrono::steady_clock::now();
    std::string stage;  // JobProgress keeps a pointer to it
    const ZooBuild build = build_zoo(
        spec, output, *provider,
        [&](const ZooProgress& p) {
          stage = p.stage;
          JobProgress shown;
          shown.phase = stage.c_str();
          shown.done = static_cast<uint64_t>(p.done);
          shown.total = static_cast<uint64_t>(p.total);
          shown.seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
          bar.update(shown);
        },
        cancel_on_interrupt());
    bar.finish();
    if (build.cached) {
      std::printf("%s already holds this zoo\n", output.c_str());
    } else {
      std::printf("built the %s zoo in %.1f s\n", suite.c_str(), build.seconds);
    }
    std::printf("validation accuracy (pretrained -> fine-tuned):\n");
    for (const auto& [key, value] : build.accuracies) {
      if (key.rfind("pretrained/", 0) == 0) continue;
      const auto pretrained = build.accuracies.find("pretrained/" + key);
      std::printf("  %-18s %5.1f%% -> %5.1f%%\n", key.c_str(),
                  pretrained == build.accuracies.end() ? 0.0 : 100 * pretrained->second,
                  100 * value);
    }
    std::printf("%s\n", output.c_str());
    return 0;
  } catch (const std::exception& e) {
    bar.finish();
    return job_failed(e);
  }
}

}  // namespace alloy::cli
