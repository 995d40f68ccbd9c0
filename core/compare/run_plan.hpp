// A comparison's runs, one per grid point: the lists in a run's parameters expand into their
// cartesian product, in the order written (parameters by name, values as listed).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compare/compare_spec.hpp"

namespace alloy {

struct PlannedRun {
  size_t group = 0;   // index of the RunSpec in the spec
  std::string name;   // the RunSpec's name
  std::string label;  // name plus the swept values: "ties density=0.2"
  Baseline baseline = Baseline::None;
  std::string merge_method;
  std::map<std::string, std::string> parameters;
  std::map<std::string, std::string> model_parameters;
  std::map<std::string, std::string> swept;  // the values of the grid's lists at this point
};

std::vector<PlannedRun> plan_runs(const CompareSpec& spec);

// The task of an expert: its `task:`, else its folder's (or file's) name, as a merge names it.
std::string expert_task(const ModelConfig& expert);

}  // namespace alloy
