#include "model/evaluation.hpp"

#include "model/heads.hpp"
#include "model/preprocessing.hpp"
#include "model/training.hpp"
#include "model/vit.hpp"

namespace alloy {

Evaluation evaluate_model(const std::string& model_dir, const std::vector<Task>& tasks,
                          const std::string& heads_path, Split split, Provider& provider) {
  const VitModel model = VitModel::load(model_dir, provider);
  const Preprocessing preprocessing = load_preprocessing(model_dir, model.config().num_channels);
  const std::vector<Head> heads = load_heads(heads_path, provider);
  Evaluation result;
  double sum = 0;
  for (const Task& task : tasks) {
    const Head& head = find_head(heads, task.name, heads_path);
    const double value = accuracy(model, head, task.split(split), preprocessing);
    result.accuracy[task.name] = value;
    sum += value;
  }
  result.average = tasks.empty() ? 0 : sum / static_cast<double>(tasks.size());
  return result;
}

}  // namespace alloy
