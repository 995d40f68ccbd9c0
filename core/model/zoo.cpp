#include "model/zoo.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "data/fmnist8.hpp"
#include "data/rotation_task.hpp"
#include "data/seeded_random.hpp"
#include "data/task_file.hpp"
#include "error.hpp"
#include "io/file_io.hpp"
#include "model/heads.hpp"
#include "model/preprocessing.hpp"
#include "model/vit.hpp"

namespace alloy {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json adam_json(const AdamStep& a) {
  return {{"lr", a.lr},
          {"beta1", a.beta1},
          {"beta2", a.beta2},
          {"eps", a.eps},
          {"weight_decay", a.weight_decay}};
}

// One value as a number, so that the manifests of zoos built before per-channel values stay
// equal (and those zoos cached).
json values_json(const std::vector<double>& values) {
  return values.size() == 1 ? json(values[0]) : json(values);
}

// Everything that decides the zoo's bytes; a folder built from an equal spec is reused.
json spec_json(const ZooSpec& s) {
  const json preprocessing = {{"mean", values_json(s.preprocessing.mean)},
                              {"std", values_json(s.preprocessing.std)}};
  return {{"suite", s.suite},
          {"seed", s.seed},
          {"model", json::parse(vit_config_json(s.model))},
          {"pretrain_epochs", s.pretrain_epochs},
          {"pretrain_adam", adam_json(s.pretrain_adam)},
          {"finetune_epochs", s.finetune_epochs},
          {"finetune_adam", adam_json(s.finetune_adam)},
          {"batch_size", s.batch_size},
          {"logit_scale", s.logit_scale},
          {"preprocessing", preprocessing}};
}

// Removes the temporary folder unless the build got as far as renaming it.
struct TempFolder {
  std::string path;
  ~TempFolder() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
};

}  // namespace

ZooSpec default_zoo_spec(const std::string& suite) {
  ZooSpec spec;
  spec.suite = suite;
  VitConfig& m = spec.model;
  m.num_channels = 1;
  m.image_size = 28;
  m.patch_size = 7;
  if (suite == "fmnist8") {
    m.hidden_size = 128;
    m.intermediate_size = 512;
    m.num_hidden_layers = 6;
    m.num_attention_heads = 4;
    m.projection_dim = 128;
  } else if (suite == "fmnist8-small") {
    m.hidden_size = 64;
    m.intermediate_size = 256;
    m.num_hidden_layers = 4;
    m.num_attention_heads = 4;
    m.projection_dim = 64;
    spec.batch_size = 64;
  } else if (suite == "fmnist8-tiny") {
    m.hidden_size = 32;
    m.intermediate_size = 64;
    m.num_hidden_layers = 2;
    m.num_attention_heads = 4;
    m.projection_dim = 32;
    spec.batch_size = 32;
    spec.finetune_epochs = 2;
    spec.finetune_adam.lr = 1e-3;
  } else {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown suite '{}' (fmnist8, fmnist8-small, fmnist8-tiny)",
         suite);
  }
  return spec;
}

TaskSuite load_suite(const std::string& suite) {
  if (suite == "fmnist8") return make_fmnist8(Fmnist8Variant::Full);
  if (suite == "fmnist8-small") return make_fmnist8(Fmnist8Variant::Small);
  if (suite == "fmnist8-tiny") return make_fmnist8(Fmnist8Variant::Tiny);
  fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown suite '{}' (fmnist8, fmnist8-small, fmnist8-tiny)",
       suite);
}

std::vector<Task> load_tasks(const std::string& suite, const std::string& task_file) {
  return suite.empty() ? read_task_file(task_file) : load_suite(suite).tasks;
}

std::string zoo_manifest(const std::string& dir) {
  return read_text_file(dir + "/zoo.json", "zoo manifest");
}

