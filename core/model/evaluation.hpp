// Top-1 accuracy of a model folder on tasks, each through its own head: what `alloy eval`,
// `alloy compare` and the Python bindings report.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compute/provider.hpp"
#include "data/task_suite.hpp"

namespace alloy {

struct Evaluation {
  std::map<std::string, double> accuracy;  // task -> top-1 in [0, 1]
  double average = 0;                      // over the tasks evaluated
};

// Loads the model (plain or upscaled), its preprocessing and the heads, then evaluates every
// task of `tasks` on `split`. Throws alloy::Error naming the model, heads file or task at fault
// (a task without a head, a head of the wrong width).
Evaluation evaluate_model(const std::string& model_dir, const std::vector<Task>& tasks,
                          const std::string& heads_path, Split split, Provider& provider);

}  // namespace alloy
