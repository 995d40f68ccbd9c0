// Pieces of the merge config's parser that other YAML files of alloy share (a comparison's
// spec has the same `data:` section and resolves paths the same way).
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "merge/config.hpp"

namespace alloy {

// `path` as written in the file `source`: as is when absolute or when it exists from the working
// directory, else beside `source`.
std::string resolve_config_path(const std::string& path, const std::string& source);

// The `data:` section (suite | tasks | features, heads, split, seed); throws alloy::Error naming
// `source` and the key.
DataConfig read_data_section(const YAML::Node& node, const std::string& source);

}  // namespace alloy
