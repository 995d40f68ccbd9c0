// Where the package finds what the `alloy` executable finds beside itself (lib/alloy): the
// built-in strategy plugins and the CUDA provider module. In Python the executable is python3,
// so the package tells the extension its own lib/alloy when it is imported.
#pragma once

#include <string>
#include <vector>

namespace alloy::python {

// Sets lib/alloy, and ALLOY_CUDA_MODULE to the CUDA module there unless it is set already.
void set_lib_dir(const std::string& lib_dir);
// The built-in strategies: lib/alloy/plugins.
std::string builtin_plugin_dir();
// A call's strategy search path: `dirs`, then ALLOY_PLUGIN_PATH, then the built-in strategies.
std::vector<std::string> plugin_path(const std::vector<std::string>& dirs);
// The folder plugin_search_path() looks in beside the executable (python's, meaningless here).
std::string executable_plugin_dir();

}  // namespace alloy::python
