// alloy merge CONFIG.yaml -o OUTDIR
#include <cstdio>
#include <iostream>

#include <unistd.h>

#include "error.hpp"
#include "io/safetensors_writer.hpp"
#include "isolation.hpp"
#include "merge/config.hpp"
#include "merge/job.hpp"
#include "options.hpp"
#include "plugin/plugin_catalog.hpp"
#include "progress_bar.hpp"
#include "size_text.hpp"

namespace alloy::cli {
namespace {

// Runs the job in this process: prints progress, the summary and errors; returns the exit code.
int run_job(const MergeConfig& config, const LoadedPlugin& plugin, JobOptions options, bool quiet) {
  ProgressBar bar(!quiet);
  try {
    options.on_progress = [&](const JobProgress& p) { bar.update(p); };
    options.on_log = [&](int32_t level, const std::string& message) {
      if (quiet && level < ALLOY_LOG_WARN) return;
      bar.finish();
      std::fprintf(stderr, "alloy: %s: %s\n", log_level_name(level), message.c_str());
    };
    options.cancel = cancel_on_interrupt();

    const JobSummary summary = run_merge_job(config, plugin, options);
    bar.finish();
    if (!quiet) {
      std::printf("merged %llu tensors with %s in %.2f s (%.2f GB read, %.2f GB/s)\n",
                  static_cast<unsigned long long>(summary.tensors), plugin.id.c_str(),
                  summary.seconds, summary.bytes_read / 1e9,
                  summary.seconds > 0 ? summary.bytes_read / 1e9 / summary.seconds : 0.0);
    }
    std::printf("%s\n", summary.output_dir.c_str());
    return 0;
  } catch (const std::exception& e) {
    bar.finish();
    return job_failed(e);
  }
}

// --isolate: the job runs in a child process; a crash there is reported here, and the partial
// output the child could not remove is removed.
int run_isolated_job(const MergeConfig& config, const LoadedPlugin& plugin, JobOptions options,
                     bool quiet) {
  options.on_plugin_call = [](const std::string& activity) { ActivityLog::record(activity); };
  const IsolatedOutcome outcome =
      run_isolated([&] { return run_job(config, plugin, options, quiet); });
  if (!outcome.crashed) return outcome.exit_code;
  remove_partial_outputs(options.output_dir, outcome.child);
  if (::isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);  // the child's progress line
  if (outcome.activity.empty()) {
    print_error(fmt::format(
        "the merge crashed outside the strategy's code: {}; alloy survived it (--isolate) and "
        "left no output. This is a bug in alloy: please report it with the config",
        outcome.signal));
  } else {
    print_error(fmt::format(
        "strategy '{}' ({}) crashed: {} while {}; alloy survived it (--isolate) and left no "
        "output",
        plugin.id, plugin.file, outcome.signal, outcome.activity));
  }
  return outcome.exit_code;
}

}  // namespace

int merge_command(const Args& args) {
  po::options_description visible("merge options");
  std::vector<std::string> plugin_dirs;
  JobOptions options;
  std::string shard_size = "5GB";
  std::string max_device_memory;
  visible.add_options()("output,o", po::value(&options.output_dir)->required(),
                        "output folder (must not exist)")(
      "plugin-dir", po::value(&plugin_dirs)->composing(),
      "extra folder of strategy plugins (repeatable; searched before ALLOY_PLUGIN_PATH)")(
      "device", po::value(&options.device)->default_value("cpu"),
      "compute device: cpu, cuda or cuda:N (see `alloy providers`)")(
      "max-device-memory", po::value(&max_device_memory),
      "most device memory the merge may hold, e.g. 20GB (default: all of it)")(
      "threads", po::value(&options.threads)->default_value(0), "worker threads (0: every core)")(
      "shard-size", po::value(&shard_size)->default_value("5GB"),
      "largest output shard, e.g. 5GB, 500MB")("force", "replace OUTDIR if it exists")(
      "isolate", "run the strategy in a child process, so that a crash in it is reported")(
      "allow-insecure-plugins",
      "load plugins from folders and files that other users can write (unsafe)")(
      "quiet,q", "no progress bar or summary");
  po::options_description hidden;
  std::string config_path;
  hidden.add_options()("config", po::value(&config_path)->required(), "config");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy merge CONFIG.yaml -o OUTDIR [options]", visible, hidden,
                     positional, vm, &exit_code)) {
    return exit_code;
  }
  options.overwrite = vm.count("force") > 0;
  const bool quiet = vm.count("quiet") > 0;

  try {
    if (!parse_size(shard_size, &options.max_shard_bytes) || options.max_shard_bytes == 0) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "--shard-size '{}' is not a size like 5GB or 500MB",
           shard_size);
    }
    if (!max_device_memory.empty() && (!parse_size(max_device_memory, &options.max_device_memory) ||
                                       options.max_device_memory == 0)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "--max-device-memory '{}' is not a size like 20GB",
           max_device_memory);
    }
    const MergeConfig config = load_merge_config(config_path);
    const PluginCatalog catalog = PluginCatalog::load(plugin_search_path(plugin_dirs),
                                                      vm.count("allow-insecure-plugins") > 0);
    for (const auto& problem : catalog.problems()) {
      std::fprintf(stderr, "alloy: warning: skipped plugin %s\n", problem.c_str());
    }
    const LoadedPlugin& plugin = catalog.require(config.merge_method);
    options.catalog = &catalog;  // strategies may run other strategies (alloy_host.strategy_run)
    // Nothing so far started a thread, as fork() in run_isolated needs.
    if (vm.count("isolate")) return run_isolated_job(config, plugin, options, quiet);
    return run_job(config, plugin, options, quiet);
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}

}  // namespace alloy::cli
