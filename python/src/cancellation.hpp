// Native work runs without the GIL, and Python must still be able to stop it: Ctrl-C in the main
// thread (SIGINT is caught here while the work runs, since Python's own handler only sets a flag
// that nobody checks meanwhile), or an exception raised by a Python callback the work calls
// (progress, log). Either sets flag(), which the work polls (it ends its child processes), and is
// raised once the work has returned.
#pragma once

#include <atomic>
#include <exception>
#include <functional>

#include <signal.h>

namespace alloy::python {

class Cancellation {
 public:
  // With the GIL held. Catches SIGINT when called on the main thread.
  Cancellation();
  ~Cancellation();
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  const std::atomic<bool>* flag() const { return &cancel_; }
  // Runs Python code from native code without the GIL: acquires it; an exception is kept (the
  // first one) and cancels the work instead of unwinding through it.
  void call(const std::function<void()>& python);
  // With the GIL held, after the work: raises the callback's exception or KeyboardInterrupt when
  // either cancelled the work; otherwise does nothing.
  void raise_if_cancelled();

 private:
  static void on_interrupt(int signal);
  std::atomic<bool> cancel_{false};
  std::atomic<bool> interrupted_{false};
  std::exception_ptr callback_error_;
  bool catching_ = false;
  struct sigaction previous_action_ {};
  Cancellation* previous_ = nullptr;  // the one catching SIGINT before this one
};

}  // namespace alloy::python
