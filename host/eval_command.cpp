// alloy eval MODEL --suite SUITE --heads HEADS: top-1 accuracy of a model on every task of a
// suite (or of a task file), each through its own head, as a table or JSON. For a Twin-Merging
// model also how often its router picks each task's own expert, or (--oracle-routing) the
// accuracy when every input goes to its task's expert.
#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "model/heads.hpp"
#include "model/preprocessing.hpp"
#include "model/training.hpp"
#include "model/twin_forward.hpp"
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

// The tasks named in `names`, in the order given; an unknown name lists the tasks there are.
std::vector<Task> select_tasks(std::vector<Task> all, const std::vector<std::string>& names,
                               const std::string& source) {
  std::vector<Task> chosen;
  for (const std::string& name : names) {
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const Task& t) { return t.name == name; });
    if (it == all.end()) {
      std::string known;
      for (const Task& t : all) known += (known.empty() ? "" : ", ") + t.name;
      fail(ALLOY_ERR_NOT_FOUND, "--task '{}': {} has no such task (it has {})", name, source,
           known);
    }
    chosen.push_back(*it);
  }
  return chosen;
}

}  // namespace

int eval_command(const Args& args) {
  po::options_description visible("eval options");
  std::string suite_name, data_file, heads_path, split_text = "test", device = "cpu";
  std::vector<std::string> only;
  visible.add_options()("suite", po::value(&suite_name), "built-in suite: fmnist8, fmnist8-tiny")(
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
    if (!only.empty()) tasks = select_tasks(std::move(tasks), only, suite_name + data_file);
    const auto provider = create_provider(device);
    VitModel model = VitModel::load(model_dir, *provider);
    const Preprocessing preprocessing = load_preprocessing(model_dir, model.config().num_channels);
    const std::vector<Head> heads = load_heads(heads_path, *provider);
    const bool twin = model.twin().active();
    const bool oracle = vm.count("oracle-routing") > 0;
    if (oracle && !twin) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "--oracle-routing: '{}' is not a Twin-Merging model",
           model_dir);
    }
    const std::vector<std::string> experts =
        twin ? expert_tasks(Model(model_dir, model_dir, ALLOY_ROLE_MODEL))
             : std::vector<std::string>();
    nlohmann::json results = nlohmann::json::object();
    nlohmann::json routing = nlohmann::json::object();
    double sum = 0;
    for (const Task& task : tasks) {
      const Head& head = find_head(heads, task.name, heads_path);
      const auto found = std::find(experts.begin(), experts.end(), task.name);
      const auto expert = static_cast<int32_t>(found - experts.begin());
      if (oracle) {
        if (found == experts.end()) {
          fail(ALLOY_ERR_NOT_FOUND, "--oracle-routing: task '{}' has no expert in '{}'", task.name,
               model_dir);
        }
        std::vector<float> one_hot(static_cast<std::size_t>(model.twin().experts), 0.0f);
        one_hot[static_cast<std::size_t>(expert)] = 1.0f;
        Tensor gates = provider->allocate(DType::F32, {model.twin().experts});
        provider->upload(gates, one_hot.data(), gates.nbytes());
        model.set_fixed_gates(gates);
      }
      const LabelledImages& data = task.split(split);
      const double value = accuracy(model, head, data, preprocessing);
      results[task.name] = value;
      sum += value;
      if (twin && !oracle && found != experts.end()) {
        const std::vector<int32_t> routes = twin_routes(model, data.images, preprocessing);
        routing[task.name] = static_cast<double>(std::count(routes.begin(), routes.end(), expert)) /
                             static_cast<double>(routes.size());
      }
    }
    const double average = sum / static_cast<double>(tasks.size());
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
