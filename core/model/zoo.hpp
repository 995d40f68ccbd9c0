// A model zoo for a task suite, the way the merging papers start: a pretrained encoder, for each
// task a frozen head, and for each task the encoder fine-tuned with its head frozen. Built by one
// call, deterministic from a seed, and cached: a folder whose manifest matches the spec is
// reused as it is.
//
//   DIR/zoo.json                  the spec and the figures of the build (manifest)
//   DIR/pretrained/               config.json + model.safetensors + preprocessor_config.json
//   DIR/finetuned/<task>/         the same, one per task
//   DIR/heads.safetensors         one head per task (see heads.hpp)
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/task_suite.hpp"
#include "model/training.hpp"
#include "model/vit_config.hpp"

namespace alloy {

struct ZooSpec {
  std::string suite = "fmnist8";  // "fmnist8", "fmnist8-small" or "fmnist8-tiny"
  uint64_t seed = 0;              // model initialisation and example order
  VitConfig model;                // the encoder
  // Pretraining: self-supervised rotation prediction (4 angles) on the suite's pretraining
  // images, encoder and a rotation head both learning.
  int64_t pretrain_epochs = 2;
  AdamStep pretrain_adam{1e-3, 0.9, 0.999, 1e-8, 0.0, 1};
  // Fine-tuning: each task's train split through its frozen class-mean head.
  int64_t finetune_epochs = 5;
  AdamStep finetune_adam{3e-4, 0.9, 0.999, 1e-8, 0.0, 1};
  int64_t batch_size = 128;
  double logit_scale = 100.0;
  Preprocessing preprocessing;
};

// The default spec of a suite: width 128, 6 layers, patch 7 for fmnist8 (see docs/zoo.md);
// width 64, 4 layers for fmnist8-small; a few-second model for fmnist8-tiny. Throws for an unknown
// suite.
ZooSpec default_zoo_spec(const std::string& suite);
// The suite's data, built from its name.
TaskSuite load_suite(const std::string& suite);
// The tasks of the built-in suite `suite` or, when `suite` is empty, of the task file
// `task_file` (docs/data.md).
std::vector<Task> load_tasks(const std::string& suite, const std::string& task_file);
// The tasks of `all` named in `names`, in that order. Throws alloy::Error (ALLOY_ERR_NOT_FOUND)
// "<what> '<name>': <source> has no such task (it has a, b, ...)" for an unknown name.
std::vector<Task> select_tasks(const std::vector<Task>& all, const std::vector<std::string>& names,
                               const std::string& source, const std::string& what = "task");

struct ZooProgress {
  std::string stage;  // "pretraining", "heads", "fine-tuning <task>"
  int64_t done = 0;
  int64_t total = 0;
  double loss = 0;
};

struct ZooBuild {
  bool cached = false;                       // the folder already held this zoo
  double seconds = 0;                        // of this build (0 when cached)
  std::map<std::string, double> accuracies;  // validation accuracy: "pretrained/<task>", "<task>"
};

// Builds the zoo into `dir` (or finds it there). Writes go to a temporary sibling renamed into
// place at the end, so a failed or cancelled build leaves nothing. Throws alloy::Error.
ZooBuild build_zoo(const ZooSpec& spec, const std::string& dir, Provider& provider,
                   const std::function<void(const ZooProgress&)>& on_progress = {},
                   const std::atomic<bool>* cancel = nullptr);

// The manifest of a built zoo (its zoo.json, parsed); throws when `dir` holds none.
std::string zoo_manifest(const std::string& dir);

}  // namespace alloy
