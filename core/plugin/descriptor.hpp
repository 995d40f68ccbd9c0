// Checking a plugin descriptor against the ABI before anything else touches it.
#pragma once

#include <string>

#include <alloy/alloy.h>

#include "plugin/plugin_catalog.hpp"

namespace alloy {

// Validates `descriptor` (from `file`) and copies it into a LoadedPlugin. Throws alloy::Error
// with a message meant for the user: ABI from another major version or a newer minor, a table
// too small for ABI 1.0, a missing id or callback, a malformed parameter schema.
LoadedPlugin read_descriptor(const alloy_plugin* descriptor, const std::string& file);

}  // namespace alloy
