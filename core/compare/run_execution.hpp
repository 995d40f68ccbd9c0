// The work of one run, each step in its own child process (compare/child_process.hpp): the
// merge, then the evaluations. Results come back as JSON text.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "compare/child_process.hpp"
#include "compare/run_plan.hpp"
#include "plugin/plugin_catalog.hpp"

namespace alloy {

// Merges `run` into output_dir (replacing it). Result: {"seconds" (the job's own time),
// "tensors", "bytes_read", "bytes_written", "parameters" (elements in the output)}.
// on_progress(done, total) follows the job's tensors.
// `catalog` holds the strategies the merge may run inside its job (alloy_host.strategy_run).
ChildOutcome merge_in_child(const CompareSpec& spec, const PluginCatalog& catalog,
                            const LoadedPlugin& plugin, const PlannedRun& run,
                            const std::string& output_dir,
                            const std::function<void(uint64_t done, uint64_t total)>& on_progress,
                            const std::atomic<bool>* cancel);

// Evaluates model_dir on every task of `tasks` for each split. When `own_model_per_task` holds
// (the individual baseline), task i is evaluated on model_dirs[i]; otherwise every task on
// model_dirs[0]. Result: {"<split>": {"<task>": accuracy}}. on_progress names the step.
ChildOutcome evaluate_in_child(const CompareSpec& spec, const std::vector<std::string>& model_dirs,
                               const std::vector<std::string>& tasks,
                               const std::vector<Split>& splits,
                               const std::function<void(const std::string& step)>& on_progress,
                               const std::atomic<bool>* cancel);

// The number of elements of all tensors of a model (headers only).
uint64_t count_parameters(const std::string& model_path);

}  // namespace alloy
