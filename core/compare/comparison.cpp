#include "compare/comparison.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compare/report.hpp"
#include "compare/run_execution.hpp"
#include "compare/run_key.hpp"
#include "compare/run_plan.hpp"
#include "error.hpp"
#include "io/file_io.hpp"

namespace alloy {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

// Folder names readable by people: "ties-density-0.2" then the key.
std::string slug(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_';
    if (keep) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.substr(0, 60);
}

const char* baseline_name(Baseline b) {
  return b == Baseline::Pretrained ? "pretrained" : b == Baseline::Individual ? "individual" : "";
}

// What every run's result depends on, whatever its strategy.
json shared_inputs(const CompareSpec& spec, const std::vector<std::string>& tasks,
                   const std::vector<Split>& splits) {
  json in = {{"alloy", ALLOY_VERSION}, {"device", spec.device}, {"tasks", tasks}};
  json split_names = json::array();
  for (const Split s : splits) split_names.push_back(split_name(s));
  in["splits"] = split_names;
  if (!spec.heads.empty()) in["heads"] = file_fingerprint(spec.heads);
  if (spec.data) {
    in["data"] = {{"suite", spec.data->suite},
                  {"tasks", spec.data->tasks.empty() ? json() : file_fingerprint(spec.data->tasks)},
                  {"features", spec.data->features},
                  {"split", split_name(spec.data->split)},
                  {"seed", spec.data->seed}};
  }
  return in;
}

json model_inputs(const CompareSpec& spec, bool base, bool experts) {
  json in = json::object();
  if (base) in["base"] = {{"path", spec.base}, {"files", file_fingerprint(spec.base)}};
  if (experts) {
    json list = json::array();
    for (const ModelConfig& e : spec.experts) {
      list.push_back({{"path", e.path}, {"task", e.task}, {"files", file_fingerprint(e.path)}});
    }
    in["experts"] = list;
  }
  return in;
}

void write_json_atomically(const fs::path& path, const json& value) {
  const fs::path tmp = path.string() + ".tmp";
  write_text_file(tmp.string(), value.dump(2) + "\n", "results");
  fs::rename(tmp, path);
}

json read_cached(const fs::path& record_path, const std::string& key) {
  std::error_code error;
  if (!fs::is_regular_file(record_path, error)) return nullptr;
  try {
    json record = json::parse(read_text_file(record_path.string(), "run record"));
    if (record.value("key", "") == key && record.value("status", "") == "ok") return record;
  } catch (const std::exception&) {
    // A record cut short by a kill: the run is done again.
  }
  return nullptr;
}

double mean_of(const json& accuracy) {
  double sum = 0;
  for (const auto& [task, value] : accuracy.items()) sum += value.get<double>();
  return accuracy.empty() ? 0 : sum / static_cast<double>(accuracy.size());
}

class Comparison {
 public:
  Comparison(const CompareSpec& spec, const CompareOptions& options)
      : spec_(spec), options_(options), start_(std::chrono::steady_clock::now()) {}

