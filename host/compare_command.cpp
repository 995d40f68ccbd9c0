// alloy compare SPEC.yaml -o DIR: runs every merge and evaluation of a comparison (cached and
// resumable), then prints the Markdown table that DIR/results.md also holds.
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "compare/comparison.hpp"
#include "compare/report.hpp"
#include "error.hpp"
#include "options.hpp"

namespace alloy::cli {
namespace {

// One status line on a terminal ("[3/14] ties density=0.2: merge 40/104  12 s"), redrawn in
// place; elsewhere one line per run when it ends.
class CompareDisplay {
 public:
  explicit CompareDisplay(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO)) {}

  void update(const CompareProgress& p) {
    if (quiet_) return;
    const bool ended = p.phase == "done" || p.phase == "failed" || p.phase == "cached";
    std::string line = fmt::format("[{}/{}] {}: {}", p.run, p.runs, p.label, p.phase);
    if (p.total > 0) line += fmt::format(" {}/{}", p.done, p.total);
    line += fmt::format("  {:.0f} s", p.seconds);
    if (terminal_) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      drawn_ = true;
      if (ended) finish();
    } else if (ended) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }

  void message(const std::string& text) {
    finish();
    std::fprintf(stderr, "alloy: %s\n", text.c_str());
  }

  void finish() {
    if (drawn_) std::fputs("\n", stderr);
    drawn_ = false;
  }

 private:
  bool quiet_, terminal_, drawn_ = false;
};

}  // namespace

int compare_command(const Args& args) {
  po::options_description visible("compare options");
  std::vector<std::string> plugin_dirs;
  CompareOptions options;
  visible.add_options()("output,o", po::value(&options.output_dir)->required(),
                        "output folder (created; a previous comparison there is resumed)")(
      "plugin-dir", po::value(&plugin_dirs)->composing(),
      "extra folder of strategy plugins (repeatable; searched after the spec's plugin_dirs)")(
      "rerun", "run everything again, ignoring cached results")(
      "allow-insecure-plugins",
      "load plugins from folders and files that other users can write (unsafe)")(
      "quiet,q", "no progress, only the table");
  po::options_description hidden;
  std::string spec_path;
  hidden.add_options()("spec", po::value(&spec_path)->required(), "spec");
  po::positional_options_description positional;
  positional.add("spec", 1);
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy compare SPEC.yaml -o DIR [options]", visible, hidden, positional,
                     vm, &exit_code)) {
    return exit_code;
  }
  CompareDisplay display(vm.count("quiet") > 0);
  try {
    CompareSpec spec = load_compare_spec(spec_path);
    spec.plugin_dirs.insert(spec.plugin_dirs.end(), plugin_dirs.begin(), plugin_dirs.end());
    options.rerun = vm.count("rerun") > 0;
    options.allow_insecure_plugins = vm.count("allow-insecure-plugins") > 0;
    options.on_progress = [&](const CompareProgress& p) { display.update(p); };
    options.on_log = [&](const std::string& text) { display.message(text); };
    options.cancel = cancel_on_interrupt();
    const nlohmann::json results = run_comparison(spec, options);
    display.finish();
    std::printf("%s\nresults: %s/results.md (json, csv and charts beside it)\n",
                markdown_report(results).c_str(), options.output_dir.c_str());
    size_t failed = 0;
    for (const auto& run : results["runs"]) failed += run["status"] != "ok";
    if (failed > 0) {
      std::fprintf(stderr, "alloy: %zu of %zu runs failed (see the table)\n", failed,
                   results["runs"].size());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    display.finish();
    return job_failed(e);
  }
}

}  // namespace alloy::cli
