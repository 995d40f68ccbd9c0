// The extension module the package `alloy` imports: `_alloy`.
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "bindings.hpp"
#include "plugin_path.hpp"

namespace alloy::python {

py::object to_python(const nlohmann::json& value) {
  return py::module_::import("json").attr("loads")(json_text(value));
}

std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

py::str lenient_str(const std::string& text) {
  PyObject* str =
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (!str) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(str);
}

void warn(const std::string& message) {
  // stacklevel 2: the line that called the package's function, not the package itself.
  py::module_::import("warnings")
      .attr("warn")(lenient_str(message), py::handle(PyExc_RuntimeWarning), 2);
}

}  // namespace alloy::python

PYBIND11_MODULE(_alloy, m) {
  namespace ap = alloy::python;
  m.doc() = "alloy's native core; use the package `alloy` (docs/python.md)";
  m.attr("version") = ALLOY_VERSION;
  m.def("set_lib_dir", &ap::set_lib_dir, pybind11::arg("lib_dir"),
        "Sets the folder of the built-in strategy plugins and the CUDA provider module");
  m.def("plugin_search_path", &ap::plugin_path, pybind11::arg("plugin_dirs"));
  ap::bind_errors(m);
  ap::bind_plugins(m);
  ap::bind_merge(m);
  ap::bind_evaluate(m);
  ap::bind_compare(m);
  ap::bind_model(m);
}
