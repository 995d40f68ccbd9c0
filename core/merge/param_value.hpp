// Typed parameter values and their parsing from config text, by the plugin's schema.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "plugin/param_spec.hpp"

namespace alloy {

using ParamValue = std::variant<double, int64_t, bool, std::string>;

// Parses `text` as `spec`'s type (float, int, bool as YAML spells it, string within choices).
// Throws alloy::Error(ALLOY_ERR_INVALID_ARGUMENT) saying what was expected.
ParamValue parse_param_value(const ParamSpec& spec, const std::string& text);

// The value as config text would spell it (for metadata and messages).
std::string param_value_text(const ParamValue& value);

}  // namespace alloy