  json run() {
    std::vector<std::string> dirs = plugin_search_path(spec_.plugin_dirs);
    dirs.insert(dirs.end(), options_.extra_plugin_dirs.begin(), options_.extra_plugin_dirs.end());
    catalog_ = PluginCatalog::load(dirs, options_.allow_insecure_plugins);
    for (const std::string& problem : catalog_.problems()) log("skipped plugin " + problem);
    for (const ModelConfig& e : spec_.experts) tasks_.push_back(expert_task(e));
    evaluate_ = !spec_.heads.empty();
    if (evaluate_) {
      splits_.push_back(spec_.split);
      for (const RunSpec& r : spec_.runs) {
        if (r.select && std::find(splits_.begin(), splits_.end(), *r.select) == splits_.end()) {
          splits_.push_back(*r.select);
        }
      }
    }
    shared_ = shared_inputs(spec_, tasks_, splits_);
    fs::create_directories(fs::path(options_.output_dir) / "runs");

    std::vector<PlannedRun> plan = plan_runs(spec_);
    // Normalised accuracy needs each expert on its own task: evaluated once, first.
    PlannedRun individual;
    individual.name = individual.label = "individual";
    individual.baseline = Baseline::Individual;
    const bool individual_in_plan = std::any_of(plan.begin(), plan.end(), [](const PlannedRun& r) {
      return r.baseline == Baseline::Individual;
    });
    const size_t total = plan.size() + (evaluate_ && !individual_in_plan ? 1 : 0);
    json individual_record;
    size_t index = 0;
    if (evaluate_) individual_record = run_one(individual, ++index, total);

    json runs = json::array();
    for (const PlannedRun& run : plan) {
      if (options_.cancel && options_.cancel->load())
        fail(ALLOY_ERR_CANCELLED, "comparison cancelled");
      runs.push_back(run.baseline == Baseline::Individual ? individual_record
                                                          : run_one(run, ++index, total));
      runs.back()["group"] = run.group;
      runs.back()["name"] = run.name;
      runs.back()["label"] = run.label;
    }
    finish(runs, individual_record);
    json results = {{"spec", spec_.source},
                    {"split", split_name(spec_.split)},
                    {"tasks", tasks_},
                    {"individual", individual_record.is_null()
                                       ? json()
                                       : individual_record["accuracy"][split_name(spec_.split)]},
                    {"runs", runs}};
    write_json_atomically(fs::path(options_.output_dir) / "results.json", results);
    write_reports(results, options_.output_dir, options_.on_log);
    return results;
  }

 private:
  void progress(size_t index, size_t total, const std::string& label, const std::string& phase,
                uint64_t done = 0, uint64_t all = 0) {
    if (!options_.on_progress) return;
    CompareProgress p;
    p.run = index;
    p.runs = total;
    p.label = label;
    p.phase = phase;
    p.done = done;
    p.total = all;
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    options_.on_progress(p);
  }

  void log(const std::string& message) {
    if (options_.on_log) options_.on_log(message);
  }

  json inputs_of(const PlannedRun& run, const LoadedPlugin* plugin) const {
    json in = shared_;
    if (run.baseline == Baseline::Pretrained) {
      in.update(model_inputs(spec_, true, false));
    } else if (run.baseline == Baseline::Individual) {
      in.update(model_inputs(spec_, false, true));
    } else {
      in.update(model_inputs(spec_, true, true));
      in["strategy"] = {{"id", run.merge_method},
                        {"file", plugin ? plugin->file : ""},
                        {"version", plugin ? plugin->version : ""},
                        {"binary", plugin ? file_fingerprint(plugin->file) : json()}};
      in["parameters"] = run.parameters;
      in["model_parameters"] = run.model_parameters;
    }
    in["baseline"] = baseline_name(run.baseline);
    return in;
  }

  json run_one(const PlannedRun& run, size_t index, size_t total) {
    const LoadedPlugin* plugin =
        run.baseline == Baseline::None ? catalog_.find(run.merge_method) : nullptr;
    const std::string key = run_key(inputs_of(run, plugin));
    const fs::path dir =
        fs::path(options_.output_dir) / "runs" / (slug(run.label) + "-" + key.substr(0, 8));
    const fs::path record_path = dir / "run.json";
    if (!options_.rerun) {
      json cached = read_cached(record_path, key);
      if (!cached.is_null()) {
        cached["cached"] = true;
        progress(index, total, run.label, "cached");
        return cached;
      }
    }
    std::error_code error;
    fs::remove_all(dir, error);
    fs::create_directories(dir);

    json record = {{"key", key},
                   {"dir", dir.string()},
                   {"strategy", run.merge_method},
                   {"baseline", baseline_name(run.baseline)},
                   {"parameters", run.parameters},
                   {"model_parameters", run.model_parameters},
                   {"swept", run.swept},
                   {"cached", false}};
    try {
      execute(run, plugin, dir, index, total, record);
      record["status"] = "ok";
      progress(index, total, run.label, "done");
    } catch (const std::exception& e) {
      record["status"] = "failed";
      record["error"] = e.what();
      progress(index, total, run.label, "failed");
      log(fmt::format("run '{}' failed: {}", run.label, e.what()));
    }
    write_json_atomically(record_path, record);
    return record;
  }

