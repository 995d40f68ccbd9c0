#include "model/twin_router_training.hpp"

#include <algorithm>
#include <set>

#include <alloy/alloy.h>

#include "data/seeded_random.hpp"
#include "error.hpp"
#include "model/task_cursor.hpp"
#include "model/training.hpp"
#include "model/twin_forward.hpp"
#include "model/twin_router.hpp"

namespace alloy {
namespace {

constexpr int64_t kFeatureBatch = 256;

// The router's input for every image of a task, [N, D] row-major in host memory.
std::vector<float> task_features(const VitModel& model, const LabelledImages& data,
                                 const Preprocessing& preprocessing) {
  Provider& p = model.provider();
  const int64_t n = data.size(), d = model.config().hidden_size;
  std::vector<float> features(static_cast<std::size_t>(n * d));
  for (int64_t start = 0; start < n; start += kFeatureBatch) {
    const int64_t count = std::min(kFeatureBatch, n - start);
    const Tensor images = prepare_images(p, data.images.rows(start, count), preprocessing);
    const Tensor batch = twin_router_features(model, model.twin(), images);
    p.download(batch, features.data() + start * d, batch.nbytes());
  }
  return features;
}

std::string leaf_of(const std::string& name) {
  const std::string prefix = twin_router_param("");
  return name.compare(0, prefix.size(), prefix) == 0 ? name.substr(prefix.size()) : "";
}

// The router's weights in the model; the running statistics are the model's own tensors, which
// training updates in place.
TwinRouterWeights router_weights(TensorMap& params) {
  auto w = [&](const char* leaf) { return &params.at(twin_router_param(leaf)); };
  TwinRouterWeights r;
  r.w0 = w("0.weight");
  r.b0 = w("0.bias");
  r.norm1 = {w("1.weight"), w("1.bias"), w("1.running_mean"), w("1.running_var")};
  r.w4 = w("4.weight");
  r.b4 = w("4.bias");
  r.norm5 = {w("5.weight"), w("5.bias"), w("5.running_mean"), w("5.running_var")};
  r.w8 = w("8.weight");
  r.b8 = w("8.bias");
  return r;
}

TwinRouterGrads router_grads(TensorMap& grads) {
  auto g = [&](const char* leaf) -> Tensor* {
    const auto it = grads.find(twin_router_param(leaf));
    return it == grads.end() ? nullptr : &it->second;
  };
  return {g("0.weight"), g("0.bias"),   g("1.weight"), g("1.bias"),   g("4.weight"),
          g("4.bias"),   g("5.weight"), g("5.bias"),   g("8.weight"), g("8.bias")};
}

Tensor upload_rows(Provider& p, const std::vector<float>& rows, int64_t width) {
  Tensor t = p.allocate(DType::F32, {static_cast<int64_t>(rows.size()) / width, width});
  p.upload(t, rows.data(), rows.size() * sizeof(float));
  return t;
}

}  // namespace

RouterTraining train_twin_router(VitModel& model, const std::vector<std::string>& tensors,
                                 const std::vector<const LabelledImages*>& tasks,
                                 const Preprocessing& preprocessing,
                                 const TensorTrainOptions& options, const TrainingHooks& hooks) {
  check_train_options(options);
  const int64_t experts = model.twin().experts;
  if (!model.twin().active()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "the task_id objective trains a Twin-Merging router, and the model has none "
         "(twin.router.* tensors, docs/model.md)");
  }
  if (static_cast<int64_t>(tasks.size()) != experts) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "the router tells {} experts apart, so it trains on {} tasks (one per expert), not {}",
         experts, experts, tasks.size());
  }
  if (tensors.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "no tensors to train");
  Provider& p = model.provider();
  TensorMap grads, m, v;
  for (const std::string& name : std::set<std::string>(tensors.begin(), tensors.end())) {
    const std::string leaf = leaf_of(name);
    const auto& leaves = twin_router_leaves();
    if (leaf.empty() || std::find(leaves.begin(), leaves.end(), leaf) == leaves.end() ||
        is_twin_router_statistic(leaf)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT,
           "the task_id objective trains the router's parameters only; '{}' is not one", name);
    }
    const Tensor& param = model.param(name);
    grads.emplace(name, p.allocate(DType::F32, param.shape()));
    m.emplace(name, p.allocate(DType::F32, param.shape()));
    v.emplace(name, p.allocate(DType::F32, param.shape()));
  }
  const int64_t width = model.config().hidden_size;
  std::vector<std::vector<float>> features;
  std::vector<TaskCursor> cursors;
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    if (!tasks[t] || tasks[t]->size() == 0) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "the task of expert {} has no inputs to train on", t);
    }
    features.push_back(task_features(model, *tasks[t], preprocessing));
    cursors.emplace_back(tasks[t]->size(), mix_seed(options.seed, t));
  }

  const TwinRouterWeights weights = router_weights(model.params());
  const TwinRouterGrads router_grad = router_grads(grads);
  const int64_t rows = options.batch_per_task * experts;
  RouterTraining result;
  AdamStep adam = options.adam;
  for (int64_t step = 0; step < options.steps; ++step) {
    if (hooks.cancelled && hooks.cancelled()) fail(ALLOY_ERR_CANCELLED, "training cancelled");
    std::vector<float> batch;
    std::vector<int32_t> labels;
    for (int64_t t = 0; t < experts; ++t) {
      const std::vector<float>& source = features[static_cast<std::size_t>(t)];
      for (const int64_t i : cursors[static_cast<std::size_t>(t)].next(options.batch_per_task)) {
        batch.insert(batch.end(), source.begin() + i * width, source.begin() + (i + 1) * width);
        labels.push_back(static_cast<int32_t>(t));
      }
    }
    Tensor label_tensor = p.allocate(DType::I32, {rows});
    p.upload(label_tensor, labels.data(), labels.size() * sizeof(int32_t));
    for (auto& [name, g] : grads) p.fill(g, 0.0);
    TwinRouterSaved saved;
    const Tensor logits = twin_router_forward(p, upload_rows(p, batch, width), weights, &saved,
                                              mix_seed(options.seed, static_cast<uint64_t>(step)));
    Tensor losses = p.allocate(DType::F32, {rows});
    Tensor dlogits = p.allocate(DType::F32, logits.shape());
    p.cross_entropy(losses, dlogits, logits, label_tensor, 1.0 / static_cast<double>(rows));
    const double loss = p.reduce(ALLOY_REDUCE_SUM, losses) / static_cast<double>(rows);
    twin_router_backward(p, dlogits, weights, saved, router_grad);
    adam.step = step + 1;
    adam.lr = scheduled_lr(options, step);
    for (auto& [name, g] : grads) {
      p.adam(model.params().at(name), g, m.at(name), v.at(name), adam);
    }
    result.losses.push_back(loss);
    if (hooks.on_step) hooks.on_step(step + 1, options.steps, loss);
  }

  int64_t right = 0, total = 0;
  for (int64_t t = 0; t < experts; ++t) {
    const Tensor all = upload_rows(p, features[static_cast<std::size_t>(t)], width);
    const Tensor gates = twin_gates(model, all);
    Tensor best = p.allocate(DType::I32, {all.shape()[0]});
    p.argmax(best, gates);
    std::vector<int32_t> routes(static_cast<std::size_t>(all.shape()[0]));
    p.download(best, routes.data(), best.nbytes());
    right += std::count(routes.begin(), routes.end(), static_cast<int32_t>(t));
    total += all.shape()[0];
  }
  result.accuracy = static_cast<double>(right) / static_cast<double>(total);
  return result;
}

}  // namespace alloy
