#include "merge/config.hpp"
#include "merge/config_parts.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <system_error>

#include <yaml-cpp/yaml.h>

#include "error.hpp"
#include "io/file_io.hpp"

namespace alloy {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {}", source, what);
}

std::string scalar(const YAML::Node& node, const std::string& source, const std::string& key) {
  if (!node.IsScalar()) bad(source, fmt::format("'{}' must be a single value", key));
  return node.Scalar();
}

std::map<std::string, std::string> read_parameters(const YAML::Node& node,
                                                   const std::string& source,
                                                   const std::string& where) {
  std::map<std::string, std::string> out;
  if (!node || node.IsNull()) return out;
  if (!node.IsMap()) bad(source, fmt::format("{}parameters must be a mapping", where));
  for (const auto& item : node) {
    const std::string name = item.first.as<std::string>();
    if (!item.second.IsScalar()) {
      bad(source, fmt::format("{}parameter '{}' must be a single value (mergekit's gradient "
                              "lists and tensor filters are not supported)",
                              where, name));
    }
    out[name] = item.second.Scalar();
  }
  return out;
}

ModelConfig read_model(const YAML::Node& node, const std::string& source, std::size_t index) {
  ModelConfig m;
  const std::string where = fmt::format("models[{}]: ", index);
  if (node.IsScalar()) {
    m.model = node.Scalar();
  } else if (node.IsMap()) {
    for (const auto& item : node) {
      const std::string key = item.first.as<std::string>();
      if (key != "model" && key != "parameters" && key != "task") {
        bad(source,
            fmt::format("{}unknown key '{}' (expected model, parameters, task)", where, key));
      }
    }
    if (!node["model"]) bad(source, where + "missing 'model'");
    m.model = scalar(node["model"], source, "model");
    m.parameters = read_parameters(node["parameters"], source, where);
    if (node["task"]) {
      m.task = scalar(node["task"], source, "task");
      if (m.task.empty()) bad(source, where + "'task' is empty");
    }
  } else {
    bad(source, where + "must be a mapping with 'model' and 'parameters'");
  }
  if (m.model.empty()) bad(source, where + "'model' is empty");
  m.path = resolve_config_path(m.model, source);
  return m;
}

DType read_dtype(const YAML::Node& node, const std::string& source, const std::string& key) {
  const std::string text = scalar(node, source, key);
  DType dtype;
  if (!parse_config_dtype(text, &dtype)) {
    bad(source, fmt::format("{} '{}' is not one of float32, float16, bfloat16", key, text));
  }
  return dtype;
}

}  // namespace

// A path that cannot be looked at (too long, no permission, ...) counts as not there: it is the
// error opening the model that names the path and says why, not a filesystem exception here.
std::string resolve_config_path(const std::string& model, const std::string& source) {
  const fs::path p(model);
  std::error_code error;
  if (p.is_absolute() || fs::exists(p, error)) return p.string();
  const fs::path beside_config = fs::path(source).parent_path() / p;
  return fs::exists(beside_config, error) ? beside_config.string() : p.string();
}

DataConfig read_data_section(const YAML::Node& node, const std::string& source) {
  if (!node.IsMap())
    bad(source, "'data' must be a mapping (suite, tasks or features; heads; split; seed)");
  DataConfig data;
  int sources = 0;
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    const std::string where = "data." + key;
    if (key == "suite") {
      data.suite = scalar(item.second, source, where);
    } else if (key == "tasks") {
      data.tasks = resolve_config_path(scalar(item.second, source, where), source);
    } else if (key == "features") {
      data.features = resolve_config_path(scalar(item.second, source, where), source);
    } else if (key == "heads") {
      data.heads = resolve_config_path(scalar(item.second, source, where), source);
      continue;
    } else if (key == "split") {
      const std::string split = scalar(item.second, source, where);
      if (!parse_split(split, &data.split)) {
        bad(source, fmt::format("data.split '{}' is not train, validation or test", split));
      }
      continue;
    } else if (key == "seed") {
      const std::string text = scalar(item.second, source, where);
      try {
        std::size_t used = 0;
        data.seed = std::stoull(text, &used);
        if (used != text.size() || text.front() == '-') throw std::invalid_argument(text);
      } catch (const std::exception&) {
        bad(source, fmt::format("data.seed '{}' is not a non-negative integer", text));
      }
      continue;
    } else {
      bad(source, fmt::format("unknown key 'data.{}' (expected suite, tasks, features, heads, "
                              "split, seed)",
                              key));
    }
    if (scalar(item.second, source, where).empty())
      bad(source, fmt::format("'{}' is empty", where));
    ++sources;
  }
  if (sources != 1) bad(source, "'data' needs exactly one of suite, tasks, features");
  return data;
}

MergeConfig parse_merge_config(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    bad(source, fmt::format("not valid YAML: {}", e.what()));
  }
  if (!root.IsMap()) bad(source, "the config must be a YAML mapping");

  MergeConfig config;
  config.source = source;
  try {
    for (const auto& item : root) {
      const std::string key = item.first.as<std::string>();
      static const char* kKeys[] = {"models", "base_model", "merge_method", "parameters",
                                    "dtype",  "out_dtype",  "data"};
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        bad(source, fmt::format("unsupported key '{}' (alloy reads models, base_model, "
                                "merge_method, parameters, dtype, out_dtype, data)",
                                key));
      }
    }
    if (!root["merge_method"]) bad(source, "missing 'merge_method'");
    config.merge_method = scalar(root["merge_method"], source, "merge_method");
    const YAML::Node models = root["models"];
    if (!models || !models.IsSequence() || models.size() == 0) {
      bad(source, "'models' must be a non-empty list");
    }
    for (std::size_t i = 0; i < models.size(); ++i) {
      config.models.push_back(read_model(models[i], source, i));
    }
    if (root["base_model"]) {
      ModelConfig base;
      base.model = scalar(root["base_model"], source, "base_model");
      if (base.model.empty()) bad(source, "'base_model' is empty");
      base.path = resolve_config_path(base.model, source);
      config.base_model = base;
    }
    config.parameters = read_parameters(root["parameters"], source, "");
    if (root["dtype"]) config.dtype = read_dtype(root["dtype"], source, "dtype");
    if (root["out_dtype"]) config.out_dtype = read_dtype(root["out_dtype"], source, "out_dtype");
    if (root["data"]) config.data = read_data_section(root["data"], source);
  } catch (const YAML::Exception& e) {
    bad(source, fmt::format("malformed config: {}", e.what()));
  }
  return config;
}

MergeConfig load_merge_config(const std::string& path) {
  return parse_merge_config(read_text_file(path, "config"), path);
}

std::map<std::string, std::string> parse_parameters(const std::string& text,
                                                    const std::string& source) {
  try {
    return read_parameters(YAML::Load(text), source, "");
  } catch (const YAML::Exception& e) {
    bad(source, fmt::format("parameters '{}' are not valid YAML: {}", text, e.what()));
  }
}

}  // namespace alloy
