// A merge job: opens the models of a config lazily, checks the strategy's parameters, then
// either drives the strategy tensor by tensor (merge callback; independent tensors on several
// threads when the strategy is thread-safe) or hands it the whole job (run callback), while
// outputs stream into a sharded safetensors folder that appears only if everything succeeded.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "compute/provider.hpp"
#include "merge/config.hpp"
#include "plugin/plugin_catalog.hpp"

namespace alloy {

struct JobProgress {
  const char* phase = "";  // "prepare" (the strategy's global passes) or "merge"
  uint64_t done = 0;
  uint64_t total = 0;
  uint64_t bytes_read = 0;  // input bytes of the tensors done so far
  double seconds = 0;
};

struct JobOptions {
  std::string output_dir;
  std::string device = "cpu";
  uint64_t max_device_memory = 0;  // bytes the device provider may hold; 0: no cap
  int threads = 0;                 // 0: every core
  bool overwrite = false;
  uint64_t max_shard_bytes = 5ull * 1000 * 1000 * 1000;
  // Called from worker threads, never concurrently.
  std::function<void(const JobProgress&)> on_progress;
  std::function<void(int32_t level, const std::string& message)> on_log;  // log_level_name
  const std::atomic<bool>* cancel = nullptr;  // set asynchronously to stop the job
  // Called on the calling thread just before each call into the strategy ("preparing",
  // "merging tensor 'x'", "running", "finishing"), so a crash can be blamed on what it did.
  std::function<void(const std::string& activity)> on_plugin_call;
  // The loaded strategies the job's strategy may run inside it (alloy_host.strategy_run); null:
  // none.
  const PluginCatalog* catalog = nullptr;
  // A job run by another job's strategy: the outer job's provider (device is then ignored) and
  // the ids of the strategies running around it, outermost first (a strategy may not run itself).
  Provider* provider = nullptr;
  std::vector<std::string> outer_strategies;
};

struct JobSummary {
  std::string output_dir;
  uint64_t tensors = 0;
  uint64_t bytes_read = 0;  // every input tensor's bytes
  uint64_t bytes_written = 0;
  double seconds = 0;
};

// Runs the job; throws alloy::Error naming the file, model, tensor or parameter at fault, and
// then leaves nothing at options.output_dir.
JobSummary run_merge_job(const MergeConfig& config, const LoadedPlugin& plugin,
                         const JobOptions& options);

// Runs `plugin` over `config` inside another job (options.provider set, options.output_dir
// empty): the outputs stay in memory on that provider, returned in declaration order.
std::vector<std::pair<std::string, Tensor>> run_nested_job(const MergeConfig& config,
                                                           const LoadedPlugin& plugin,
                                                           const JobOptions& options);

const char* status_name(alloy_status status);

// "debug", "info", "warning" or "error": how the CLI and the Python bindings name an
// ALLOY_LOG_* level given to JobOptions::on_log.
const char* log_level_name(int32_t level);

}  // namespace alloy