  // Merges (strategies) and evaluates, filling `record`; throws the reason a step failed.
  void execute(const PlannedRun& run, const LoadedPlugin* plugin, const fs::path& dir, size_t index,
               size_t total, json& record) {
    std::vector<std::string> models;
    if (run.baseline == Baseline::Pretrained) {
      models = {spec_.base};
      record["parameters_count"] = count_parameters(spec_.base);
    } else if (run.baseline == Baseline::Individual) {
      for (const ModelConfig& e : spec_.experts) models.push_back(e.path);
      record["parameters_count"] = count_parameters(spec_.experts.front().path);
    } else {
      if (!plugin) catalog_.require(run.merge_method);  // throws, listing what there is
      const std::string out = (dir / "model").string();
      progress(index, total, run.label, "merge");
      const ChildOutcome merged = merge_in_child(
          spec_, catalog_, *plugin, run, out,
          [&](uint64_t done, uint64_t all) {
            progress(index, total, run.label, "merge", done, all);
          },
          options_.cancel);
      if (!merged.ok) fail(ALLOY_ERR_INTERNAL, "merge: {}", merged.error);
      const json summary = json::parse(merged.result);
      record["merge"] = {{"seconds", summary["seconds"]},
                         {"wall_seconds", merged.seconds},
                         {"peak_memory_bytes", merged.peak_rss_bytes},
                         {"tensors", summary["tensors"]},
                         {"bytes_read", summary["bytes_read"]},
                         {"bytes_written", summary["bytes_written"]}};
      record["parameters_count"] = summary["parameters"];
      models = {out};
    }
    if (!evaluate_) return;
    const ChildOutcome evaluated = evaluate_in_child(
        spec_, models, tasks_, splits_,
        [&](const std::string& step) { progress(index, total, run.label, step); }, options_.cancel);
    if (!evaluated.ok) fail(ALLOY_ERR_INTERNAL, "evaluation: {}", evaluated.error);
    record["accuracy"] = json::parse(evaluated.result);
    record["eval_seconds"] = evaluated.seconds;
    json averages = json::object();
    for (const auto& [split, accuracy] : record["accuracy"].items()) {
      averages[split] = mean_of(accuracy);
    }
    record["average"] = averages;
  }

  // Normalised accuracy and the grid points chosen on a split.
  void finish(json& runs, const json& individual) {
    const std::string split = split_name(spec_.split);
    for (json& run : runs) {
      if (run["status"] != "ok" || individual.is_null() || individual["status"] != "ok") continue;
      double sum = 0;
      for (const std::string& task : tasks_) {
        sum += run["accuracy"][split][task].get<double>() /
               std::max(1e-9, individual["accuracy"][split][task].get<double>());
      }
      run["normalized"] = sum / static_cast<double>(tasks_.size());
    }
    for (size_t g = 0; g < spec_.runs.size(); ++g) {
      if (!spec_.runs[g].select) continue;
      const std::string on = split_name(*spec_.runs[g].select);
      json* best = nullptr;
      for (json& run : runs) {
        if (run["group"] != g || run["status"] != "ok") continue;
        run["selected"] = false;
        if (!best || run["average"][on].get<double>() > (*best)["average"][on].get<double>()) {
          best = &run;
        }
      }
      if (best) (*best)["selected"] = true;
    }
  }

  const CompareSpec& spec_;
  const CompareOptions& options_;
  const std::chrono::steady_clock::time_point start_;
  PluginCatalog catalog_;
  std::vector<std::string> tasks_;
  std::vector<Split> splits_;
  bool evaluate_ = false;
  json shared_;
};

}  // namespace

json run_comparison(const CompareSpec& spec, const CompareOptions& options) {
  if (options.output_dir.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "no output folder given");
  return Comparison(spec, options).run();
}

}  // namespace alloy
