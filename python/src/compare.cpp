// alloy.compare(): every run of a comparison spec (alloy::run_comparison: each merge and
// evaluation in its own child process, cached and resumable), with progress and log messages
// handed to Python callbacks.
#include <optional>

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "bindings.hpp"
#include "cancellation.hpp"
#include "compare/comparison.hpp"
#include "plugin_path.hpp"

namespace alloy::python {
namespace {

using Progress = std::function<void(py::dict)>;
using Log = std::function<void(py::str level, py::str message)>;

py::dict progress_dict(const CompareProgress& p) {
  py::dict d;
  d["run"] = p.run;
  d["runs"] = p.runs;
  d["label"] = lenient_str(p.label);
  d["phase"] = p.phase;
  d["done"] = p.done;
  d["total"] = p.total;
  d["seconds"] = p.seconds;
  return d;
}

py::object compare(const std::optional<std::string>& spec_text, const std::string& spec_source,
                   const std::string& output_dir, bool rerun,
                   const std::vector<std::string>& plugin_dirs, bool allow_insecure_plugins,
                   const Progress& progress, const Log& log) {
  const CompareSpec spec =
      spec_text ? parse_compare_spec(*spec_text, spec_source) : load_compare_spec(spec_source);
  Cancellation cancellation;
  CompareOptions options;
  options.output_dir = output_dir;
  options.rerun = rerun;
  options.extra_plugin_dirs = plugin_dirs;
  options.extra_plugin_dirs.push_back(builtin_plugin_dir());
  options.allow_insecure_plugins = allow_insecure_plugins;
  options.cancel = cancellation.flag();
  options.on_progress = [&](const CompareProgress& p) {
    if (progress) cancellation.call([&] { progress(progress_dict(p)); });
  };
  // The comparison also searches beside the executable (python's, where there are no plugins):
  // that it found nothing there is no news.
  const std::string not_there =
      "skipped plugin " + executable_plugin_dir() + ": plugin directory does not exist";
  options.on_log = [&](const std::string& message) {
    if (log && message != not_there)
      cancellation.call([&] { log(py::str("warning"), lenient_str(message)); });
  };

  nlohmann::json results;
  std::exception_ptr error;
  {
    py::gil_scoped_release release;
    try {
      results = run_comparison(spec, options);
    } catch (...) {
      error = std::current_exception();
    }
  }
  cancellation.raise_if_cancelled();  // rather than the "cancelled" it caused
  if (error) std::rethrow_exception(error);
  return to_python(results);
}

}  // namespace

void bind_compare(py::module_& m) {
  m.def("compare", &compare, py::arg("spec_text"), py::arg("spec_source"), py::arg("output_dir"),
        py::arg("rerun"), py::arg("plugin_dirs"), py::arg("allow_insecure_plugins"),
        py::arg("progress"), py::arg("log"));
}

}  // namespace alloy::python
