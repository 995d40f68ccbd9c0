// alloy.evaluate(): top-1 accuracy of a model folder on the tasks of a suite or a task file,
// each through its own head (alloy::evaluate_model, as `alloy eval`), in a child process.
#include <algorithm>

#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "bindings.hpp"
#include "child_call.hpp"
#include "error.hpp"
#include "model/evaluation.hpp"
#include "model/zoo.hpp"

namespace alloy::python {
namespace {

struct EvalRequest {
  std::string model;
  std::string heads;
  std::string suite;  // or
  std::string data;   // a task file
  Split split = Split::Test;
  std::vector<std::string> tasks;  // empty: all
  std::string device;
};

std::vector<Task> chosen_tasks(const EvalRequest& request) {
  std::vector<Task> all = load_tasks(request.suite, request.data);
  if (request.tasks.empty()) return all;
  return select_tasks(all, request.tasks, request.suite.empty() ? request.data : request.suite);
}

py::object evaluate(const EvalRequest& request) {
  const std::string result = call_in_child("the evaluation", [&](const ChildSend&) {
    const std::vector<Task> tasks = chosen_tasks(request);
    const auto provider = create_provider(request.device);
    const Evaluation evaluation =
        evaluate_model(request.model, tasks, request.heads, request.split, *provider);
    nlohmann::json out = {{"accuracy", evaluation.accuracy}, {"average", evaluation.average}};
    if (!evaluation.routing.empty()) out["routing"] = evaluation.routing;
    return json_text(out);
  });
  return to_python(nlohmann::json::parse(result));
}

}  // namespace

void bind_evaluate(py::module_& m) {
  m.def(
      "evaluate",
      [](std::string model, std::string heads, std::string suite, std::string data,
         const std::string& split, std::vector<std::string> tasks, std::string device) {
        if (suite.empty() == data.empty()) {
          fail(ALLOY_ERR_INVALID_ARGUMENT, "evaluate: give either suite or data (a task file)");
        }
        EvalRequest request;
        request.model = std::move(model);
        request.heads = std::move(heads);
        request.suite = std::move(suite);
        request.data = std::move(data);
        request.tasks = std::move(tasks);
        request.device = std::move(device);
        if (!parse_split(split, &request.split)) {
          fail(ALLOY_ERR_INVALID_ARGUMENT, "split '{}' is not train, validation or test", split);
        }
        return evaluate(request);
      },
      py::arg("model"), py::arg("heads"), py::arg("suite"), py::arg("data"), py::arg("split"),
      py::arg("tasks"), py::arg("device"));
}

}  // namespace alloy::python
