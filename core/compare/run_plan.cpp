#include "compare/run_plan.hpp"

#include <filesystem>

namespace alloy {
namespace {

using Grid = std::map<std::string, std::vector<std::string>>;

// Every combination of one value per entry of `grid`.
std::vector<std::map<std::string, std::string>> expand(const Grid& grid) {
  std::vector<std::map<std::string, std::string>> points(1);
  for (const auto& [name, values] : grid) {
    std::vector<std::map<std::string, std::string>> next;
    for (const auto& point : points) {
      for (const std::string& value : values) {
        auto extended = point;
        extended[name] = value;
        next.push_back(std::move(extended));
      }
    }
    points = std::move(next);
  }
  return points;
}

}  // namespace

std::vector<PlannedRun> plan_runs(const CompareSpec& spec) {
  std::vector<PlannedRun> runs;
  for (size_t g = 0; g < spec.runs.size(); ++g) {
    const RunSpec& run = spec.runs[g];
    for (const auto& global : expand(run.parameters)) {
      for (const auto& per_model : expand(run.model_parameters)) {
        PlannedRun planned;
        planned.group = g;
        planned.name = run.name;
        planned.baseline = run.baseline;
        planned.merge_method = run.merge_method;
        planned.parameters = global;
        planned.model_parameters = per_model;
        planned.label = run.name;
        for (const auto& [grid, point] :
             {std::pair{&run.parameters, &global}, std::pair{&run.model_parameters, &per_model}}) {
          for (const auto& [name, values] : *grid) {
            if (values.size() < 2) continue;
            planned.swept[name] = point->at(name);
            planned.label += " " + name + "=" + point->at(name);
          }
        }
        runs.push_back(std::move(planned));
      }
    }
  }
  return runs;
}

std::string expert_task(const ModelConfig& expert) {
  if (!expert.task.empty()) return expert.task;
  std::filesystem::path path(expert.path);
  if (!path.has_filename()) path = path.parent_path();  // "zoo/rot90/"
  return path.extension() == ".safetensors" ? path.stem().string() : path.filename().string();
}

}  // namespace alloy
