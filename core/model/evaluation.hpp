// Top-1 accuracy of a model folder on tasks, each through its own head: what `alloy eval`,
// `alloy compare` and the Python bindings report.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compute/provider.hpp"
#include "data/task_suite.hpp"

namespace alloy {

struct EvaluationOptions {
  // Twin-Merging models: mix each task's inputs with that task's expert alone (one-hot gates)
  // instead of the router's, to separate what routing costs from what compression costs.
  bool oracle_routing = false;
};

struct Evaluation {
  std::map<std::string, double> accuracy;  // task -> top-1 in [0, 1]
  double average = 0;                      // over the tasks evaluated
  // Twin-Merging models with a router, unless oracle_routing: task -> share of its inputs whose
  // largest gate is the task's own expert. Empty for other models.
  std::map<std::string, double> routing;
};

// Loads the model (plain, upscaled or Twin-Merging), its preprocessing and the heads, then
// evaluates every task of `tasks` on `split`. Throws alloy::Error naming the model, heads file or
// task at fault (a task without a head, a head of the wrong width, oracle routing asked of a
// model that is not Twin-Merging or for a task without an expert).
Evaluation evaluate_model(const std::string& model_dir, const std::vector<Task>& tasks,
                          const std::string& heads_path, Split split, Provider& provider,
                          const EvaluationOptions& options = {});

}  // namespace alloy
