// Training selected tensors of a model on an objective over several tasks' data: the host
// service behind alloy_host.model_train (ABI 1.3), used by WEMoE's test-time adaptation of
// routers. Each step takes a batch of every task, runs the model and that task's frozen head,
// sums the tasks' mean losses, and takes one Adam step on the trained tensors only (the others
// get no gradient at all).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compute/provider.hpp"
#include "data/task_suite.hpp"
#include "model/heads.hpp"
#include "model/preprocessing.hpp"

namespace alloy {

class VitModel;

enum class Objective {
  entropy,        // mean entropy of softmax(logits): unlabelled inputs (test-time adaptation)
  cross_entropy,  // mean cross-entropy against the labels
  task_id         // a Twin-Merging router's cross-entropy against the input's task (no heads)
};

enum class Schedule {
  constant,
  cosine,  // lr * (1 + cos(pi * step / steps)) / 2
  linear   // lr * (1 - step / steps), transformers' Trainer's default
};

struct TensorTrainOptions {
  Objective objective = Objective::entropy;
  std::optional<Split> split;  // unset: the caller's default (a merge job's data.split)
  int64_t steps = 1000;
  int64_t batch_per_task = 16;
  AdamStep adam{1e-4, 0.9, 0.999, 1e-8, 0.0, 1};
  Schedule schedule = Schedule::constant;
  bool shared_gates = false;   // dynamic modules mix one set of gates per batch while training
  uint64_t seed = 0;           // each task's input order
  std::vector<int32_t> tasks;  // indices of the caller's tasks trained on; empty: all
};

struct TrainingTask {
  const Head* head = nullptr;
  const LabelledImages* data = nullptr;  // the split trained on
};

struct TrainingHooks {
  // After each step: steps done, steps in all, that step's loss.
  std::function<void(int64_t done, int64_t total, double loss)> on_step;
  std::function<bool()> cancelled;  // checked before each step (ALLOY_ERR_CANCELLED)
};

// Throws ALLOY_ERR_INVALID_ARGUMENT for steps or a batch below 1, or Adam settings torch refuses.
void check_train_options(const TensorTrainOptions& options);
// The learning rate of step `step` (0-based) under the options' schedule.
double scheduled_lr(const TensorTrainOptions& options, int64_t step);

// Trains `tensors` (names of model's parameters) and returns each step's loss. Throws
// ALLOY_ERR_NOT_FOUND for a name the model lacks, ALLOY_ERR_INVALID_ARGUMENT for bad options
// or a task without inputs.
std::vector<double> train_tensors(VitModel& model, const std::vector<std::string>& tensors,
                                  const std::vector<TrainingTask>& tasks,
                                  const Preprocessing& preprocessing,
                                  const TensorTrainOptions& options, const TrainingHooks& hooks);

}  // namespace alloy
