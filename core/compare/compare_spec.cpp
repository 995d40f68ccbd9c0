#include "compare/compare_spec.hpp"

#include <algorithm>
#include <iterator>

#include <yaml-cpp/yaml.h>

#include "error.hpp"
#include "io/file_io.hpp"
#include "merge/config_parts.hpp"

namespace alloy {
namespace {

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {}", source, what);
}

std::string scalar(const YAML::Node& node, const std::string& source, const std::string& key) {
  if (!node.IsScalar()) bad(source, fmt::format("'{}' must be a single value", key));
  return node.Scalar();
}

void only_keys(const YAML::Node& node, std::initializer_list<const char*> keys,
               const std::string& source, const std::string& where) {
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; })) {
      std::string expected;
      for (const char* k : keys) expected += (expected.empty() ? "" : ", ") + std::string(k);
      bad(source, fmt::format("unknown key '{}{}' (expected {})", where, key, expected));
    }
  }
}

// parameters: {name: value | [values...]}: every value as text.
std::map<std::string, std::vector<std::string>> read_grid(const YAML::Node& node,
                                                          const std::string& source,
                                                          const std::string& where) {
  std::map<std::string, std::vector<std::string>> grid;
  if (!node || node.IsNull()) return grid;
  if (!node.IsMap()) bad(source, fmt::format("'{}' must be a mapping", where));
  for (const auto& item : node) {
    const std::string name = item.first.as<std::string>();
    const std::string key = where + "." + name;
    std::vector<std::string>& values = grid[name];
    if (item.second.IsSequence()) {
      for (const auto& value : item.second) values.push_back(scalar(value, source, key));
      if (values.empty()) bad(source, fmt::format("'{}' is an empty list", key));
    } else {
      values.push_back(scalar(item.second, source, key));
    }
  }
  return grid;
}

Split read_split(const YAML::Node& node, const std::string& source, const std::string& key) {
  const std::string text = scalar(node, source, key);
  Split split;
  if (!parse_split(text, &split)) {
    bad(source, fmt::format("{} '{}' is not train, validation or test", key, text));
  }
  return split;
}

size_t grid_size(const RunSpec& run) {
  size_t n = 1;
  for (const auto& [name, values] : run.parameters) n *= values.size();
  for (const auto& [name, values] : run.model_parameters) n *= values.size();
  return n;
}

RunSpec read_run(const YAML::Node& node, const std::string& source, size_t index) {
  const std::string where = fmt::format("runs[{}]", index);
  if (!node.IsMap()) bad(source, where + " must be a mapping (baseline, or merge_method + ...)");
  only_keys(node, {"name", "baseline", "merge_method", "parameters", "model_parameters", "select"},
            source, where + ".");
  RunSpec run;
  if (node["name"]) run.name = scalar(node["name"], source, where + ".name");
  if (node["baseline"]) {
    if (node["merge_method"]) bad(source, where + " has both 'baseline' and 'merge_method'");
    const std::string baseline = scalar(node["baseline"], source, where + ".baseline");
    if (baseline == "pretrained") {
      run.baseline = Baseline::Pretrained;
    } else if (baseline == "individual") {
      run.baseline = Baseline::Individual;
    } else {
      bad(source, fmt::format("{}.baseline '{}' is not pretrained or individual", where, baseline));
    }
    if (run.name.empty()) run.name = baseline;
    return run;
  }
  if (!node["merge_method"]) bad(source, where + " needs 'merge_method' (or 'baseline')");
  run.merge_method = scalar(node["merge_method"], source, where + ".merge_method");
  if (run.merge_method.empty()) bad(source, where + ".merge_method is empty");
  if (run.name.empty()) run.name = run.merge_method;
  run.parameters = read_grid(node["parameters"], source, where + ".parameters");
  run.model_parameters = read_grid(node["model_parameters"], source, where + ".model_parameters");
  if (node["select"]) {
    run.select = read_split(node["select"], source, where + ".select");
    if (grid_size(run) < 2) {
      bad(source, where + ".select needs a grid to choose from (a parameter with a list)");
    }
  }
  return run;
}

void read_models(const YAML::Node& node, const std::string& source, CompareSpec* spec) {
  if (!node.IsMap()) bad(source, "'models' must be a mapping (base, experts, heads)");
  only_keys(node, {"base", "experts", "heads"}, source, "models.");
  if (!node["base"]) bad(source, "missing 'models.base'");
  spec->base = resolve_config_path(scalar(node["base"], source, "models.base"), source);
  const YAML::Node experts = node["experts"];
  if (!experts || experts.size() == 0 || !(experts.IsSequence() || experts.IsMap())) {
    bad(source, "'models.experts' must be a non-empty list of paths or a mapping task: path");
  }
  for (const auto& item : experts) {
    ModelConfig m;
    if (experts.IsMap()) {
      m.task = item.first.as<std::string>();
      m.model = scalar(item.second, source, "models.experts." + m.task);
    } else {
      m.model = scalar(item, source, "models.experts");
    }
    if (m.model.empty()) bad(source, "an entry of 'models.experts' is empty");
    m.path = resolve_config_path(m.model, source);
    spec->experts.push_back(std::move(m));
  }
  if (node["heads"]) {
    spec->heads = resolve_config_path(scalar(node["heads"], source, "models.heads"), source);
  }
}

}  // namespace

CompareSpec parse_compare_spec(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    bad(source, fmt::format("not valid YAML: {}", e.what()));
  }
  if (!root.IsMap()) bad(source, "the spec must be a YAML mapping");
  CompareSpec spec;
  spec.source = source;
  try {
    only_keys(root, {"models", "data", "plugin_dirs", "device", "split", "runs"}, source, "");
    if (!root["models"]) bad(source, "missing 'models'");
    read_models(root["models"], source, &spec);
    if (root["data"]) spec.data = read_data_section(root["data"], source);
    if (const YAML::Node dirs = root["plugin_dirs"]) {
      if (!dirs.IsSequence()) bad(source, "'plugin_dirs' must be a list of folders");
      for (const auto& dir : dirs) {
        spec.plugin_dirs.push_back(resolve_config_path(scalar(dir, source, "plugin_dirs"), source));
      }
    }
    if (root["device"]) spec.device = scalar(root["device"], source, "device");
    if (root["split"]) spec.split = read_split(root["split"], source, "split");
    const YAML::Node runs = root["runs"];
    if (!runs || !runs.IsSequence() || runs.size() == 0) {
      bad(source, "'runs' must be a non-empty list");
    }
    for (size_t i = 0; i < runs.size(); ++i) spec.runs.push_back(read_run(runs[i], source, i));
  } catch (const YAML::Exception& e) {
    bad(source, fmt::format("malformed spec: {}", e.what()));
  }
  if (!spec.heads.empty() && !spec.data) {
    bad(source, "'models.heads' is given but no 'data' to evaluate on (data: {suite: ...})");
  }
  for (const RunSpec& run : spec.runs) {
    if (run.baseline != Baseline::None && spec.heads.empty()) {
      bad(source, fmt::format("run '{}' is a baseline, which needs 'models.heads' and 'data' "
                              "to evaluate",
                              run.name));
    }
  }
  return spec;
}

CompareSpec load_compare_spec(const std::string& path) {
  return parse_compare_spec(read_text_file(path, "comparison spec"), path);
}

}  // namespace alloy
