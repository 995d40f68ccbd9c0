#include "compare/run_execution.hpp"

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "io/model_files.hpp"
#include "io/safetensors.hpp"
#include "merge/job.hpp"
#include "model/evaluation.hpp"
#include "model/zoo.hpp"

namespace alloy {
namespace {

MergeConfig merge_config(const CompareSpec& spec, const PlannedRun& run) {
  MergeConfig config;
  config.source = spec.source;
  config.merge_method = run.merge_method;
  config.parameters = run.parameters;
  ModelConfig base;
  base.model = base.path = spec.base;
  config.base_model = base;
  for (const ModelConfig& expert : spec.experts) {
    ModelConfig model = expert;
    model.parameters = run.model_parameters;
    config.models.push_back(std::move(model));
  }
  if (spec.data) {
    config.data = spec.data;
    if (config.data->heads.empty()) config.data->heads = spec.heads;
  }
  return config;
}

std::vector<Task> tasks_named(const CompareSpec& spec, const std::vector<std::string>& names) {
  const DataConfig& data = *spec.data;
  return select_tasks(load_tasks(data.suite, data.tasks), names,
                      data.suite.empty() ? data.tasks : data.suite, "expert task");
}

}  // namespace

uint64_t count_parameters(const std::string& model_path) {
  uint64_t n = 0;
  for (const std::string& file : find_model_files(model_path).files) {
    const auto opened = SafetensorsFile::open(file);  // the header lives as long as this
    for (const TensorEntry& t : opened->header().tensors) n += shape_numel(t.shape);
  }
  return n;
}

ChildOutcome merge_in_child(const CompareSpec& spec, const PluginCatalog& catalog,
                            const LoadedPlugin& plugin, const PlannedRun& run,
                            const std::string& output_dir,
                            const std::function<void(uint64_t done, uint64_t total)>& on_progress,
                            const std::atomic<bool>* cancel) {
  const MergeConfig config = merge_config(spec, run);
  return run_in_child(
      [&](const ChildSend& send) {
        JobOptions options;
        options.output_dir = output_dir;
        options.device = spec.device;
        options.overwrite = true;
        options.catalog = &catalog;  // Twin-Merging runs its shared expert's strategy
        options.on_progress = [&](const JobProgress& p) {
          send(nlohmann::json{{"done", p.done}, {"total", p.total}}.dump());
        };
        const JobSummary summary = run_merge_job(config, plugin, options);
        return nlohmann::json{{"seconds", summary.seconds},
                              {"tensors", summary.tensors},
                              {"bytes_read", summary.bytes_read},
                              {"bytes_written", summary.bytes_written},
                              {"parameters", count_parameters(summary.output_dir)}}
            .dump();
      },
      [&](const std::string& message) {
        const auto p = nlohmann::json::parse(message);
        if (on_progress) on_progress(p["done"].get<uint64_t>(), p["total"].get<uint64_t>());
      },
      cancel);
}

ChildOutcome evaluate_in_child(const CompareSpec& spec, const std::vector<std::string>& model_dirs,
                               const std::vector<std::string>& tasks,
                               const std::vector<Split>& splits,
                               const std::function<void(const std::string& step)>& on_progress,
                               const std::atomic<bool>* cancel) {
  return run_in_child(
      [&](const ChildSend& send) {
        const std::vector<Task> chosen = tasks_named(spec, tasks);
        const auto provider = create_provider(spec.device);
        nlohmann::json result = nlohmann::json::object();
        for (const Split split : splits) {
          const std::string name = split_name(split);
          send("eval " + name);
          nlohmann::json& accuracy = result[name] = nlohmann::json::object();
          if (model_dirs.size() == 1) {
            const Evaluation e =
                evaluate_model(model_dirs[0], chosen, spec.heads, split, *provider);
            for (const auto& [task, value] : e.accuracy) accuracy[task] = value;
          } else {
            for (size_t i = 0; i < chosen.size(); ++i) {
              const Evaluation e =
                  evaluate_model(model_dirs.at(i), {chosen[i]}, spec.heads, split, *provider);
              accuracy[chosen[i].name] = e.average;
            }
          }
        }
        return result.dump();
      },
      [&](const std::string& step) {
        if (on_progress) on_progress(step);
      },
      cancel);
}

}  // namespace alloy
