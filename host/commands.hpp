// The alloy subcommands. Each takes the arguments after its name and returns the exit code:
// 0 success, 1 the job failed (message printed), 2 bad usage.
#pragma once

#include <string>
#include <vector>

namespace alloy::cli {

using Args = std::vector<std::string>;

int merge_command(const Args& args);
int plugins_command(const Args& args);
int inspect_command(const Args& args);
int zoo_command(const Args& args);
int eval_command(const Args& args);

// Prints "alloy: error: <message>" to stderr (every line after the first indented).
void print_error(const std::string& message);

}  // namespace alloy::cli
