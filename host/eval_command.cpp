// alloy eval MODEL --suite SUITE --heads HEADS: top-1 accuracy of a model on every task of a
// suite (or of a task file), each through its own head, as a table or JSON. For a Twin-Merging
// model also how often its router picks each task's own expert, or (--oracle-routing) the
// accuracy when every input goes to its task's expert.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "model/evaluation.hpp"
#include "model/zoo.hpp"
#include "options.hpp"

namespace alloy::cli {
namespace {

Split split_from_name(const std::string& name) {
  Split split;
  if (!parse_split(name, &split)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "--split '{}' is not train, validation or test", name);
  }
  return split;
}

}  // namespace

int eval_command(const Args& args) {
  po::options_description visible("eval options");
  std::string suite_name, data_file, heads_path, split_text = "test", device = "cpu";
  std::vector<std::string> only;
  visible.add_options()("suite", po::value(&suite_name),
                        "built-in suite: fmnist8, fmnist8-small, fmnist8-tiny")(
      "data", po::value(&data_file), "your own tasks: a task file (docs/data.md)")(
      "heads", po::value(&heads_path)->required(), "heads file (one head per task)")(
      "split", po::value(&split_text)->default_value("test"), "train, validation or test")(
      "task", po::value(&only)->composing(), "evaluate only this task (repeatable)")(
      "device", po::value(&device)->default_value("cpu"), "compute device: cpu, cuda or cuda:N")(
      "oracle-routing",
      "Twin-Merging models: mix each task's inputs with its own expert alone (one-hot gates) "
      "instead of the router's")("json", "print JSON instead of a table");
  po::options_description hidden;
  std::string model_dir;
  hidden.add_options()("model", po::value(&model_dir)->required(), "model folder");
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy eval MODEL (--suite S | --data FILE) --heads HEADS [options]",
                     visible, hidden, positional, vm, &exit_code)) {
    return exit_code;
  }
  try {
    if (suite_name.empty() == data_file.empty()) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "give either --suite or --data");
    }
    const Split split = split_from_name(split_text);
    std::vector<Task> tasks = load_tasks(suite_name, data_file);
    if (!only.empty()) tasks = select_tasks(tasks, only, suite_name + data_file, "--task");
    const auto provider = create_provider(device);
    EvaluationOptions evaluation_options;
    evaluation_options.oracle_routing = vm.count("oracle-routing") > 0;
    const Evaluation evaluation =
        evaluate_model(model_dir, tasks, heads_path, split, *provider, evaluation_options);
    nlohmann::json results = nlohmann::json::object();
    for (const auto& [task, value] : evaluation.accuracy) results[task] = value;
    nlohmann::json routing = nlohmann::json::object();
    for (const auto& [task, value] : evaluation.routing) routing[task] = value;
    const bool oracle = evaluation_options.oracle_routing;
    const double average = evaluation.average;
    if (vm.count("json")) {
      nlohmann::json out = {
          {"model", model_dir}, {"split", split_text}, {"accuracy", results}, {"average", average}};
      if (!routing.empty()) out["routing"] = routing;
      if (oracle) out["oracle_routing"] = true;
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("%-18s %8s%s\n", "task", "top-1",
                  routing.empty() ? "" : "  routed to its expert");
      for (const Task& task : tasks) {
        std::printf("%-18s %7.2f%%", task.name.c_str(), 100 * results[task.name].get<double>());
        if (routing.contains(task.name)) {
          std::printf("  %7.2f%%", 100 * routing[task.name].get<double>());
        }
        std::printf("\n");
      }
      std::printf("%-18s %7.2f%%\n", "average", 100 * average);
    }
    return 0;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}

}  // namespace alloy::cli
