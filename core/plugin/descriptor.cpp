#include "plugin/descriptor.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "error.hpp"
#include "merge/param_value.hpp"

namespace alloy {
namespace {

// Size of the descriptor and of a parameter spec as ABI 1.0 defined them: a plugin built for
// 1.0 has at least these; later minors only add members after them.
constexpr std::size_t kPluginSize10 = offsetof(alloy_plugin, end) + sizeof(void (*)(void*));
constexpr std::size_t kParamSpecSize10 = offsetof(alloy_param_spec, choices) + sizeof(char*);

bool valid_id(const char* id) {
  if (!id || !*id) return false;
  for (const char* c = id; *c; ++c) {
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return false;
  }
  return true;
}

std::vector<std::string> split_choices(const char* choices) {
  std::vector<std::string> out;
  if (!choices) return out;
  std::string current;
  for (const char* c = choices;; ++c) {
    if (*c == '|' || *c == '\0') {
      out.push_back(current);
      current.clear();
      if (*c == '\0') break;
    } else {
      current += *c;
    }
  }
  return out;
}

ParamSpec read_param(const alloy_param_spec& raw, const std::string& file, int index) {
  if (!raw.name || !*raw.name) fail(ALLOY_ERR_PLUGIN, "{}: parameter #{} has no name", file, index);
  ParamSpec spec;
  spec.name = raw.name;
  spec.type = raw.type;
  spec.scope = raw.scope;
  spec.doc = raw.doc ? raw.doc : "";
  if (raw.type < ALLOY_PARAM_F64 || raw.type > ALLOY_PARAM_STRING) {
    fail(ALLOY_ERR_PLUGIN, "{}: parameter '{}' has unknown type {}", file, spec.name, raw.type);
  }
  if (raw.scope != ALLOY_SCOPE_GLOBAL && raw.scope != ALLOY_SCOPE_MODEL) {
    fail(ALLOY_ERR_PLUGIN, "{}: parameter '{}' has unknown scope {}", file, spec.name, raw.scope);
  }
  if (raw.type == ALLOY_PARAM_STRING) spec.choices = split_choices(raw.choices);
  if (raw.default_value) {
    spec.default_value = raw.default_value;
    try {
      parse_param_value(spec, *spec.default_value);
    } catch (const Error& e) {
      fail(ALLOY_ERR_PLUGIN, "{}: default of parameter '{}' is invalid: {}", file, spec.name,
           e.what());
    }
  }
  return spec;
}

}  // namespace

LoadedPlugin read_descriptor(const alloy_plugin* d, const std::string& file) {
  if (!d) fail(ALLOY_ERR_PLUGIN, "{}: alloy_plugin_entry returned no descriptor", file);
  if (d->abi_major != ALLOY_ABI_MAJOR) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "{}: built for alloy ABI {}.{}, but this host speaks ABI {}.{}; rebuild the plugin "
         "against this alloy's SDK",
         file, d->abi_major, d->abi_minor, ALLOY_ABI_MAJOR, ALLOY_ABI_MINOR);
  }
  if (d->abi_minor > ALLOY_ABI_MINOR) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "{}: needs alloy ABI {}.{}, newer than this host's {}.{}; upgrade alloy", file,
         d->abi_major, d->abi_minor, ALLOY_ABI_MAJOR, ALLOY_ABI_MINOR);
  }
  if (d->struct_size < kPluginSize10) {
    fail(ALLOY_ERR_PLUGIN, "{}: descriptor is {} bytes, smaller than ABI 1.0's {}", file,
         d->struct_size, kPluginSize10);
  }
  if (!valid_id(d->id)) {
    fail(ALLOY_ERR_PLUGIN, "{}: plugin id must be non-empty and use only [a-z0-9_]", file);
  }
  if (!d->merge && !d->run) {
    fail(ALLOY_ERR_PLUGIN, "{}: plugin '{}' has neither a merge nor a run callback", file, d->id);
  }
  if (d->param_count < 0 || (d->param_count > 0 && !d->params)) {
    fail(ALLOY_ERR_PLUGIN, "{}: plugin '{}' declares {} parameters without a table", file, d->id,
         d->param_count);
  }
  if (d->param_count > 0 && d->param_spec_size < kParamSpecSize10) {
    fail(ALLOY_ERR_PLUGIN, "{}: parameter specs are {} bytes, smaller than ABI 1.0's {}", file,
         d->param_spec_size, kParamSpecSize10);
  }

  LoadedPlugin plugin;
  plugin.file = file;
  plugin.descriptor = d;
  plugin.id = d->id;
  plugin.version = d->version ? d->version : "";
  plugin.description = d->description ? d->description : "";
  plugin.abi_major = d->abi_major;
  plugin.abi_minor = d->abi_minor;
  const char* base = reinterpret_cast<const char*>(d->params);
  for (int i = 0; i < d->param_count; ++i) {
    // The plugin's spec may be larger than ours (a newer minor): walk by its stride.
    // ...or smaller (an older minor, once this struct grows): copy what it has, zero the rest.
    alloy_param_spec raw{};
    std::memcpy(&raw, base + static_cast<std::size_t>(i) * d->param_spec_size,
                std::min<std::size_t>(d->param_spec_size, sizeof raw));
    ParamSpec spec = read_param(raw, file, i);
    if (plugin.param(spec.name)) {
      fail(ALLOY_ERR_PLUGIN, "{}: parameter '{}' is declared twice", file, spec.name);
    }
    plugin.params.push_back(std::move(spec));
  }
  return plugin;
}

}  // namespace alloy
