// A merge job's configuration, in mergekit's YAML form:
//
//   models:
//     - model: path/to/finetuned        # a .safetensors file or a model folder
//       parameters: {weight: 1.0, density: 0.5}
//   base_model: path/to/base
//   merge_method: ties
//   parameters: {lambda: 1.0}
//   dtype: float32                      # optional
//   out_dtype: bfloat16                 # optional
//   data:                               # optional: tasks a strategy may run models on
//     suite: fmnist8                    # or tasks: FILE (a task file), or features: DIR
//     heads: zoo/heads.safetensors      # optional: the tasks' heads (strategies that train)
//     split: train                      # where exemplars come from
//     seed: 0                           # their order
//
// Each model may name its task (`task: rot90`); by default it is the task named like the
// model's folder or file.
//
// Parameter values stay text here; they are typed against the strategy's schema later
// (resolve_params), because only the plugin knows what "density" is.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/task_suite.hpp"
#include "tensor/dtype.hpp"

namespace alloy {

struct ModelConfig {
  std::string model;  // as written
  std::string path;   // resolved against the working directory, then the config's folder
  std::map<std::string, std::string> parameters;
  std::string task;  // as written; empty: none given
};

// The `data:` section (docs/config.md): the tasks whose inputs a strategy may ask layer inputs
// for. Exactly one of suite, tasks, features is set.
struct DataConfig {
  std::string suite;           // a built-in suite: fmnist8, fmnist8-small, fmnist8-tiny
  std::string tasks;           // a task file (docs/data.md), resolved like model paths
  std::string features;        // a folder of supplied layer inputs (docs/features.md), resolved
  std::string heads;           // a heads file (model/heads.hpp), resolved; empty: none
  Split split = Split::Train;  // where exemplars come from
  uint64_t seed = 0;
};

struct MergeConfig {
  std::string source;  // the config file, for messages
  std::vector<ModelConfig> models;
  std::optional<ModelConfig> base_model;
  std::string merge_method;
  std::map<std::string, std::string> parameters;
  std::optional<DType> dtype;
  std::optional<DType> out_dtype;
  std::optional<DataConfig> data;
};

// Parses YAML text; `source` names it in messages and its folder anchors relative paths.
// Throws alloy::Error(ALLOY_ERR_INVALID_ARGUMENT) naming the file and key for malformed YAML,
// missing or unknown keys, non-scalar parameter values (mergekit's gradients and filters are
// not supported), unknown dtypes, and a list without models.
MergeConfig parse_merge_config(const std::string& text, const std::string& source);
MergeConfig load_merge_config(const std::string& path);

// A YAML mapping of single values (the text of a `parameters:` section, e.g. "{lambda: 0.3}";
// empty text is no parameters). Throws like parse_merge_config, naming `source`.
std::map<std::string, std::string> parse_parameters(const std::string& text,
                                                    const std::string& source);

}  // namespace alloy
