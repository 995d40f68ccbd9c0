// The training service's task_id objective (ABI 1.4, ALLOY_OBJECTIVE_TASK_ID): trains a
// Twin-Merging model's router to tell which task an input comes from, as the official code does.
// The router's input, the shared model's mean last hidden state, is computed once for every input
// of every task (the shared model is frozen, so it never changes); each step then takes
// batch_per_task inputs of every task, runs the router in training mode (batch statistics,
// dropout), and takes one AdamW step on the trained router tensors against the cross-entropy of
// the logits and the index of the input's task. BatchNorm's running statistics move as they do
// in torch.
#pragma once

#include <string>
#include <vector>

#include "data/task_suite.hpp"
#include "model/preprocessing.hpp"
#include "model/tensor_training.hpp"
#include "model/vit.hpp"

namespace alloy {

struct RouterTraining {
  std::vector<double> losses;  // each step's
  double accuracy = 0;         // on every input trained on, the router in inference mode
};

// `tasks[i]` holds the inputs of the task whose expert is router output i. `tensors` names
// router parameters ("twin.router.*", not the running statistics). Throws
// ALLOY_ERR_INVALID_ARGUMENT for a model without a router, as many tasks as it has experts, or
// tensors that are not its parameters.
RouterTraining train_twin_router(VitModel& model, const std::vector<std::string>& tensors,
                                 const std::vector<const LabelledImages*>& tasks,
                                 const Preprocessing& preprocessing,
                                 const TensorTrainOptions& options, const TrainingHooks& hooks);

}  // namespace alloy
