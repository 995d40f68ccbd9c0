#include "merge/params.hpp"

#include "error.hpp"

namespace alloy {
namespace {

ParamValue typed(const ParamSpec& spec, const std::string& text, const std::string& where) {
  try {
    return parse_param_value(spec, text);
  } catch (const Error& e) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}parameter '{}' ({}): {}", where, spec.name,
         param_type_name(spec.type), e.what());
  }
}

std::string known_names(const LoadedPlugin& plugin) {
  std::string names;
  for (const auto& p : plugin.params) names += (names.empty() ? "" : ", ") + p.name;
  return names.empty() ? "none" : names;
}

}  // namespace

ResolvedParams::ResolvedParams(const LoadedPlugin& plugin, const MergeConfig& config,
                               const std::vector<const ModelConfig*>& models) {
  const std::string& source = config.source;
  for (const auto& [name, text] : config.parameters) {
    if (!plugin.param(name)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: strategy '{}' has no parameter '{}' (it has: {})",
           source, plugin.id, name, known_names(plugin));
    }
  }
  for (const ModelConfig* m : models) {
    if (!m) continue;
    for (const auto& [name, text] : m->parameters) {
      const ParamSpec* spec = plugin.param(name);
      if (!spec) {
        fail(ALLOY_ERR_INVALID_ARGUMENT,
             "{}: model '{}': strategy '{}' has no parameter '{}' (it has: {})", source, m->model,
             plugin.id, name, known_names(plugin));
      }
      if (spec->scope != ALLOY_SCOPE_MODEL) {
        fail(ALLOY_ERR_INVALID_ARGUMENT,
             "{}: model '{}': parameter '{}' is global; set it under the top-level parameters",
             source, m->model, name);
      }
    }
  }

  for (const ParamSpec& spec : plugin.params) {
    Entry entry;
    entry.spec = &spec;
    const auto top = config.parameters.find(spec.name);
    entry.has_global = top != config.parameters.end() || spec.default_value.has_value();
    if (top != config.parameters.end()) {
      entry.global = typed(spec, top->second, source + ": ");
    } else if (spec.default_value) {
      entry.global = parse_param_value(spec, *spec.default_value);
    } else if (spec.scope == ALLOY_SCOPE_GLOBAL) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: strategy '{}' needs parameter '{}': {}", source,
           plugin.id, spec.name, spec.doc);
    }
    if (spec.scope == ALLOY_SCOPE_MODEL) {
      for (const ModelConfig* m : models) {
        if (m) {  // the base model (nullptr) takes no per-model values
          const auto own = m->parameters.find(spec.name);
          if (own != m->parameters.end()) {
            entry.per_model.push_back(
                typed(spec, own->second, fmt::format("{}: model '{}': ", source, m->model)));
            continue;
          }
          if (!entry.has_global) {
            fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: model '{}' needs parameter '{}': {}", source,
                 m->model, spec.name, spec.doc);
          }
        }
        entry.per_model.push_back(entry.global);
      }
    }
    entries_.emplace(spec.name, std::move(entry));
  }
}

const ParamValue& ResolvedParams::get(const std::string& name, int32_t model) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) fail(ALLOY_ERR_NOT_FOUND, "no parameter '{}' in the schema", name);
  const Entry& e = it->second;
  if (e.spec->scope == ALLOY_SCOPE_GLOBAL) return e.global;
  if (model == ALLOY_GLOBAL) {
    if (!e.has_global) {
      fail(ALLOY_ERR_NOT_FOUND, "parameter '{}' is per model and has no top-level value", name);
    }
    return e.global;
  }
  if (model < 0 || static_cast<std::size_t>(model) >= e.per_model.size()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "parameter '{}': no model with index {}", name, model);
  }
  return e.per_model[static_cast<std::size_t>(model)];
}

std::map<std::string, std::string> ResolvedParams::describe(
    const std::vector<std::string>& model_names) const {
  std::map<std::string, std::string> out;
  for (const auto& [name, e] : entries_) {
    if (e.spec->scope == ALLOY_SCOPE_GLOBAL) {
      out[name] = param_value_text(e.global);
      continue;
    }
    for (std::size_t i = 0; i < e.per_model.size() && i < model_names.size(); ++i) {
      out[name + "@" + model_names[i]] = param_value_text(e.per_model[i]);
    }
  }
  return out;
}

}  // namespace alloy
