#include "compare/report_rows.hpp"

#include <fmt/format.h>

namespace alloy {

std::vector<ReportRow> table_rows(const nlohmann::json& results) {
  std::vector<ReportRow> rows;
  for (const auto& run : results["runs"]) {
    // Only ok points of a run with `select` carry "selected"; failed points stay visible.
    if (run.contains("selected")) {
      if (!run["selected"].get<bool>()) continue;
      std::string point;
      for (const auto& [name, value] : run["swept"].items()) {
        point += (point.empty() ? "" : ", ") + name + "=" + value.get<std::string>();
      }
      rows.push_back({&run, fmt::format("{} ({}, chosen on validation)",
                                        run["name"].get<std::string>(), point)});
    } else {
      rows.push_back({&run, run["label"].get<std::string>()});
    }
  }
  return rows;
}

std::string percent(const nlohmann::json& value) {
  if (!value.is_number()) return "";
  return fmt::format("{:.1f}", 100 * value.get<double>());
}

}  // namespace alloy
