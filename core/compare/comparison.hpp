// Runs a comparison: every run of a spec (each grid point a merge in its own child process,
// then evaluations, also in children), cached by a key of its inputs, parameters and plugin so
// that a re-run or an interrupted comparison only does what is missing. One failing run is
// recorded as failed and the others go on.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "compare/compare_spec.hpp"

namespace alloy {

struct CompareProgress {
  size_t run = 0;     // 1-based index of the run in progress
  size_t runs = 0;    // runs in the comparison
  std::string label;  // "Task Arithmetic lambda=0.3"
  std::string phase;  // "merge", "eval test", "eval validation", "cached", "done", "failed"
  uint64_t done = 0;  // within the phase, when it has steps (tensors merged)
  uint64_t total = 0;
  double seconds = 0;  // since the comparison started
};

struct CompareOptions {
  std::string output_dir;
  bool rerun = false;                          // ignore cached results
  std::vector<std::string> extra_plugin_dirs;  // searched after the spec's and ALLOY_PLUGIN_PATH
  bool allow_insecure_plugins = false;
  std::function<void(const CompareProgress&)> on_progress;  // on the calling thread
  std::function<void(const std::string& message)> on_log;   // a run finished, failed, ...
  const std::atomic<bool>* cancel = nullptr;
};

// Runs what is missing, writes results.json, results.csv, results.md and the charts into
// options.output_dir, and returns results.json's content (docs/compare.md has its schema).
// Throws alloy::Error only for problems that stop every run (a bad spec, an unwritable folder).
nlohmann::json run_comparison(const CompareSpec& spec, const CompareOptions& options);

}  // namespace alloy
