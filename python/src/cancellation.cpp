#include "cancellation.hpp"

#include <pybind11/pybind11.h>

namespace alloy::python {
namespace py = pybind11;
namespace {

// The Cancellation that SIGINT cancels (the innermost on the main thread), for the handler.
std::atomic<Cancellation*> g_catching{nullptr};

bool on_main_thread() {
  const py::module_ threading = py::module_::import("threading");
  return threading.attr("current_thread")().is(threading.attr("main_thread")());
}

}  // namespace

void Cancellation::on_interrupt(int) {
  // Async-signal-safe: lock-free atomics only.
  if (Cancellation* target = g_catching.load()) {
    target->interrupted_.store(true);
    target->cancel_.store(true);
  }
}

Cancellation::Cancellation() {
  if (!on_main_thread()) return;
  struct sigaction current {};
  ::sigaction(SIGINT, nullptr, &current);
  if (current.sa_handler == SIG_IGN) return;  // the program chose to ignore Ctrl-C
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  previous_ = g_catching.exchange(this);
  ::sigaction(SIGINT, &action, &previous_action_);
  catching_ = true;
}

Cancellation::~Cancellation() {
  if (!catching_) return;
  ::sigaction(SIGINT, &previous_action_, nullptr);
  g_catching.store(previous_);
}

void Cancellation::call(const std::function<void()>& python) {
  if (cancel_.load()) return;  // the work is ending; nothing more to report
  py::gil_scoped_acquire gil;
  try {
    python();
  } catch (...) {
    callback_error_ = std::current_exception();
    cancel_.store(true);
  }
}

void Cancellation::raise_if_cancelled() {
  if (callback_error_) std::rethrow_exception(callback_error_);
  if (interrupted_.load()) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
}

}  // namespace alloy::python
