#include <cstdio>
#include <string>

#include "commands.hpp"

namespace alloy::cli {

void print_error(const std::string& message) {
  std::string indented;
  for (char c : message) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  std::fprintf(stderr, "alloy: error: %s\n", indented.c_str());
}

}  // namespace alloy::cli
