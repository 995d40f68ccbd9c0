// What a strategy adds to a job's registry while it runs (ABI 1.1): tensor sets it builds
// itself, and the layer inputs it asks the host to collect by running a model on exemplars of
// a task (or reads from supplied files). Also the job's tasks and which model is for which.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compute/provider.hpp"
#include "merge/config.hpp"
#include "merge/job_data.hpp"
#include "model/tensor_training.hpp"
#include "tensor/registry.hpp"

namespace alloy {

class JobWorkspace {
 public:
  // `model_configs[i]` is the config entry of registry model i (null for the base model).
  // Loads the config's data section, if any.
  JobWorkspace(Registry& registry, Provider& provider, const MergeConfig& config, int32_t base,
               const std::vector<const ModelConfig*>& model_configs,
               std::function<void(const std::string&)> info);

  int32_t create_model(const std::string& name);
  void put(int32_t model, const std::string& name, const Tensor& tensor);
  void drop(int32_t model);

  int32_t task_count() const { return data_ ? data_->task_count() : 0; }
  const std::string& task_name(int32_t task) const;
  // -1 when the model has no task (or the job no data).
  int32_t model_task(int32_t model) const;

  // See alloy_host.features_collect. Returns the index of the new (or, for supplied files, the
  // task's) features model.
  int32_t collect_features(int32_t model, int32_t task, int64_t exemplars,
                           const std::vector<std::string>& layers);

  // See alloy_host.model_train: trains `tensors` of derived `model` on every task of the data,
  // then replaces them in the model. Returns each step's loss.
  std::vector<double> train_model(int32_t model, const std::vector<std::string>& tensors,
                                  const TensorTrainOptions& options, const TrainingHooks& hooks);
  // See alloy_host.task_inputs: -1 for a bad task or without images.
  int64_t task_inputs(int32_t task, const std::optional<Split>& split) const;

 private:
  const JobData& data() const;
  Model& in_memory_model(int32_t model, int32_t role, const char* what);
  int32_t supplied_features(int32_t task, const std::vector<std::string>& layers);
  // The folder whose config.json describes `model`'s architecture: its own, else the base's.
  std::string architecture_dir(int32_t model) const;

  Registry& registry_;
  Provider& provider_;
  std::string source_;
  int32_t base_;
  std::function<void(const std::string&)> info_;
  std::unique_ptr<JobData> data_;
  std::vector<int32_t> model_tasks_;            // per input model; -1: none
  std::map<int32_t, int32_t> supplied_models_;  // task -> features model read from its file
};

}  // namespace alloy