ZooBuild build_zoo(const ZooSpec& spec, const std::string& dir, Provider& provider,
                   const std::function<void(const ZooProgress&)>& on_progress,
                   const std::atomic<bool>* cancel) {
  const json wanted = spec_json(spec);
  std::error_code error;
  if (fs::exists(dir, error)) {
    json manifest;
    try {
      manifest = json::parse(zoo_manifest(dir));
    } catch (const std::exception&) {
      fail(ALLOY_ERR_IO, "{} exists and is not a model zoo; remove it or choose another folder",
           dir);
    }
    if (manifest.value("spec", json()) != wanted) {
      fail(ALLOY_ERR_IO,
           "{} holds a zoo built with other settings; remove it or choose another folder", dir);
    }
    ZooBuild cached;
    cached.cached = true;
    cached.accuracies = manifest.value("validation_accuracy", std::map<std::string, double>());
    return cached;
  }

  check_preprocessing(spec.preprocessing, spec.model.num_channels, "the zoo's preprocessing");
  const auto started = std::chrono::steady_clock::now();
  TempFolder temp{dir + ".tmp-" + std::to_string(::getpid())};
  fs::remove_all(temp.path, error);
  fs::create_directories(temp.path);
  const TaskSuite suite = load_suite(spec.suite);
  auto report = [&](const std::string& stage) {
    return [&on_progress, stage](int64_t done, int64_t total, double loss) {
      if (on_progress) on_progress({stage, done, total, loss});
    };
  };
  ZooBuild build;

  // Pretraining: which way up is the image? Every task's images are new to it.
  VitModel model(spec.model, provider);
  model.init_random(spec.seed);
  {
    std::vector<int64_t> all(static_cast<std::size_t>(suite.pretraining.images.shape()[0]));
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    const LabelledImages rotations = rotation_batch(suite.pretraining.images, all);
    Head rotation;
    rotation.task = "rotation";
    rotation.logit_scale = 10.0;
    rotation.weight = provider.allocate(DType::F32, {kRotationClasses, spec.model.projection_dim});
    provider.fill_random(rotation.weight, Distribution::normal, 0.0, 0.1, mix_seed(spec.seed, 1));
    TrainOptions options;
    options.epochs = spec.pretrain_epochs;
    options.batch_size = spec.batch_size;
    options.adam = spec.pretrain_adam;
    options.seed = mix_seed(spec.seed, 2);
    options.preprocessing = spec.preprocessing;
    options.on_step = report("pretraining");
    options.cancel = cancel;
    train(model, rotation, true, rotations, options);
  }
  save_model_folder(model, spec.preprocessing, temp.path + "/pretrained");
  fs::create_directories(temp.path + "/finetuned");

  // Heads: class means of the pretrained encoder's embeddings, frozen from here on.
  std::vector<Head> heads;
  for (const Task& task : suite.tasks) {
    if (on_progress)
      on_progress({"heads", static_cast<int64_t>(heads.size()),
                   static_cast<int64_t>(suite.tasks.size()), 0});
    heads.push_back(class_mean_head(model, task.train, task.class_names, task.name,
                                    spec.preprocessing, spec.logit_scale));
    build.accuracies["pretrained/" + task.name] =
        accuracy(model, heads.back(), task.validation, spec.preprocessing);
  }
  save_heads(temp.path + "/heads.safetensors", heads, provider);

  // Fine-tuning: each task from the same pretrained weights, through its frozen head.
  for (std::size_t t = 0; t < suite.tasks.size(); ++t) {
    const Task& task = suite.tasks[t];
    VitModel expert = VitModel::load(temp.path + "/pretrained", provider);
    TrainOptions options;
    options.epochs = spec.finetune_epochs;
    options.batch_size = spec.batch_size;
    options.adam = spec.finetune_adam;
    options.seed = mix_seed(spec.seed, 100 + t);
    options.preprocessing = spec.preprocessing;
    options.on_step = report("fine-tuning " + task.name);
    options.cancel = cancel;
    train(expert, heads[t], false, task.train, options);
    build.accuracies[task.name] = accuracy(expert, heads[t], task.validation, spec.preprocessing);
    save_model_folder(expert, spec.preprocessing, temp.path + "/finetuned/" + task.name);
  }

  build.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  json manifest = {{"spec", wanted},
                   {"tasks", json::array()},
                   {"validation_accuracy", build.accuracies},
                   {"build_seconds", build.seconds}};
  for (const Task& task : suite.tasks) manifest["tasks"].push_back(task.name);
  write_text_file(temp.path + "/zoo.json", manifest.dump(2) + "\n", "the zoo manifest");
  fs::rename(temp.path, dir);
  temp.path.clear();
  return build;
}

std::vector<Task> select_tasks(const std::vector<Task>& all, const std::vector<std::string>& names,
                               const std::string& source, const std::string& what) {
  std::vector<Task> chosen;
  for (const std::string& name : names) {
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const Task& t) { return t.name == name; });
    if (it == all.end()) {
      std::string known;
      for (const Task& t : all) known += (known.empty() ? "" : ", ") + t.name;
      fail(ALLOY_ERR_NOT_FOUND, "{} '{}': {} has no such task (it has {})", what, name, source,
           known);
    }
    chosen.push_back(*it);
  }
  return chosen;
}

}  // namespace alloy
