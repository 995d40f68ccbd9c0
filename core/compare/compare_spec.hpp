// A comparison's spec (docs/compare.md): the models, the tasks to evaluate on, and the runs.
//
//   models:
//     base: zoo/pretrained
//     experts: [zoo/finetuned/upright, zoo/finetuned/rot90]   # or {task: path, ...}
//     heads: zoo/heads.safetensors
//   data: {suite: fmnist8}            # or {tasks: my_tasks.yaml}; also the merges' data section
//   plugin_dirs: [my_plugins]         # optional, searched before the built-in strategies
//   device: cpu                       # optional
//   split: test                       # optional: where accuracy is reported
//   runs:
//     - baseline: pretrained          # or individual: each expert on its own task
//     - name: Task Arithmetic
//       merge_method: task_arithmetic
//       parameters: {lambda: [0.1, 0.3, 0.5]}   # a list expands into a grid
//       select: validation            # keep the grid point best on the validation split
//     - merge_method: ties
//       parameters: {lambda: 1.0}
//       model_parameters: {density: [0.1, 0.2]}  # given to every expert; lists expand too
//
// Values stay text, as in a merge config: only the strategy knows their types.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "merge/config.hpp"

namespace alloy {

enum class Baseline { None, Pretrained, Individual };

struct RunSpec {
  std::string name;  // shown in tables; defaults to the strategy's id or the baseline's name
  Baseline baseline = Baseline::None;
  std::string merge_method;
  std::map<std::string, std::vector<std::string>> parameters;        // one value or a grid
  std::map<std::string, std::vector<std::string>> model_parameters;  // for every expert
  std::optional<Split> select;  // pick the grid point with the best average on this split
};

struct CompareSpec {
  std::string source;  // the spec file, for messages
  std::string base;    // resolved like a merge config's paths
  std::vector<ModelConfig> experts;
  std::string heads;  // resolved; empty: no evaluation (merge time, memory and size only)
  std::optional<DataConfig> data;
  std::vector<std::string> plugin_dirs;  // resolved
  std::string device = "cpu";
  Split split = Split::Test;
  std::vector<RunSpec> runs;
};

// Throws alloy::Error(ALLOY_ERR_INVALID_ARGUMENT) naming the file and key for malformed YAML,
// unknown keys, a run that is neither a baseline nor names a merge_method, an empty grid, or a
// `select` on a run without a grid.
CompareSpec parse_compare_spec(const std::string& text, const std::string& source);
CompareSpec load_compare_spec(const std::string& path);

}  // namespace alloy
