// A comparison's results for people: results.csv (one row per run), results.md (the table, the
// sweeps) and charts drawn by gnuplot (per-task accuracy per run; average accuracy against each
// swept parameter). Without gnuplot the chart scripts and data are still written, and on_log
// says how to draw them.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace alloy {

// `results` is run_comparison's (docs/compare.md).
void write_reports(const nlohmann::json& results, const std::string& dir,
                   const std::function<void(const std::string&)>& on_log);

// The Markdown of results.md: the main table (each run, or the chosen point of a run with
// `select`), then one table per sweep.
std::string markdown_report(const nlohmann::json& results);

}  // namespace alloy
