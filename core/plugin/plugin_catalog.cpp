#include "plugin/plugin_catalog.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "error.hpp"
#include "plugin/descriptor.hpp"
#include "plugin/host_table.hpp"
#include "plugin/plugin_trust.hpp"

namespace alloy {
namespace fs = std::filesystem;

namespace {

// Libraries stay loaded for the life of the process: descriptors, parameter specs and strings
// a plugin returned point into them. Deliberately never destroyed (no unload at exit either,
// where a plugin's static destructors could run after the host's).
std::vector<boost::dll::shared_library>& loaded_libraries() {
  static auto* libraries = new std::vector<boost::dll::shared_library>();
  return *libraries;
}

std::vector<std::string> plugin_files(const std::string& directory) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    if (entry.path().extension() == ".so" && entry.is_regular_file(ec)) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

const ParamSpec* LoadedPlugin::param(const std::string& name) const {
  for (const auto& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

LoadedPlugin PluginCatalog::load_file(const std::string& path) {
  boost::dll::shared_library library;
  try {
    library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::system_error& e) {
    // The throwing overload carries dlerror()'s text: the precise reason (not an ELF, a missing
    // dependency, an undefined symbol), which the error code alone loses.
    const std::string what = e.what();
    const std::string marker = "dlerror system message: ";
    const auto at = what.find(marker);
    std::string reason = at == std::string::npos ? what : what.substr(at + marker.size());
    if (!reason.empty() && reason.back() == ')') reason.pop_back();
    fail(ALLOY_ERR_PLUGIN, "{}: cannot be loaded: {}", path, reason);
  }
  if (!library.has(ALLOY_PLUGIN_ENTRY_SYMBOL)) {
    fail(ALLOY_ERR_PLUGIN, "{}: not an alloy plugin (no '{}' symbol)", path,
         ALLOY_PLUGIN_ENTRY_SYMBOL);
  }
  auto entry = library.get<const alloy_plugin*(const alloy_host*)>(ALLOY_PLUGIN_ENTRY_SYMBOL);
  const alloy_plugin* descriptor = entry(host_table());
  if (!descriptor) {
    fail(ALLOY_ERR_PLUGIN,
         "{}: the plugin refused this host (alloy_plugin_entry returned NULL; it may need a "
         "newer alloy)",
         path);
  }
  LoadedPlugin plugin = read_descriptor(descriptor, path);
  loaded_libraries().push_back(std::move(library));
  return plugin;
}

PluginCatalog PluginCatalog::load(const std::vector<std::string>& directories,
                                  bool allow_insecure) {
  PluginCatalog catalog;
  // Whether plugins may be loaded from `path`; records why not when they may not.
  auto trusted = [&](const std::string& path) {
    if (allow_insecure) return true;
    std::string reason = untrusted_reason(path);
    if (reason.empty()) return true;
    catalog.problems_.push_back(std::move(reason));
    return false;
  };
  for (const auto& directory : directories) {
    std::error_code ec;
    if (!fs::is_directory(directory, ec)) {
      catalog.problems_.push_back(fmt::format("{}: plugin directory does not exist", directory));
      continue;
    }
    if (!trusted(directory)) continue;
    for (const auto& file : plugin_files(directory)) {
      if (!trusted(file)) continue;
      try {
        LoadedPlugin plugin = load_file(file);
        if (const LoadedPlugin* other = catalog.find(plugin.id)) {
          catalog.problems_.push_back(
              fmt::format("{}: plugin id '{}' is already provided by {}; skipped", file, plugin.id,
                          other->file));
          continue;
        }
        catalog.plugins_.push_back(std::move(plugin));
      } catch (const Error& e) {
        catalog.problems_.push_back(e.what());
      }
    }
  }
  return catalog;
}

const LoadedPlugin* PluginCatalog::find(const std::string& id) const {
  for (const auto& p : plugins_) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const LoadedPlugin& PluginCatalog::require(const std::string& id) const {
  if (const LoadedPlugin* p = find(id)) return *p;
  std::string available;
  for (const auto& p : plugins_) available += (available.empty() ? "" : ", ") + p.id;
  std::string message = fmt::format("no strategy plugin with id '{}' (available: {})", id,
                                    available.empty() ? "none" : available);
  for (const auto& problem : problems_) message += "\n  skipped " + problem;
  throw Error(ALLOY_ERR_NOT_FOUND, message);
}

std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_directories) {
  std::vector<std::string> path = cli_directories;
  if (const char* env = std::getenv("ALLOY_PLUGIN_PATH")) {
    std::string entry;
    for (const char* c = env;; ++c) {
      if (*c == ':' || *c == '\0') {
        if (!entry.empty()) path.push_back(entry);
        entry.clear();
        if (*c == '\0') break;
      } else {
        entry += *c;
      }
    }
  }
  const fs::path exe_dir = boost::dll::program_location().parent_path().string();
  path.push_back((exe_dir.parent_path() / ALLOY_PLUGIN_SUBDIR).lexically_normal().string());
  return path;
}

}  // namespace alloy
