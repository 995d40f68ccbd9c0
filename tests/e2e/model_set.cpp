#include "model_set.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "io/safetensors.hpp"
#include "tensor/registry.hpp"

namespace alloy::test {

std::vector<TensorSpec> default_layout() {
  return {{"embed.weight", {37, 16}},
          {"layers.0.attn.q_proj.weight", {16, 16}},
          {"layers.0.attn.q_proj.bias", {16}},
          {"layers.0.mlp.fc1.weight", {48, 16}},
          {"layers.0.norm.weight", {16}},
          {"head.weight", {5, 16}},
          {"scalar", {}}};
}

namespace {

std::size_t count(const std::vector<int64_t>& shape) {
  std::size_t n = 1;
  for (int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

// Rounds through the file dtype so the test's expectations see what alloy reads.
std::vector<uint8_t> encode(const std::string& dtype, std::vector<float>& values) {
  if (dtype == "F32") return as_bytes(values);
  std::vector<uint8_t> bytes = dtype == "F16" ? f16_bytes(values) : bf16_bytes(values);
  for (std::size_t i = 0; i < values.size(); ++i) {
    uint16_t h = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    values[i] = dtype == "F16" ? f16_to_f32(h) : bf16_to_f32(h);
  }
  return bytes;
}

}  // namespace

ModelSet make_model_set(const std::string& dir, int fine_tuned, const std::string& dtype,
                        const std::vector<TensorSpec>& layout, float delta_scale) {
  ModelSet set;
  set.base = dir + "/base.safetensors";
  uint32_t seed = 1;
  std::map<std::string, std::vector<float>> base_values;
  std::vector<RawTensor> tensors;
  for (const auto& t : layout) {
    std::vector<float> v = random_floats(count(t.shape), seed++);
    tensors.push_back({t.name, dtype, t.shape, encode(dtype, v)});
    base_values[t.name] = v;
  }
  write_safetensors(set.base, tensors);
  set.values[set.base] = base_values;
  for (int m = 0; m < fine_tuned; ++m) {
    const std::string path = dir + "/model_" + std::to_string(m) + ".safetensors";
    tensors.clear();
    for (const auto& t : layout) {
      std::vector<float> v =
          random_floats(count(t.shape), 1000 * (m + 1) + seed++, -delta_scale, delta_scale);
      for (std::size_t i = 0; i < v.size(); ++i) v[i] += base_values[t.name][i];
      tensors.push_back({t.name, dtype, t.shape, encode(dtype, v)});
      set.values[path][t.name] = v;
    }
    write_safetensors(path, tensors);
    set.models.push_back(path);
  }
  return set;
}

void expect_no_output(const TempDir& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(::testing::HasSubstr("out")))
        << "left behind: " << entry.path();
  }
}

std::string failing_merge(const TempDir& dir, const std::string& config,
                          const std::vector<std::string>& extra) {
  const RunResult r = run_merge(dir, config, extra);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.err, ::testing::HasSubstr("alloy: error:"));
  expect_no_output(dir);
  return r.err;
}

RunResult run_merge(const TempDir& dir, const std::string& config,
                    const std::vector<std::string>& extra) {
  write_text(dir.file("merge.yaml"), config);
  std::vector<std::string> args = {"merge", dir.file("merge.yaml"), "-o", dir.file("out")};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_alloy(args);
}

std::map<std::string, std::vector<float>> read_model_f32(const std::string& path) {
  const Model model(path, path, ALLOY_ROLE_MODEL);
  std::map<std::string, std::vector<float>> out;
  for (const TensorEntry& entry : model.tensors()) {
    const Tensor t = model.read(entry.name);
    std::vector<float>& v = out[entry.name];
    v.resize(t.numel());
    for (std::size_t i = 0; i < v.size(); ++i) {
      switch (t.dtype()) {
        case DType::F32:
          v[i] = t.data_as<float>()[i];
          break;
        case DType::F16:
          v[i] = f16_to_f32(t.data_as<uint16_t>()[i]);
          break;
        case DType::BF16:
          v[i] = bf16_to_f32(t.data_as<uint16_t>()[i]);
          break;
        default:
          throw std::runtime_error("unexpected dtype in " + path);
      }
    }
  }
  return out;
}

std::string merge_config(const ModelSet& set, const std::string& method,
                         const std::string& global_params,
                         const std::vector<std::string>& model_params, const std::string& extra) {
  std::string yaml = "merge_method: " + method + "\nbase_model: " + set.base + "\nmodels:\n";
  for (std::size_t i = 0; i < set.models.size(); ++i) {
    yaml += "  - model: " + set.models[i] + "\n";
    if (i < model_params.size() && !model_params[i].empty()) {
      yaml += "    parameters: " + model_params[i] + "\n";
    }
  }
  if (!global_params.empty()) yaml += "parameters: " + global_params + "\n";
  return yaml + extra;
}

}  // namespace alloy::test
