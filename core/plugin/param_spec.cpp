#include "plugin/param_spec.hpp"

#include <alloy/alloy.h>

namespace alloy {

const char* param_type_name(int32_t type) {
  switch (type) {
    case ALLOY_PARAM_F64:
      return "float";
    case ALLOY_PARAM_I64:
      return "int";
    case ALLOY_PARAM_BOOL:
      return "bool";
    case ALLOY_PARAM_STRING:
      return "string";
    default:
      return "unknown";
  }
}

const char* param_scope_name(int32_t scope) {
  return scope == ALLOY_SCOPE_MODEL ? "per model" : "global";
}

}  // namespace alloy
