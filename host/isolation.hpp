// `--isolate`: runs a job in a child process so that a strategy that crashes (abort, segfault)
// cannot take the host down with it. The host reports which signal ended the strategy and what
// it was doing, and removes the partial output the child left.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace alloy::cli {

// What the child is doing, recorded in memory the parent can read after the child died.
class ActivityLog {
 public:
  // Records `activity` for the calling thread (async-signal-safe readers; truncated to fit).
  static void record(const std::string& activity);
};

struct IsolatedOutcome {
  int exit_code = 0;     // the child's exit status, or 1 when it died from a signal
  bool crashed = false;  // ended by a signal
  std::string signal;    // e.g. "SIGSEGV (Segmentation fault)"
  std::string activity;  // what the strategy was doing ("merging tensor 'w'"); empty: nothing
  pid_t child = 0;
};

// Forks; the child runs `job` (its return value is the child's exit status) with crash
// handlers that note which thread crashed. Must be called before the process starts threads:
// a forked child has only the forking thread, and thread pools (OpenMP) would not survive.
// SIGINT and SIGTERM sent to the parent are passed on to the child, which cancels cleanly.
IsolatedOutcome run_isolated(const std::function<int()>& job);

}  // namespace alloy::cli
