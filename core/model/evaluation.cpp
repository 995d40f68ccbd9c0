#include "model/evaluation.hpp"

#include <algorithm>

#include "error.hpp"
#include "model/heads.hpp"
#include "model/preprocessing.hpp"
#include "model/training.hpp"
#include "model/twin_forward.hpp"
#include "model/twin_parts.hpp"
#include "model/vit.hpp"

namespace alloy {
namespace {

void route_to_one_expert(VitModel& model, int32_t expert, Provider& provider) {
  std::vector<float> one_hot(static_cast<std::size_t>(model.twin().experts), 0.0f);
  one_hot[static_cast<std::size_t>(expert)] = 1.0f;
  Tensor gates = provider.allocate(DType::F32, {model.twin().experts});
  provider.upload(gates, one_hot.data(), gates.nbytes());
  model.set_fixed_gates(gates);
}

}  // namespace

Evaluation evaluate_model(const std::string& model_dir, const std::vector<Task>& tasks,
                          const std::string& heads_path, Split split, Provider& provider,
                          const EvaluationOptions& options) {
  VitModel model = VitModel::load(model_dir, provider);
  const Preprocessing preprocessing = load_preprocessing(model_dir, model.config().num_channels);
  const std::vector<Head> heads = load_heads(heads_path, provider);
  const bool twin = model.twin().active();
  if (options.oracle_routing && !twin) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "--oracle-routing: '{}' is not a Twin-Merging model",
         model_dir);
  }
  const std::vector<std::string> experts =
      twin ? expert_tasks(Model(model_dir, model_dir, ALLOY_ROLE_MODEL))
           : std::vector<std::string>();
  Evaluation result;
  double sum = 0;
  for (const Task& task : tasks) {
    const Head& head = find_head(heads, task.name, heads_path);
    const auto found = std::find(experts.begin(), experts.end(), task.name);
    const auto expert = static_cast<int32_t>(found - experts.begin());
    if (options.oracle_routing) {
      if (found == experts.end()) {
        fail(ALLOY_ERR_NOT_FOUND, "--oracle-routing: task '{}' has no expert in '{}'", task.name,
             model_dir);
      }
      route_to_one_expert(model, expert, provider);
    }
    const LabelledImages& data = task.split(split);
    const double value = accuracy(model, head, data, preprocessing);
    result.accuracy[task.name] = value;
    sum += value;
    if (twin && !options.oracle_routing && found != experts.end()) {
      const std::vector<int32_t> routes = twin_routes(model, data.images, preprocessing);
      result.routing[task.name] =
          static_cast<double>(std::count(routes.begin(), routes.end(), expert)) /
          static_cast<double>(routes.size());
    }
  }
  result.average = tasks.empty() ? 0 : sum / static_cast<double>(tasks.size());
  return result;
}

}  // namespace alloy
