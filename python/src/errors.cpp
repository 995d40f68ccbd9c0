// alloy::Error as the Python exception alloy.Error (a RuntimeError) with the message, which names
// the file, tensor or key at fault, and the status as text ("invalid argument", "I/O error").
#include "bindings.hpp"
#include "error.hpp"
#include "merge/job.hpp"

namespace alloy::python {
namespace {

PyObject* g_error_type = nullptr;  // owned by the module (its attribute Error)

}  // namespace

void bind_errors(py::module_& m) {
  py::exception<Error> type(m, "Error", PyExc_RuntimeError);
  type.doc() = "An error alloy reports: the message names the file, tensor or key at fault.";
  type.attr("status") = py::none();  // for an alloy.Error raised from Python
  g_error_type = type.ptr();
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const Error& e) {
      py::object instance = py::handle(g_error_type)(lenient_str(e.what()));
      instance.attr("status") = status_name(e.status());
      PyErr_SetObject(g_error_type, instance.ptr());
    }
  });
}

}  // namespace alloy::python
