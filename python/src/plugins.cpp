// alloy.plugins(): the strategies a merge can use, as `alloy plugins` lists them.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "plugin/plugin_catalog.hpp"
#include "plugin_path.hpp"

namespace alloy::python {
namespace {

py::dict describe(const LoadedPlugin& plugin) {
  py::list parameters;
  for (const ParamSpec& spec : plugin.params) {
    py::dict p;
    p["name"] = spec.name;
    p["type"] = param_type_name(spec.type);
    p["scope"] = param_scope_name(spec.scope);
    p["default"] = spec.default_value ? py::cast(*spec.default_value) : py::none();
    p["doc"] = lenient_str(spec.doc);
    p["choices"] = spec.choices;
    parameters.append(p);
  }
  py::dict d;
  d["id"] = plugin.id;
  d["version"] = plugin.version;
  d["description"] = lenient_str(plugin.description);
  d["file"] = lenient_str(plugin.file);
  d["abi"] = std::to_string(plugin.abi_major) + "." + std::to_string(plugin.abi_minor);
  d["parameters"] = parameters;
  return d;
}

py::list plugins(const std::vector<std::string>& plugin_dirs, bool allow_insecure) {
  const PluginCatalog catalog = PluginCatalog::load(plugin_path(plugin_dirs), allow_insecure);
  for (const std::string& problem : catalog.problems()) warn("skipped plugin " + problem);
  py::list list;
  for (const LoadedPlugin& plugin : catalog.plugins()) list.append(describe(plugin));
  return list;
}

}  // namespace

void bind_plugins(py::module_& m) {
  m.def("plugins", &plugins, py::arg("plugin_dirs"), py::arg("allow_insecure_plugins"));
}

}  // namespace alloy::python
