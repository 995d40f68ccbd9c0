// A one-line progress bar on a terminal (stderr), redrawn at most ten times a second.
#pragma once

#include <chrono>
#include <string>

#include "merge/job.hpp"

namespace alloy::cli {

class ProgressBar {
 public:
  // Draws nothing when stderr is not a terminal or `enabled` is false.
  explicit ProgressBar(bool enabled);
  void update(const JobProgress& progress);
  // Clears the line so the next message starts at column 0.
  void finish();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace alloy::cli
