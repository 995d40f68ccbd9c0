// The pieces of the extension module _alloy, one file each, and what they share. The Python
// package (python/alloy/__init__.py) wraps them in the documented API (docs/python.md).
#pragma once

#include <string>

#include <pybind11/pybind11.h>
#include <nlohmann/json_fwd.hpp>

namespace alloy::python {

namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_plugins(py::module_& m);
void bind_merge(py::module_& m);
void bind_evaluate(py::module_& m);
void bind_compare(py::module_& m);
void bind_model(py::module_& m);

// A JSON value as Python objects (dict, list, str, float, int, bool, None).
py::object to_python(const nlohmann::json& value);
// JSON text for a child's result or message: never throws on invalid UTF-8 (a file name in an
// error message), which becomes U+FFFD.
std::string json_text(const nlohmann::json& value);

// Text from the core as a Python str; bytes that are not UTF-8 (a file name in a message) become
// U+FFFD instead of raising.
py::str lenient_str(const std::string& text);

// Issues a RuntimeWarning (GIL held); raises when warnings are errors.
void warn(const std::string& message);

}  // namespace alloy::python
