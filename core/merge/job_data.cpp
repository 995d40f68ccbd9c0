#include "merge/job_data.hpp"

#include <algorithm>
#include <filesystem>
#include <random>
#include <system_error>

#include "data/fmnist8.hpp"
#include "data/seeded_random.hpp"
#include "error.hpp"
#include "model/training.hpp"
#include "model/zoo.hpp"

namespace alloy {
namespace fs = std::filesystem;

namespace {

// Task names of a features folder: the stems of its .safetensors files, sorted.
std::vector<std::string> feature_files(const std::string& dir, const std::string& source) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    fail(ALLOY_ERR_NOT_FOUND, "{}: data.features '{}' is not a folder", source, dir);
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".safetensors") names.push_back(entry.path().stem().string());
  }
  if (error)
    fail(ALLOY_ERR_IO, "{}: cannot list data.features '{}': {}", source, dir, error.message());
  if (names.empty()) {
    fail(ALLOY_ERR_NOT_FOUND,
         "{}: data.features '{}' holds no <task>.safetensors file (docs/features.md)", source, dir);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

JobData::JobData(const DataConfig& config, const std::string& config_source)
    : config_(config), source_(config_source) {
  if (!config_.features.empty()) {
    names_ = feature_files(config_.features, source_);
    return;
  }
  if (config_.suite == "fmnist8" || config_.suite == "fmnist8-small" ||
      config_.suite == "fmnist8-tiny") {
    names_ = fmnist8_task_names();
  } else {
    for (const Task& task : tasks()) names_.push_back(task.name);
  }
}

const std::vector<Task>& JobData::tasks() const {
  std::call_once(tasks_loaded_, [&] { tasks_ = load_tasks(config_.suite, config_.tasks); });
  return tasks_;
}

const std::string& JobData::task_name(int32_t task) const {
  if (task < 0 || task >= task_count()) {
    fail(ALLOY_ERR_NOT_FOUND, "no task with index {} ({} has {})", task, description(),
         task_count());
  }
  return names_[static_cast<std::size_t>(task)];
}

int32_t JobData::find_task(const std::string& name) const {
  const auto it = std::find(names_.begin(), names_.end(), name);
  return it == names_.end() ? -1 : static_cast<int32_t>(it - names_.begin());
}

std::string JobData::description() const {
  if (!config_.suite.empty()) return "suite " + config_.suite;
  if (!config_.tasks.empty()) return "task file " + config_.tasks;
  return "features folder " + config_.features;
}

std::string JobData::supplied_file(int32_t task) const {
  return (fs::path(config_.features) / (task_name(task) + ".safetensors")).string();
}

const LabelledImages& JobData::images(int32_t task, std::optional<Split> split) const {
  const std::string& name = task_name(task);
  if (supplied()) {
    fail(ALLOY_ERR_UNSUPPORTED, "task '{}' has no images: the job's data is a {}", name,
         description());
  }
  return tasks()[static_cast<std::size_t>(task)].split(split.value_or(config_.split));
}

Tensor JobData::exemplars(int32_t task, int64_t count) const {
  const std::string& name = task_name(task);
  if (supplied()) {
    fail(ALLOY_ERR_UNSUPPORTED, "task '{}' has no images: the job's data is a {}", name,
         description());
  }
  const LabelledImages& split = tasks()[static_cast<std::size_t>(task)].split(config_.split);
  if (count < 1 || count > split.size()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{} exemplars of task '{}' asked; its {} split holds {}",
         count, name, split_name(config_.split), split.size());
  }
  std::mt19937_64 rng(mix_seed(config_.seed, static_cast<uint64_t>(task)));
  std::vector<int64_t> order = shuffled_indices(split.size(), rng);
  order.resize(static_cast<std::size_t>(count));
  return gather(split, order).images;
}

}  // namespace alloy
