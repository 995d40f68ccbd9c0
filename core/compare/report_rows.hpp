// Which runs a report shows and how it names them: every run, except that a run with `select`
// shows only its chosen grid point.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace alloy {

struct ReportRow {
  const nlohmann::json* run;
  std::string title;  // "Task Arithmetic (lambda=0.1, chosen on validation)"
};

std::vector<ReportRow> table_rows(const nlohmann::json& results);

// Percent with one decimal, or "" when the run has no such figure.
std::string percent(const nlohmann::json& value);

}  // namespace alloy
