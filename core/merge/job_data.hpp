// The data a merge job's `data:` section names: its tasks, and the exemplars of a task that a
// strategy may run models on (or, for models alloy cannot run, the files of layer inputs
// supplied instead). Loaded once when the job starts.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "data/task_suite.hpp"
#include "merge/config.hpp"

namespace alloy {

class JobData {
 public:
  // Loads the suite or task file, or lists the features folder (one <task>.safetensors per
  // task). Throws alloy::Error naming the config file and what is missing.
  JobData(const DataConfig& config, const std::string& config_source);

  int32_t task_count() const { return static_cast<int32_t>(names_.size()); }
  // Throws ALLOY_ERR_NOT_FOUND for a bad index.
  const std::string& task_name(int32_t task) const;
  // -1 when no task has that name.
  int32_t find_task(const std::string& name) const;
  // What the tasks are, for messages: "suite fmnist8", "task file X", "features folder X".
  std::string description() const;

  // True when layer inputs come from files (data.features), not from running a model.
  bool supplied() const { return !config_.features.empty(); }
  // The supplied layer inputs of a task: DIR/<task>.safetensors.
  std::string supplied_file(int32_t task) const;

  // The first `count` images of the task's split (data.split) in the order data.seed shuffles
  // them: F32 [count, C, H, W] in [0, 1]. Throws when the split holds fewer images.
  Tensor exemplars(int32_t task, int64_t count) const;
  // Every labelled image of the task's split (data.split when unset). Throws
  // ALLOY_ERR_UNSUPPORTED when the data is supplied features.
  const LabelledImages& images(int32_t task, std::optional<Split> split = std::nullopt) const;
  Split split() const { return config_.split; }
  // The heads file (data.heads); empty when the config names none.
  const std::string& heads() const { return config_.heads; }

 private:
  DataConfig config_;
  std::string source_;
  // The tasks' images, built on first use: a strategy that never asks for them (Task
  // Arithmetic given a data section by a comparison) must not pay ~300 MB and a second for them.
  const std::vector<Task>& tasks() const;
  mutable std::once_flag tasks_loaded_;
  mutable std::vector<Task> tasks_;  // empty when supplied()
  std::vector<std::string> names_;
};

}  // namespace alloy
