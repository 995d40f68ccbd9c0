#include "size_text.hpp"

#include <cmath>
#include <cstdlib>

namespace alloy::cli {

bool parse_size(const std::string& text, uint64_t* bytes) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(value >= 0)) return false;
  const std::string unit(end);
  struct Unit {
    const char* name;
    double scale;
  };
  static const Unit kUnits[] = {
      {"", 1},     {"B", 1},        {"KB", 1e3},        {"MB", 1e6},
      {"GB", 1e9}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
  for (const Unit& u : kUnits) {
    if (unit == u.name) {
      const double b = value * u.scale;
      if (b > 1.8e19) return false;
      *bytes = static_cast<uint64_t>(std::llround(b));
      return true;
    }
  }
  return false;
}

}  // namespace alloy::cli
