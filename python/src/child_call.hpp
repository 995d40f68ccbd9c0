// Work that must not run in the Python process itself: compute starts thread pools (OpenMP)
// that do not survive fork(), and comparisons fork, so every merge and evaluation of the
// bindings runs in a child process (alloy::run_in_child), as `alloy compare` runs them.
#pragma once

#include <functional>
#include <string>

#include "compare/child_process.hpp"

namespace alloy::python {

// Runs `work` in a child with the GIL released and returns the JSON text it returned. Messages
// it sends reach `on_message` in the parent with the GIL held. An alloy::Error the work throws
// is thrown here with its status and message; a child that dies throws alloy::Error saying that
// `what` ("the merge") did not finish and how the child ended. Ctrl-C, or an exception raised by
// on_message, ends the child and is raised here.
std::string call_in_child(const std::string& what,
                          const std::function<std::string(const ChildSend& send)>& work,
                          const std::function<void(const std::string& message)>& on_message = {});

}  // namespace alloy::python
