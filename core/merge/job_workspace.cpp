#include "merge/job_workspace.hpp"

#include <chrono>
#include <filesystem>
#include <system_error>

#include "error.hpp"
#include "model/heads.hpp"
#include "model/layer_inputs.hpp"
#include "model/preprocessing.hpp"
#include "model/twin_router.hpp"
#include "model/twin_router_training.hpp"
#include "model/vit.hpp"

namespace alloy {
namespace fs = std::filesystem;

namespace {

// "zoo/finetuned/rot90" -> "rot90"; "experts/rot90.safetensors" -> "rot90".
std::string implied_task(const std::string& path) {
  fs::path p(path);
  if (p.filename().empty()) p = p.parent_path();  // a trailing '/'
  return p.extension() == ".safetensors" ? p.stem().string() : p.filename().string();
}

}  // namespace

JobWorkspace::JobWorkspace(Registry& registry, Provider& provider, const MergeConfig& config,
                           int32_t base, const std::vector<const ModelConfig*>& model_configs,
                           std::function<void(const std::string&)> info)
    : registry_(registry),
      provider_(provider),
      source_(config.source),
      base_(base),
      info_(std::move(info)) {
  if (config.data) data_ = std::make_unique<JobData>(*config.data, config.source);
  for (const ModelConfig* m : model_configs) {
    int32_t task = -1;
    if (m && data_) {
      task = data_->find_task(m->task.empty() ? implied_task(m->path) : m->task);
      if (task < 0 && !m->task.empty()) {
        fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: model '{}' has task '{}', which {} does not have",
             source_, m->model, m->task, data_->description());
      }
    } else if (m && !m->task.empty()) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: model '{}' names a task but the config has no 'data'",
           source_, m->model);
    }
    model_tasks_.push_back(task);
  }
}

const JobData& JobWorkspace::data() const {
  if (!data_) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "{}: the strategy needs data, but the config has no 'data' section (docs/config.md)",
         source_);
  }
  return *data_;
}

const std::string& JobWorkspace::task_name(int32_t task) const { return data().task_name(task); }

int32_t JobWorkspace::model_task(int32_t model) const {
  if (!registry_.valid(model)) fail(ALLOY_ERR_NOT_FOUND, "no model with index {}", model);
  const auto index = static_cast<std::size_t>(model);
  return index < model_tasks_.size() ? model_tasks_[index] : -1;
}

int32_t JobWorkspace::create_model(const std::string& name) {
  if (name.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "a model needs a name");
  model_tasks_.resize(static_cast<std::size_t>(registry_.size()), -1);
  return registry_.add_memory_model(name, ALLOY_ROLE_DERIVED);
}

Model& JobWorkspace::in_memory_model(int32_t model, int32_t role, const char* what) {
  if (!registry_.valid(model)) fail(ALLOY_ERR_NOT_FOUND, "no model with index {}", model);
  Model& m = registry_.mutable_model(model);
  if (!m.in_memory() || (m.role() != role && m.role() != ALLOY_ROLE_FEATURES)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}' is an input of the job; only {}", m.name(), what);
  }
  return m;
}

void JobWorkspace::put(int32_t model, const std::string& name, const Tensor& tensor) {
  Model& m = in_memory_model(model, ALLOY_ROLE_DERIVED, "models from model_create take tensors");
  if (m.role() != ALLOY_ROLE_DERIVED) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}' holds features; it takes no tensors", m.name());
  }
  m.put(name, tensor);
}

void JobWorkspace::drop(int32_t model) {
  if (registry_.valid(model) && registry_.model(model).role() == ALLOY_ROLE_FEATURES &&
      !registry_.model(model).in_memory()) {
    return;  // supplied features stay mapped; their pages are dropped as tensors are released
  }
  in_memory_model(model, ALLOY_ROLE_DERIVED, "derived and features models can be dropped").clear();
}

std::string JobWorkspace::architecture_dir(int32_t model) const {
  std::error_code error;
  for (const int32_t candidate : {model, base_}) {
    if (!registry_.valid(candidate)) continue;
    const std::string& path = registry_.model(candidate).path();
    if (!path.empty() && fs::is_regular_file(fs::path(path) / "config.json", error)) return path;
  }
  fail(ALLOY_ERR_UNSUPPORTED,
       "{}: cannot run model '{}': no config.json beside it or the base model (for models alloy "
       "cannot run, supply layer inputs with data.features, docs/features.md)",
       source_, registry_.model(model).name());
}

int32_t JobWorkspace::collect_features(int32_t model, int32_t task, int64_t exemplars,
                                       const std::vector<std::string>& layers) {
  const JobData& d = data();
  const std::string& task_name = d.task_name(task);
  if (d.supplied()) return supplied_features(task, layers);
  if (!registry_.valid(model)) fail(ALLOY_ERR_NOT_FOUND, "no model with index {}", model);
  const Model& source = registry_.model(model);
  if (source.role() == ALLOY_ROLE_FEATURES) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}' holds features; it cannot be run", source.name());
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string dir = architecture_dir(model);
  const Model* fallback = source.role() == ALLOY_ROLE_DERIVED && registry_.valid(base_)
                              ? &registry_.model(base_)
                              : nullptr;
  const VitModel vit =
      VitModel::from_models(load_vit_config(dir + "/config.json"), source, fallback, provider_);
  const Preprocessing preprocessing = load_preprocessing(dir, vit.config().num_channels);
  const TensorMap inputs =
      collect_layer_inputs(vit, d.exemplars(task, exemplars), preprocessing, layers);
  const int32_t index = registry_.add_memory_model(
      fmt::format("inputs of '{}' on {} exemplars of '{}'", source.name(), exemplars, task_name),
      ALLOY_ROLE_FEATURES);
  Model& features = registry_.mutable_model(index);
  for (const std::string& layer : vit.layer_names()) {
    const auto it = inputs.find(layer);
    if (it != inputs.end()) features.put(layer, it->second);
  }
  model_tasks_.resize(static_cast<std::size_t>(registry_.size()), -1);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  info_(fmt::format("collected the inputs of {} layers of '{}' on {} exemplars of '{}' in {:.2f}s",
                    inputs.size(), source.name(), exemplars, task_name, seconds));
  return index;
}

