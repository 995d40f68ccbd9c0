// alloy train MODEL --suite SUITE --task TASK --heads HEADS -o OUT: fine-tunes an encoder on
// one task through that task's frozen head, as the zoo makes its experts (core/model/zoo.hpp).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "error.hpp"
#include "model/heads.hpp"
#include "model/preprocessing.hpp"
#include "model/training.hpp"
#include "model/zoo.hpp"
#include "options.hpp"
#include "progress_bar.hpp"

namespace alloy::cli {
namespace {

// The head must classify this task's labels from this model's embeddings.
void check_head_fits(const Head& head, const Task& task, const VitModel& model,
                     const std::string& heads_path) {
  const Shape& shape = head.weight.shape();
  if (shape[0] != task.class_count() || shape[1] != model.config().projection_dim) {
    fail(ALLOY_ERR_SHAPE,
         "{}: head '{}' is {}, but the task has {} classes and the model's embeddings {} values",
         heads_path, head.task, shape_string(shape), task.class_count(),
         model.config().projection_dim);
  }
}

}  // namespace

int train_command(const Args& args) {
  po::options_description visible("train options");
  std::string suite_name, data_file, task_name, heads_path, output;
  TrainOptions options;
  int threads = 0;
  visible.add_options()("suite", po::value(&suite_name), "built-in suite: fmnist8, fmnist8-small, fmnist8-tiny")(
      "data", po::value(&data_file), "your own tasks: a task file (docs/data.md)")(
      "task", po::value(&task_name)->required(), "the task to fine-tune on (its train split)")(
      "heads", po::value(&heads_path)->required(), "heads file (the task's head stays frozen)")(
      "output,o", po::value(&output)->required(), "output model folder")(
      "epochs", po::value(&options.epochs)->default_value(5), "passes over the train split")(
      "lr", po::value(&options.adam.lr)->default_value(3e-4, "3e-4"), "Adam learning rate")(
      "batch-size", po::value(&options.batch_size)->default_value(128), "images per step")(
      "seed", po::value(&options.seed)->default_value(0), "example order")(
      "threads", po::value(&threads)->default_value(0), "threads (0: every core)")(
      "overwrite", "replace OUT if it exists")("quiet,q", "no progress");
  po::options_description hidden;
  std::string model_dir;
  hidden.add_options()("model", po::value(&model_dir)->required(), "model folder");
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args,
                     "alloy train MODEL (--suite S | --data FILE) --task T --heads HEADS -o OUT "
                     "[options]",
                     visible, hidden, positional, vm, &exit_code)) {
    return exit_code;
  }
  const bool overwrite = vm.count("overwrite") > 0;
  ProgressBar bar(vm.count("quiet") == 0);
  try {
    if (suite_name.empty() == data_file.empty()) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "give either --suite or --data");
    }
    if (options.epochs < 1 || options.batch_size < 1 || !(options.adam.lr > 0) ||
        !std::isfinite(options.adam.lr)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT,
           "--epochs {}, --batch-size {} and --lr {} must be positive numbers", options.epochs,
           options.batch_size, options.adam.lr);
    }
    std::error_code error;
    if (!overwrite && std::filesystem::exists(std::filesystem::symlink_status(output, error))) {
      fail(ALLOY_ERR_IO, "output folder {} already exists (pass --overwrite to replace it)",
           output);
    }
    TaskSuite suite;
    suite.name = suite_name.empty() ? data_file : suite_name;
    suite.tasks = load_tasks(suite_name, data_file);
    const Task& task = suite.task(task_name);
    const auto provider = create_provider("cpu");
    if (threads > 0) provider->set_op_threads(threads);
    VitModel model = VitModel::load(model_dir, *provider);
    const Preprocessing preprocessing = load_preprocessing(model_dir, model.config().num_channels);
    Head head = find_head(load_heads(heads_path, *provider), task.name, heads_path);
    check_head_fits(head, task, model, heads_path);

    std::printf("fine-tuning %s on %s: %lld images, %lld epochs, batch %lld, lr %g\n",
                model_dir.c_str(), task.name.c_str(), static_cast<long long>(task.train.size()),
                static_cast<long long>(options.epochs), static_cast<long long>(options.batch_size),
                options.adam.lr);
    std::printf("validation accuracy before: %6.2f%%\n",
                100 * accuracy(model, head, task.validation, preprocessing));
    std::fflush(stdout);

    const auto started = std::chrono::steady_clock::now();
    const std::string phase = "fine-tuning " + task.name;
    options.preprocessing = preprocessing;
    options.cancel = cancel_on_interrupt();
    options.on_step = [&](int64_t done, int64_t total, double) {
      JobProgress shown;
      shown.phase = phase.c_str();
      shown.done = static_cast<uint64_t>(done);
      shown.total = static_cast<uint64_t>(total);
      shown.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      bar.update(shown);
    };
    const std::vector<double> losses = train(model, head, false, task.train, options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    bar.finish();
    for (std::size_t epoch = 0; epoch < losses.size(); ++epoch) {
      std::printf("epoch %zu: mean loss %.4f\n", epoch + 1, losses[epoch]);
    }
    std::printf("validation accuracy after:  %6.2f%%\n",
                100 * accuracy(model, head, task.validation, preprocessing));
    // A stop asked for during the last step still leaves nothing.
    if (options.cancel->load()) fail(ALLOY_ERR_CANCELLED, "training cancelled");
    save_model_folder(model, preprocessing, output, overwrite);
    std::printf("trained in %.1f s\n%s\n", seconds, output.c_str());
    return 0;
  } catch (const std::exception& e) {
    bar.finish();
    return job_failed(e);
  }
}

}  // namespace alloy::cli
