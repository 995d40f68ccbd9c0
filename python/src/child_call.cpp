#include "child_call.hpp"

#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>

#include "bindings.hpp"
#include "cancellation.hpp"
#include "error.hpp"

namespace alloy::python {

std::string call_in_child(const std::string& what,
                          const std::function<std::string(const ChildSend& send)>& work,
                          const std::function<void(const std::string& message)>& on_message) {
  // The child answers "+<result>" or "-<error as JSON>", so that an alloy::Error keeps its
  // status across the pipe and a child that died without answering is told apart.
  const auto answer = [&](const ChildSend& send) -> std::string {
    try {
      return "+" + work(send);
    } catch (const Error& e) {
      return "-" + json_text({{"status", e.status()}, {"message", e.what()}});
    } catch (const std::exception& e) {
      return "-" + json_text({{"status", ALLOY_ERR_INTERNAL}, {"message", e.what()}});
    }
  };
  Cancellation cancellation;
  ChildOutcome outcome;
  {
    py::gil_scoped_release release;
    outcome = run_in_child(
        answer,
        [&](const std::string& message) {
          if (on_message) cancellation.call([&] { on_message(message); });
        },
        cancellation.flag());
  }
  cancellation.raise_if_cancelled();
  if (!outcome.ok) fail(ALLOY_ERR_INTERNAL, "{} did not finish: {}", what, outcome.error);
  if (outcome.result.rfind('+', 0) == 0) return outcome.result.substr(1);
  const nlohmann::json error = nlohmann::json::parse(outcome.result.substr(1));
  throw Error(error["status"].get<alloy_status>(), error["message"].get<std::string>());
}

}  // namespace alloy::python
