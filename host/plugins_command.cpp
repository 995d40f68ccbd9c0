// alloy plugins: what strategies are available, where they come from, what they take.
#include <cstdio>

#include "error.hpp"
#include "options.hpp"
#include "plugin/plugin_catalog.hpp"

namespace alloy::cli {

int plugins_command(const Args& args) {
  po::options_description visible("plugins options");
  std::vector<std::string> plugin_dirs;
  visible.add_options()("plugin-dir", po::value(&plugin_dirs)->composing(),
                        "extra folder of strategy plugins (repeatable)")(
      "allow-insecure-plugins",
      "load plugins from folders and files that other users can write (unsafe)");
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy plugins [--plugin-dir DIR]...", visible, {}, {}, vm,
                     &exit_code)) {
    return exit_code;
  }
  const std::vector<std::string> path = plugin_search_path(plugin_dirs);
  const PluginCatalog catalog = PluginCatalog::load(path, vm.count("allow-insecure-plugins") > 0);
  std::printf("plugin search path:\n");
  for (const auto& dir : path) std::printf("  %s\n", dir.c_str());
  for (const LoadedPlugin& p : catalog.plugins()) {
    std::printf("\n%s %s  (ABI %u.%u)\n  %s\n  file: %s\n", p.id.c_str(), p.version.c_str(),
                p.abi_major, p.abi_minor, p.description.c_str(), p.file.c_str());
    for (const ParamSpec& s : p.params) {
      std::string type = param_type_name(s.type);
      if (!s.choices.empty()) {
        type.clear();
        for (const auto& c : s.choices) type += (type.empty() ? "" : "|") + c;
      }
      std::printf("    %-12s %-14s %-9s default %-8s %s\n", s.name.c_str(), type.c_str(),
                  param_scope_name(s.scope),
                  s.default_value ? s.default_value->c_str() : "(required)", s.doc.c_str());
    }
  }
  if (catalog.plugins().empty()) std::printf("\nno plugins found\n");
  for (const auto& problem : catalog.problems()) {
    std::fprintf(stderr, "alloy: warning: skipped plugin %s\n", problem.c_str());
  }
  return 0;
}

}  // namespace alloy::cli
