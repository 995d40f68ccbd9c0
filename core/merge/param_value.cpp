#include "merge/param_value.hpp"

#include <alloy/alloy.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "error.hpp"

namespace alloy {
namespace {

double parse_double(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "expected a finite number, got '{}'", text);
  }
  return v;
}

int64_t parse_int(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "expected an integer, got '{}'", text);
  }
  return v;
}

bool parse_bool(const std::string& text) {
  // YAML 1.1 spellings, which yaml-cpp and PyYAML (mergekit) accept.
  static const char* kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", "1"};
  static const char* kFalse[] = {"false", "False", "FALSE", "no", "No", "off", "Off", "0"};
  for (const char* t : kTrue) {
    if (text == t) return true;
  }
  for (const char* f : kFalse) {
    if (text == f) return false;
  }
  fail(ALLOY_ERR_INVALID_ARGUMENT, "expected true or false, got '{}'", text);
}

}  // namespace

ParamValue parse_param_value(const ParamSpec& spec, const std::string& text) {
  switch (spec.type) {
    case ALLOY_PARAM_F64:
      return parse_double(text);
    case ALLOY_PARAM_I64:
      return parse_int(text);
    case ALLOY_PARAM_BOOL:
      return parse_bool(text);
    default:
      if (!spec.choices.empty() &&
          std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
        std::string allowed;
        for (const auto& c : spec.choices) allowed += (allowed.empty() ? "" : ", ") + c;
        fail(ALLOY_ERR_INVALID_ARGUMENT, "expected one of {}, got '{}'", allowed, text);
      }
      return text;
  }
}

std::string param_value_text(const ParamValue& value) {
  struct Visitor {
    std::string operator()(double v) const { return fmt::format("{}", v); }
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return v; }
  };
  return std::visit(Visitor{}, value);
}

}  // namespace alloy
