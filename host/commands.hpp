// The alloy subcommands. Each takes the arguments after its name and returns the exit code:
// 0 success, 1 the job failed (message printed), 2 bad usage.
#pragma once

#include <atomic>
#include <exception>
#include <string>
#include <vector>

namespace alloy::cli {

using Args = std::vector<std::string>;

int merge_command(const Args& args);
int plugins_command(const Args& args);
int providers_command(const Args& args);
int inspect_command(const Args& args);
int zoo_command(const Args& args);
int eval_command(const Args& args);
int train_command(const Args& args);
int compare_command(const Args& args);

// Prints "alloy: error: <message>" to stderr (every line after the first indented).
void print_error(const std::string& message);
// Prints the error of a failed job and returns its exit code: 130 when it was cancelled
// (alloy::Error with ALLOY_ERR_CANCELLED), else 1.
int job_failed(const std::exception& error);
// Makes SIGINT and SIGTERM set the returned flag, which a long job polls to stop cleanly.
const std::atomic<bool>* cancel_on_interrupt();

}  // namespace alloy::cli
