// A plugin's parameter schema, copied out of its descriptor into C++ types once, at load time,
// after validation (so nothing later walks the plugin's arrays by stride again).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace alloy {

struct ParamSpec {
  std::string name;
  int32_t type = 0;                          // ALLOY_PARAM_*
  int32_t scope = 0;                         // ALLOY_SCOPE_*
  std::optional<std::string> default_value;  // absent: required
  std::string doc;
  std::vector<std::string> choices;  // STRING only; empty: any value
};

const char* param_type_name(int32_t type);
const char* param_scope_name(int32_t scope);

}  // namespace alloy
