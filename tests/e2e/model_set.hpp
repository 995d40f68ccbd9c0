// Generated model sets for end-to-end tests: a base model and fine-tuned variants with seeded
// random weights, written by the test helpers (not by alloy), plus the merge config text.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "run_alloy.hpp"
#include "test_files.hpp"

namespace alloy::test {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// The tensors every generated model has: a few layers of different ranks and odd sizes.
std::vector<TensorSpec> default_layout();

struct ModelSet {
  std::string base;                 // path of the base model file
  std::vector<std::string> models;  // paths of the fine-tuned models
  // Values by model path and tensor name, as written (after rounding to the file dtype).
  std::map<std::string, std::map<std::string, std::vector<float>>> values;
};

// Writes base.safetensors and model_<i>.safetensors into `dir`. Fine-tuned weights are the
// base plus a seeded task vector of scale `delta_scale`. `dtype` is "F32", "F16" or "BF16".
ModelSet make_model_set(const std::string& dir, int fine_tuned, const std::string& dtype = "F32",
                        const std::vector<TensorSpec>& layout = default_layout(),
                        float delta_scale = 0.1f);

// Writes `config` to dir/merge.yaml and runs `alloy merge` on it into dir/out, with `extra`
// arguments.
RunResult run_merge(const TempDir& dir, const std::string& config,
                    const std::vector<std::string>& extra = {});

// Expects nothing named like the output in `dir`: neither dir/out nor a temporary sibling.
void expect_no_output(const TempDir& dir);

// Runs a merge of `config` expected to fail: expects a non-zero exit, an "alloy: error:"
// message and no output. Returns stderr.
std::string failing_merge(const TempDir& dir, const std::string& config,
                          const std::vector<std::string>& extra = {});

// The tensors of a safetensors file or model folder, as f32, read with alloy's reader.
std::map<std::string, std::vector<float>> read_model_f32(const std::string& path);

// A mergekit-style YAML config over `set`. `model_params[i]` is the flow mapping of model i's
// parameters (e.g. "{weight: 0.5, density: 0.3}"), empty for none.
std::string merge_config(const ModelSet& set, const std::string& method,
                         const std::string& global_params,
                         const std::vector<std::string>& model_params = {},
                         const std::string& extra = "");

}  // namespace alloy::test