std::vector<double> JobWorkspace::train_model(int32_t model,
                                              const std::vector<std::string>& tensors,
                                              const TensorTrainOptions& options,
                                              const TrainingHooks& hooks) {
  const JobData& d = data();
  if (d.supplied()) {
    fail(ALLOY_ERR_UNSUPPORTED, "{}: training needs images, but the job's data is a {}", source_,
         d.description());
  }
  const bool routing = options.objective == Objective::task_id;
  if (d.heads().empty() && !routing) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "{}: training needs each task's head: add 'heads: FILE' to the data section "
         "(docs/config.md)",
         source_);
  }
  Model& target = in_memory_model(model, ALLOY_ROLE_DERIVED, "models from model_create train");
  for (const std::string& name : tensors) {
    const TensorEntry* entry = target.find(name);
    if (!entry) {
      fail(ALLOY_ERR_NOT_FOUND, "model '{}' has no tensor '{}' to train (put it first)",
           target.name(), name);
    }
    if (!is_float(entry->dtype)) {
      fail(ALLOY_ERR_DTYPE, "model '{}': tensor '{}' is {}; only float tensors train",
           target.name(), name, dtype_name(entry->dtype));
    }
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string dir = architecture_dir(model);
  const Model* fallback = registry_.valid(base_) ? &registry_.model(base_) : nullptr;
  VitModel vit =
      VitModel::from_models(load_vit_config(dir + "/config.json"), target, fallback, provider_);
  const Preprocessing preprocessing = load_preprocessing(dir, vit.config().num_channels);
  std::vector<int32_t> chosen = options.tasks;
  if (chosen.empty()) {
    for (int32_t t = 0; t < d.task_count(); ++t) chosen.push_back(t);
  }
  std::vector<double> losses;
  std::vector<std::string> updated = tensors;
  std::string outcome;
  if (routing) {
    std::vector<const LabelledImages*> inputs;
    for (const int32_t t : chosen) inputs.push_back(&d.images(t, options.split));
    const RouterTraining trained =
        train_twin_router(vit, tensors, inputs, preprocessing, options, hooks);
    losses = trained.losses;
    // BatchNorm's running statistics moved with training: they go back with the parameters.
    for (const std::string& leaf : twin_router_leaves()) {
      if (is_twin_router_statistic(leaf)) updated.push_back(twin_router_param(leaf));
    }
    outcome = fmt::format("; the router picks the right task for {:.1f}% of those inputs",
                          100 * trained.accuracy);
  } else {
    const std::vector<Head> heads = load_heads(d.heads(), provider_);
    std::vector<TrainingTask> tasks;
    for (const int32_t t : chosen) {
      tasks.push_back({&find_head(heads, d.task_name(t), d.heads()), &d.images(t, options.split)});
    }
    losses = train_tensors(vit, tensors, tasks, preprocessing, options, hooks);
  }
  // The trained values replace the old ones; handles a strategy holds keep the old values.
  for (const std::string& name : updated) {
    Tensor trained = vit.params().at(name);
    const DType stored = target.find(name)->dtype;
    if (stored != DType::F32) {  // trained in F32, kept in the dtype the strategy chose
      Tensor converted = provider_.allocate(stored, trained.shape());
      provider_.copy(converted, trained);
      trained = converted;
    }
    target.replace(name, trained);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  info_(
      fmt::format("trained {} tensors of '{}' for {} steps on {} tasks in {:.1f}s: loss {:.4f} "
                  "-> {:.4f}{}",
                  tensors.size(), target.name(), options.steps, chosen.size(), seconds,
                  losses.front(), losses.back(), outcome));
  return losses;
}

int64_t JobWorkspace::task_inputs(int32_t task, const std::optional<Split>& split) const {
  if (!data_ || data_->supplied() || task < 0 || task >= data_->task_count()) return -1;
  return data_->images(task, split).size();
}

int32_t JobWorkspace::supplied_features(int32_t task, const std::vector<std::string>& layers) {
  auto it = supplied_models_.find(task);
  if (it == supplied_models_.end()) {
    const std::string file = data().supplied_file(task);
    const int32_t index = registry_.add_model("features of '" + data().task_name(task) + "'", file,
                                              ALLOY_ROLE_FEATURES);
    model_tasks_.resize(static_cast<std::size_t>(registry_.size()), -1);
    for (const TensorEntry& entry : registry_.model(index).tensors()) {
      if (!is_float(entry.dtype) || entry.shape.size() != 2 || entry.shape[0] == 0) {
        fail(ALLOY_ERR_SHAPE, "{}: tensor '{}' is {} {}; layer inputs are float [rows > 0, in]",
             file, entry.name, dtype_name(entry.dtype), shape_string(entry.shape));
      }
    }
    it = supplied_models_.emplace(task, index).first;  // only a file that passed the checks
  }
  const Model& features = registry_.model(it->second);
  for (const std::string& layer : layers) {
    if (!features.find(layer)) {
      fail(ALLOY_ERR_NOT_FOUND, "{}: no tensor '{}' (the inputs of that layer)",
           data().supplied_file(task), layer);
    }
  }
  return it->second;
}

}  // namespace alloy
