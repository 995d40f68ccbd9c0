// Runs a piece of work in a forked child process and returns what it produced, with the
// child's wall time and peak resident memory. A comparison runs every merge and evaluation this
// way: a strategy that crashes or leaks fails its run, not the comparison; peak memory is the
// run's own (wait4), not the comparison's; and the parent never starts the compute thread pools
// (OpenMP does not survive fork), so it can fork again and again, also from Python.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace alloy {

struct ChildOutcome {
  bool ok = false;              // the work returned normally
  std::string result;           // what it returned
  std::string error;            // when not ok: the exception's message, or how the child died
  double seconds = 0;           // wall time of the child
  uint64_t peak_rss_bytes = 0;  // the child's peak resident set (includes what fork shared)
};

// Sends one message from the child to the parent's on_message (called on the parent's thread,
// in order). Cheap enough for progress updates.
using ChildSend = std::function<void(const std::string& message)>;

// Forks; the child runs `work` and exits without running the parent's exit handlers. When
// `cancel` becomes true the child is terminated and the outcome says "cancelled". Throws
// alloy::Error only when the child cannot be started.
ChildOutcome run_in_child(const std::function<std::string(const ChildSend& send)>& work,
                          const std::function<void(const std::string& message)>& on_message = {},
                          const std::atomic<bool>* cancel = nullptr);

}  // namespace alloy
