// alloy.merge(): a merge job from a config (mergekit's form, as text or a file), run in a child
// process; progress and the strategy's log messages come back through the pipe.
#include <mutex>
#include <optional>

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "bindings.hpp"
#include "child_call.hpp"
#include "io/safetensors_writer.hpp"
#include "merge/config.hpp"
#include "merge/job.hpp"
#include "plugin/plugin_catalog.hpp"
#include "plugin_path.hpp"

namespace alloy::python {
namespace {

using nlohmann::json;
using Progress = std::function<void(py::dict)>;
using Log = std::function<void(const std::string& level, const std::string& message)>;

struct MergeRequest {
  std::optional<std::string> config_text;  // absent: read config_source
  std::string config_source;               // the file, or a name for the text in messages
  std::string output;
  std::string device;
  std::vector<std::string> plugin_dirs;
  bool overwrite = false;
  bool allow_insecure_plugins = false;
  int threads = 0;
  uint64_t max_shard_bytes = 0;  // 0: the job's default
};

// The child's side: runs the job, sending {"progress": ...} and {"log": [level, text]}.
std::string run_job(const MergeConfig& config, const LoadedPlugin& plugin, JobOptions options,
                    const ChildSend& send) {
  std::mutex mutex;  // progress and log may come from different worker threads
  options.on_progress = [&](const JobProgress& p) {
    const std::lock_guard lock(mutex);
    send(json_text({{"progress",
                     {{"phase", p.phase},
                      {"done", p.done},
                      {"total", p.total},
                      {"bytes_read", p.bytes_read},
                      {"seconds", p.seconds}}}}));
  };
  options.on_log = [&](int32_t level, const std::string& message) {
    const std::lock_guard lock(mutex);
    send(json_text({{"log", {log_level_name(level), message}}}));
  };
  const JobSummary summary = run_merge_job(config, plugin, options);
  return json_text({{"output_dir", summary.output_dir},
                    {"strategy", plugin.id},
                    {"tensors", summary.tensors},
                    {"bytes_read", summary.bytes_read},
                    {"bytes_written", summary.bytes_written},
                    {"seconds", summary.seconds}});
}

py::object merge(const MergeRequest& request, const Progress& progress, const Log& log) {
  const MergeConfig config = request.config_text
                                 ? parse_merge_config(*request.config_text, request.config_source)
                                 : load_merge_config(request.config_source);
  const PluginCatalog catalog =
      PluginCatalog::load(plugin_path(request.plugin_dirs), request.allow_insecure_plugins);
  for (const std::string& problem : catalog.problems()) warn("skipped plugin " + problem);
  const LoadedPlugin& plugin = catalog.require(config.merge_method);
  JobOptions options;
  options.output_dir = request.output;
  options.device = request.device;
  options.overwrite = request.overwrite;
  options.catalog = &catalog;  // strategies may run other strategies (alloy_host.strategy_run)
  options.threads = request.threads;
  if (request.max_shard_bytes > 0) options.max_shard_bytes = request.max_shard_bytes;

  std::string summary;
  try {
    summary = call_in_child(
        "the merge", [&](const ChildSend& send) { return run_job(config, plugin, options, send); },
        [&](const std::string& text) {
          const json message = json::parse(text);
          if (message.contains("progress")) {
            if (progress) progress(to_python(message["progress"]));
          } else if (log) {
            log(message["log"][0].get<std::string>(), message["log"][1].get<std::string>());
          }
        });
  } catch (...) {
    // A child that crashed or was stopped could not remove its partial output.
    remove_stale_partial_outputs(request.output);
    throw;
  }
  return to_python(json::parse(summary));
}

}  // namespace

void bind_merge(py::module_& m) {
  m.def(
      "merge",
      [](std::optional<std::string> config_text, std::string config_source, std::string output,
         std::string device, std::vector<std::string> plugin_dirs, bool allow_insecure_plugins,
         bool overwrite, int threads, uint64_t max_shard_bytes, const Progress& progress,
         const Log& log) {
        MergeRequest request;
        request.config_text = std::move(config_text);
        request.config_source = std::move(config_source);
        request.output = std::move(output);
        request.device = std::move(device);
        request.plugin_dirs = std::move(plugin_dirs);
        request.allow_insecure_plugins = allow_insecure_plugins;
        request.overwrite = overwrite;
        request.threads = threads;
        request.max_shard_bytes = max_shard_bytes;
        return merge(request, progress, log);
      },
      py::arg("config_text"), py::arg("config_source"), py::arg("output"), py::arg("device"),
      py::arg("plugin_dirs"), py::arg("allow_insecure_plugins"), py::arg("overwrite"),
      py::arg("threads"), py::arg("max_shard_bytes"), py::arg("progress"), py::arg("log"));
}

}  // namespace alloy::python
