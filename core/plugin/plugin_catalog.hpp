// Finding and loading strategy plugins: every *.so in the search path is opened with Boost.DLL
// (RTLD_NOW | RTLD_LOCAL), its one entry point called with the host table, and its descriptor
// checked against the ABI, after their folder and file are checked to be safe to trust. A file that
// fails any step is reported and skipped; the rest load. Libraries are never unloaded (the ABI
// promises plugins their static data lives forever).
#pragma once

#include <string>
#include <vector>

#include <alloy/alloy.h>

#include "plugin/param_spec.hpp"

namespace alloy {

struct LoadedPlugin {
  std::string file;
  const alloy_plugin* descriptor = nullptr;
  std::string id;
  std::string version;
  std::string description;
  std::vector<ParamSpec> params;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  const ParamSpec* param(const std::string& name) const;
};

class PluginCatalog {
 public:
  // Loads every plugin found in `directories`, in order; a later plugin with an id already
  // loaded is skipped with a message. Folders and files that others could have written are
  // refused (see plugin_trust.hpp) unless `allow_insecure`.
  static PluginCatalog load(const std::vector<std::string>& directories,
                            bool allow_insecure = false);
  // Loads one plugin file; throws alloy::Error saying why it is not a usable plugin.
  static LoadedPlugin load_file(const std::string& path);

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  // One line per file that was skipped, saying why.
  const std::vector<std::string>& problems() const { return problems_; }
  // nullptr when no plugin has that id.
  const LoadedPlugin* find(const std::string& id) const;
  // Throws alloy::Error listing the available ids (and load problems) when `id` is missing.
  const LoadedPlugin& require(const std::string& id) const;

 private:
  std::vector<LoadedPlugin> plugins_;
  std::vector<std::string> problems_;
};

// The plugin search path: `cli_directories` (--plugin-dir, in order), then ALLOY_PLUGIN_PATH
// (colon-separated), then the install's plugin folder beside the executable
// (<exe>/../lib/alloy/plugins).
std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_directories);

}  // namespace alloy
