#include "model/tensor_training.hpp"

#include <cmath>
#include <random>
#include <set>

#include <alloy/alloy.h>

#include "data/seeded_random.hpp"
#include "error.hpp"
#include "model/task_cursor.hpp"
#include "model/training.hpp"
#include "model/vit.hpp"

namespace alloy {
namespace {

constexpr double kPi = 3.14159265358979323846;

void check_tasks(const std::vector<TrainingTask>& tasks) {
  if (tasks.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "training needs at least one task");
  for (const TrainingTask& task : tasks) {
    if (!task.head || !task.data || task.data->size() == 0) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "task '{}' has no inputs to train on",
           task.head ? task.head->task : "?");
    }
  }
}

}  // namespace

void check_train_options(const TensorTrainOptions& o) {
  if (o.steps < 1 || o.batch_per_task < 1) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "training needs steps >= 1 and a batch >= 1 (got {} and {})",
         o.steps, o.batch_per_task);
  }
  if (!(o.adam.lr >= 0) || !(o.adam.eps >= 0) || !(o.adam.weight_decay >= 0) ||
      !(o.adam.beta1 >= 0 && o.adam.beta1 < 1) || !(o.adam.beta2 >= 0 && o.adam.beta2 < 1)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "Adam needs lr, eps, weight_decay >= 0 and betas in [0, 1) (got lr {}, betas {} {}, "
         "eps {}, weight_decay {})",
         o.adam.lr, o.adam.beta1, o.adam.beta2, o.adam.eps, o.adam.weight_decay);
  }
}

double scheduled_lr(const TensorTrainOptions& options, int64_t step) {
  const double progress = static_cast<double>(step) / static_cast<double>(options.steps);
  switch (options.schedule) {
    case Schedule::cosine:
      return options.adam.lr * 0.5 * (1 + std::cos(kPi * progress));
    case Schedule::linear:
      return options.adam.lr * (1 - progress);
    default:
      return options.adam.lr;
  }
}

std::vector<double> train_tensors(VitModel& model, const std::vector<std::string>& tensors,
                                  const std::vector<TrainingTask>& tasks,
                                  const Preprocessing& preprocessing,
                                  const TensorTrainOptions& options, const TrainingHooks& hooks) {
  check_train_options(options);
  check_tasks(tasks);
  if (options.objective == Objective::task_id) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "the task_id objective trains a router: train_twin_router");
  }
  Provider& p = model.provider();
  if (tensors.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "no tensors to train");
  TensorMap grads, m, v;
  for (const std::string& name : std::set<std::string>(tensors.begin(), tensors.end())) {
    const Tensor& param = model.param(name);  // throws ALLOY_ERR_NOT_FOUND
    grads.emplace(name, p.allocate(DType::F32, param.shape()));
    m.emplace(name, p.allocate(DType::F32, param.shape()));
    v.emplace(name, p.allocate(DType::F32, param.shape()));
  }
  std::vector<TaskCursor> cursors;
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    cursors.emplace_back(tasks[t].data->size(), mix_seed(options.seed, t));
  }

  model.set_shared_gates(options.shared_gates);
  struct RestoreRouting {
    VitModel& model;
    ~RestoreRouting() { model.set_shared_gates(false); }
  } restore{model};

  std::vector<double> losses;
  AdamStep adam = options.adam;
  for (int64_t step = 0; step < options.steps; ++step) {
    if (hooks.cancelled && hooks.cancelled()) fail(ALLOY_ERR_CANCELLED, "training cancelled");
    for (auto& [name, g] : grads) p.fill(g, 0.0);
    double step_loss = 0;
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      const int64_t count = options.batch_per_task;
      const LabelledImages batch = gather(*tasks[t].data, cursors[t].next(count));
      const Tensor images = prepare_images(p, batch.images, preprocessing);
      std::shared_ptr<VitModel::Saved> saved;
      const Tensor embeds = model.forward(images, &saved);
      HeadSaved head_saved;
      const Tensor logits = head_forward(p, embeds, *tasks[t].head, &head_saved);
      Tensor per_input = p.allocate(DType::F32, {count});
      Tensor dlogits = p.allocate(DType::F32, logits.shape());
      const double scale = 1.0 / static_cast<double>(count);
      if (options.objective == Objective::entropy) {
        p.softmax_entropy(per_input, dlogits, logits, scale);
      } else {
        p.cross_entropy(per_input, dlogits, logits, p.to_device(batch.labels), scale);
      }
      step_loss += p.reduce(ALLOY_REDUCE_SUM, per_input) * scale;
      model.backward(head_backward(p, dlogits, *tasks[t].head, head_saved), *saved, grads);
    }
    adam.step = step + 1;
    adam.lr = scheduled_lr(options, step);
    for (auto& [name, g] : grads) {
      p.adam(model.params().at(name), g, m.at(name), v.at(name), adam);
    }
    losses.push_back(step_loss);
    if (hooks.on_step) hooks.on_step(step + 1, options.steps, step_loss);
  }
  return losses;
}

}  // namespace alloy
