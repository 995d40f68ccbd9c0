#include "compare/report.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "compare/report_rows.hpp"
#include "io/file_io.hpp"

extern char** environ;

namespace alloy {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string number(const json& value, const char* format = "{:.4g}") {
  return value.is_number() ? fmt::format(fmt::runtime(format), value.get<double>()) : "";
}

std::string megabytes(const json& run) {
  if (!run.contains("merge")) return "";
  return fmt::format("{:.0f}", run["merge"]["peak_memory_bytes"].get<double>() / 1e6);
}

std::string csv(const json& results) {
  const std::string split = results["split"];
  std::string out = "name,label,strategy,parameters,model_parameters,status,selected,cached";
  for (const auto& task : results["tasks"]) out += "," + csv_field(task.get<std::string>());
  out += ",average,normalized,validation_average,merge_seconds,peak_memory_mb,parameters,error\n";
  for (const auto& run : results["runs"]) {
    const json& accuracy = run.contains("accuracy") ? run["accuracy"] : json::object();
    out += csv_field(run["name"]) + "," + csv_field(run["label"]) + "," +
           csv_field(run.value("strategy", "").empty() ? run.value("baseline", "")
                                                       : run.value("strategy", "")) +
           "," + csv_field(run["parameters"].dump()) + "," +
           csv_field(run["model_parameters"].dump()) + "," + run["status"].get<std::string>() +
           "," + (run.value("selected", false) ? "true" : "false") + "," +
           (run.value("cached", false) ? "true" : "false");
    for (const auto& task : results["tasks"]) {
      out += "," + (accuracy.contains(split) ? number(accuracy[split][task.get<std::string>()])
                                             : std::string());
    }
    const json& average = run.contains("average") ? run["average"] : json::object();
    out += "," + number(average.value(split, json())) + "," +
           number(run.value("normalized", json())) + "," +
           number(average.value("validation", json())) + "," +
           (run.contains("merge") ? number(run["merge"]["seconds"]) : "") + "," + megabytes(run) +
           "," + number(run.value("parameters_count", json()), "{:.0f}") + "," +
           csv_field(run.value("error", "")) + "\n";
  }
  return out;
}

std::string escape_cell(std::string text) {
  for (size_t i = 0; (i = text.find('|', i)) != std::string::npos; i += 2)
    text.replace(i, 1, "\\|");
  for (char& c : text) c = c == '\n' ? ' ' : c;
  return text;
}

// Runs of each swept parameter: param -> line title -> [(x, run)].
using Sweeps =
    std::map<std::string, std::map<std::string, std::vector<std::pair<double, const json*>>>>;

Sweeps collect_sweeps(const json& results) {
  Sweeps sweeps;
  for (const auto& run : results["runs"]) {
    if (run["status"] != "ok") continue;
    for (const auto& [param, value] : run["swept"].items()) {
      char* end = nullptr;
      const std::string text = value.get<std::string>();
      const double x = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end) continue;  // not a number: nothing to plot against
      std::string line = run["name"];
      for (const auto& [other, other_value] : run["swept"].items()) {
        if (other != param) line += " " + other + "=" + other_value.get<std::string>();
      }
      sweeps[param][line].push_back({x, &run});
    }
  }
  for (auto& [param, lines] : sweeps) {
    for (auto& [title, points] : lines) {
      std::sort(points.begin(), points.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
  }
  return sweeps;
}

std::string sweep_tables(const json& results, const Sweeps& sweeps) {
  std::string md;
  const std::string split = results["split"];
  for (const auto& [param, lines] : sweeps) {
    md += fmt::format("\n### Average accuracy (%) against {}\n\n", param);
    md += fmt::format("| run | {} | {} average | validation average |\n|---|---|---|---|\n", param,
                      split);
    for (const auto& [title, points] : lines) {
      for (const auto& [x, run] : points) {
        const json& average = (*run)["average"];
        md += fmt::format("| {} | {:g} | {} | {} |\n", escape_cell(title), x,
                          percent(average.value(split, json())),
                          percent(average.value("validation", json())));
      }
    }
  }
  return md;
}

std::string chart_slug(const std::string& text) {
  std::string out;
  for (const char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string gnuplot_text(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '_' || c == '^' || c == '{' || c == '}' || c == '@' || c == '&') out += "\\\\";
    out += c;
  }
  return out;
}

constexpr const char* kTerminal =
    "set terminal svg size 960,480 dynamic enhanced font 'sans,12' background '#ffffff'\n";

// Sixteen colours told apart easily (gnuplot's default cycle repeats after eight, and a
// comparison often has more runs than that); further runs cycle again.
std::string distinct_colours() {
  static const char* const kColours[] = {
      "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
      "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"};
  std::string out;
  int i = 1;
  for (const char* colour : kColours)
    out += fmt::format("set linetype {} lc rgb '{}'\n", i++, colour);
  return out + "set linetype cycle 16\n";
}

// per_task.svg: clustered bars, one cluster per task (and the average), one bar per table row.
std::string per_task_chart(const json& results, const std::vector<ReportRow>& rows,
                           const fs::path& charts, std::string* script) {
  const std::string split = results["split"];
  std::string data = "task";
  std::vector<const ReportRow*> shown;
  for (const ReportRow& row : rows) {
    if ((*row.run)["status"] != "ok" || !row.run->contains("accuracy")) continue;
    shown.push_back(&row);
    data += "\t\"" + gnuplot_text(row.title) + "\"";
  }
  if (shown.empty()) return "";
  data += "\n";
  std::vector<std::string> tasks;
  for (const auto& t : results["tasks"]) tasks.push_back(t);
  tasks.push_back("average");
  for (const std::string& task : tasks) {
    data += "\"" + gnuplot_text(task) + "\"";
    for (const ReportRow* row : shown) {
      const json& run = *row->run;
      const double v = task == "average" ? run["average"][split].get<double>()
                                         : run["accuracy"][split][task].get<double>();
      data += fmt::format("\t{:.2f}", 100 * v);
    }
    data += "\n";
  }
  write_text_file((charts / "per_task.dat").string(), data, "chart data");
  // The key below the bars takes a line per two runs: the chart grows with the runs.
  const std::size_t key_lines = (shown.size() + 1) / 2;
  *script =
      fmt::format(
          "set terminal svg size 1100,{} dynamic enhanced font 'sans,12' background "
          "'#ffffff'\n",
          360 + 22 * key_lines) +
      distinct_colours() +
      "set output '../per_task.svg'\n"
      "set datafile separator '\\t'\n"
      "set style data histogram\nset style histogram cluster gap 1\n"
      "set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
      "set yrange [0:100]\nset grid ytics\n" +
      fmt::format("set ylabel 'top-1 accuracy on {} (%)'\n", split) +
      "set xtics nomirror font ',10'\n" +
      // Below the plot, two columns: run titles are long, the bars need the width.
      fmt::format("set key outside below center vertical maxrows {} spacing 1.2\n", key_lines) +
      "set title 'Accuracy per task'\n" +
      fmt::format("plot for [i=2:{}] 'per_task.dat' using i:xtic(1) title columnheader(i)\n",
                  shown.size() + 1);
  return "per_task.svg";
}

// sweep_<param>.svg: average accuracy against the parameter, a line per run (dashed: validation).
std::string sweep_chart(
    const json& results, const std::string& param,
    const std::map<std::string, std::vector<std::pair<double, const json*>>>& lines,
    const fs::path& charts, std::string* script) {
  const std::string split = results["split"];
  const std::string name = "sweep_" + chart_slug(param);
  std::string data, plots;
  int block = 0, color = 1;
  for (const auto& [title, points] : lines) {
    for (const char* which : {split.c_str(), "validation"}) {
      const bool has = points.front().second->at("average").contains(which);
      if (!has || (std::string(which) == "validation" && split == "validation")) continue;
      for (const auto& [x, run] : points) {
        data += fmt::format("{:g}\t{:.2f}\n", x, 100 * (*run)["average"][which].get<double>());
      }
      data += "\n\n";
      const bool validation = std::string(which) == "validation" && split != "validation";
      plots += fmt::format(
          "{}'{}.dat' index {} using 1:2 with linespoints lw 2 pt 7 lc {} {} "
          "title \"{}{}\"",
          plots.empty() ? "" : ", ", name, block++, color, validation ? "dt 2" : "dt 1",
          gnuplot_text(title), validation ? " (validation)" : "");
    }
    ++color;
  }
  if (plots.empty()) return "";
  write_text_file((charts / (name + ".dat")).string(), data, "chart data");
  *script = std::string(kTerminal) + distinct_colours() +
            fmt::format("set output '../{}.svg'\n", name) +
            fmt::format("set xlabel \"{}\"\nset ylabel 'average top-1 accuracy (%)'\n",
                        gnuplot_text(param)) +
            "set grid\nset key outside right top\n" +
            fmt::format("set title \"Average accuracy against {}\"\n", gnuplot_text(param)) +
            "plot " + plots + "\n";
  return name + ".svg";
}

// Runs gnuplot on `script` in `charts`; false when gnuplot is missing or fails.
bool run_gnuplot(const fs::path& charts, const std::string& script) {
  const std::string command =
      fmt::format("cd '{}' && gnuplot '{}' 2>/dev/null", charts.string(), script);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

std::string markdown_report(const json& results) {
  const std::string split = results["split"];
  const std::vector<ReportRow> rows = table_rows(results);
  std::string md = fmt::format("Top-1 accuracy (%) on the {} split\n\n| run |", split);
  std::string rule = "|---|";
  for (const auto& task : results["tasks"]) {
    md += " " + escape_cell(task.get<std::string>()) + " |";
    rule += "---|";
  }
  md += " average | normalized | merge s | peak MB | parameters |\n";
  md += rule + "---|---|---|---|---|\n";
  for (const ReportRow& row : rows) {
    const json& run = *row.run;
    md += "| " + escape_cell(row.title) + " |";
    if (run["status"] != "ok") {
      md += " failed: " + escape_cell(run.value("error", "")) + " |";
      for (size_t i = 1; i < results["tasks"].size() + 5; ++i) md += " |";
      md += "\n";
      continue;
    }
    for (const auto& task : results["tasks"]) {
      md += " " +
            (run.contains("accuracy") ? percent(run["accuracy"][split][task.get<std::string>()])
                                      : std::string()) +
            " |";
    }
    md += " **" + percent(run.contains("average") ? run["average"][split] : json()) + "** | " +
          percent(run.value("normalized", json())) + " | " +
          (run.contains("merge") ? fmt::format("{:.2f}", run["merge"]["seconds"].get<double>())
                                 : std::string()) +
          " | " + megabytes(run) + " | " + number(run.value("parameters_count", json()), "{:.0f}") +
          " |\n";
  }
  md += "\nnormalized: the run's accuracy over the individual model's, averaged over tasks.\n";
  md += sweep_tables(results, collect_sweeps(results));
  return md;
}

void write_reports(const json& results, const std::string& dir,
                   const std::function<void(const std::string&)>& on_log) {
  const fs::path out(dir);
  write_text_file((out / "results.csv").string(), csv(results), "results");
  std::string md =
      "# Comparison: " + results["spec"].get<std::string>() + "\n\n" + markdown_report(results);

  const fs::path charts = out / "charts";
  fs::create_directories(charts);
  std::vector<std::pair<std::string, std::string>> drawn;  // svg, script file
  std::string script;
  if (!results["tasks"].empty()) {
    const std::string svg = per_task_chart(results, table_rows(results), charts, &script);
    if (!svg.empty()) {
      write_text_file((charts / "per_task.gp").string(), script, "chart script");
      drawn.push_back({svg, "per_task.gp"});
    }
  }
  for (const auto& [param, lines] : collect_sweeps(results)) {
    const std::string svg = sweep_chart(results, param, lines, charts, &script);
    if (svg.empty()) continue;
    const std::string file = "sweep_" + chart_slug(param) + ".gp";
    write_text_file((charts / file).string(), script, "chart script");
    drawn.push_back({svg, file});
  }
  bool missing = false;
  std::string images;
  for (const auto& [svg, file] : drawn) {
    if (run_gnuplot(charts, file)) {
      images += fmt::format("\n![{}]({})\n", svg, svg);
    } else {
      missing = true;
    }
  }
  if (missing && on_log) {
    on_log(
        fmt::format("charts not drawn: gnuplot is missing or failed (apt-get install "
                    "gnuplot-nox); their scripts are in {}",
                    charts.string()));
  }
  write_text_file((out / "results.md").string(), md + images, "results");
}

}  // namespace alloy
