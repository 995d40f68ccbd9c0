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
//
// Parameter values stay text here; they are typed against the strategy's schema later
// (resolve_params), because only the plugin knows what "density" is.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tensor/dtype.hpp"

namespace alloy {

struct ModelConfig {
  std::string model;  // as written
  std::string path;   // resolved against the working directory, then the config's folder
  std::map<std::string, std::string> parameters;
};

struct MergeConfig {
  std::string source;  // the config file, for messages
  std::vector<ModelConfig> models;
  std::optional<ModelConfig> base_model;
  std::string merge_method;
  std::map<std::string, std::string> parameters;
  std::optional<DType> dtype;
  std::optional<DType> out_dtype;
};

// Parses YAML text; `source` names it in messages and its folder anchors relative paths.
// Throws alloy::Error(ALLOY_ERR_INVALID_ARGUMENT) naming the file and key for malformed YAML,
// missing or unknown keys, non-scalar parameter values (mergekit's gradients and filters are
// not supported), unknown dtypes, and a list without models.
MergeConfig parse_merge_config(const std::string& text, const std::string& source);
MergeConfig load_merge_config(const std::string& path);

}  // namespace alloy
