// A job's parameter values, typed and checked against the strategy's schema before it runs:
// per-model values fall back to the top-level `parameters:`, then to the schema default.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "merge/config.hpp"
#include "merge/param_value.hpp"
#include "plugin/plugin_catalog.hpp"

namespace alloy {

class ResolvedParams {
 public:
  // `models[i]` is the config entry of registry model i (the base has no parameters of its
  // own). Throws alloy::Error naming the config, model and parameter for unknown names, values
  // of the wrong type or outside the choices, and required parameters left out.
  ResolvedParams(const LoadedPlugin& plugin, const MergeConfig& config,
                 const std::vector<const ModelConfig*>& models);

  const ParamValue& get(const std::string& name, int32_t model) const;
  // {"lambda": "0.3", "density@models/a": "0.5", ...}: every value, for metadata and logs.
  std::map<std::string, std::string> describe(const std::vector<std::string>& model_names) const;

 private:
  struct Entry {
    const ParamSpec* spec = nullptr;
    ParamValue global;
    bool has_global = false;            // set at the top level or by a default
    std::vector<ParamValue> per_model;  // by registry index, for ALLOY_SCOPE_MODEL
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace alloy
