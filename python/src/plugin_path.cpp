#include "plugin_path.hpp"

#include <cstdlib>
#include <filesystem>

#include "plugin/plugin_catalog.hpp"

namespace alloy::python {
namespace {

std::string g_lib_dir;

}  // namespace

void set_lib_dir(const std::string& lib_dir) {
  g_lib_dir = lib_dir;
  const std::string cuda_module = (std::filesystem::path(lib_dir) / "liballoy_cuda.so").string();
  ::setenv("ALLOY_CUDA_MODULE", cuda_module.c_str(), 0);
}

std::string builtin_plugin_dir() {
  return (std::filesystem::path(g_lib_dir) / "plugins").lexically_normal().string();
}

std::string executable_plugin_dir() { return plugin_search_path({}).back(); }

std::vector<std::string> plugin_path(const std::vector<std::string>& dirs) {
  std::vector<std::string> path = plugin_search_path(dirs);
  path.back() = builtin_plugin_dir();  // it ends with the folder beside the executable
  return path;
}

}  // namespace alloy::python
