// Runs the built `alloy` binary as a user would, capturing its exit code and output.
#pragma once

#include <string>
#include <vector>

namespace alloy::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs ALLOY_BINARY with `args`; `env` entries ("NAME=value") are added to its environment.
RunResult run_alloy(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

}  // namespace alloy::test
