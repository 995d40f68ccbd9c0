// Twin-Merging (Lu et al., NeurIPS 2024): a shared expert theta* (another strategy's merge of
// every expert, Task Arithmetic at 0.3 by default), each expert's exclusive knowledge
// v_t = theta_t - theta* compressed by truncated SVD, and a router that, per input, weighs them:
//   theta(x) = theta* + sum_t softmax(router(features(x)))_t v_t,
// features(x) the mean over tokens of the shared model's last hidden state. The router learns to
// tell the tasks apart on their validation inputs (the host's training service, ABI 1.4's task_id
// objective). The output is a Twin-Merging model the host's runtime runs (docs/model.md);
// docs/strategies/twin.md has the method and its costs.
#include <alloy/alloy.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/task_vector.hpp"
#include "exclusive_knowledge.hpp"
#include "router_init.hpp"

namespace {

using alloy::sdk::Context;
using alloy::sdk::Error;
using alloy::sdk::Tensor;

const alloy_param_spec kParams[] = {
    {"shared_strategy", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "task_arithmetic",
     "The strategy whose merge of every expert is the shared expert theta*: any loaded strategy "
     "(ties, cat, a third-party plugin).",
     nullptr},
    {"shared_parameters", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "",
     "That strategy's parameters, a YAML mapping as a config's parameters: section. Empty: the "
     "paper's {lambda: 0.3} for task_arithmetic, another strategy's own defaults (a lambda of 0.3 "
     "means something else to TIES or CAT). Choose lambda as for Task Arithmetic.",
     nullptr},
    {"density", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "0.1",
     "Singular triplets kept of each exclusive matrix: floor(density * min(m, n)); 1-D tensors "
     "stay dense.",
     nullptr},
    {"svd", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "exact",
     "How the truncated SVD is computed: 'exact' (LAPACK / cuSOLVER, every triplet) or "
     "'randomized' (a sketch with power iterations; faster on large matrices, near the same "
     "error; bench/svd_bench).",
     "exact|randomized"},
    {"epochs", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "50",
     "Passes of the router's training over the inputs of `split` (the official code's 50).",
     nullptr},
    {"batch_size", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "1024",
     "Inputs per router step (at most as many as `split` holds), split evenly over the tasks.",
     nullptr},
    {"lr", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "5e-4", "AdamW learning rate of the router.",
     nullptr},
    {"weight_decay", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "0",
     "AdamW's decoupled weight decay (the official Trainer's default, 0).", nullptr},
    {"schedule", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "linear",
     "Learning-rate schedule: 'linear' decay to 0 (the official code's transformers Trainer "
     "default), 'cosine' or 'constant'.",
     "linear|cosine|constant"},
    {"split", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "validation",
     "The inputs the router learns the tasks from. Never the test split.", "validation|train"},
    {"router_width", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "0",
     "The router's hidden width H; 0: twice the model's width, as the paper.", nullptr},
    {"seed", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "0",
     "Seed of the router's initialisation, input order and dropout.", nullptr},
};

struct Settings {
  std::string shared_strategy, shared_parameters, svd, schedule, split;
  double density, lr, weight_decay;
  int64_t epochs, batch_size, router_width, seed;
};

Settings read_settings(const Context& c) {
  Settings s{c.param_string("shared_strategy"),
             c.param_string("shared_parameters"),
             c.param_string("svd"),
             c.param_string("schedule"),
             c.param_string("split"),
             c.param_f64("density"),
             c.param_f64("lr"),
             c.param_f64("weight_decay"),
             c.param_i64("epochs"),
             c.param_i64("batch_size"),
             c.param_i64("router_width"),
             c.param_i64("seed")};
  // The paper's shared expert; other strategies keep their own defaults rather than a lambda
  // that means something else to them.
  if (s.shared_parameters.empty() && s.shared_strategy == "task_arithmetic") {
    s.shared_parameters = "{lambda: 0.3}";
  }
  if (!(s.density > 0 && s.density <= 1)) {
    throw Error(ALLOY_ERR_INVALID_ARGUMENT, "density must be in (0, 1]");
  }
  if (s.epochs < 1) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "epochs must be at least 1");
  if (s.batch_size < 2) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "batch_size must be at least 2");
  if (!(s.lr >= 0)) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "lr must not be negative");
  if (!(s.weight_decay >= 0)) {
    throw Error(ALLOY_ERR_INVALID_ARGUMENT, "weight_decay must not be negative");
  }
  if (s.router_width < 0) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "router_width must be >= 0");
  if (s.seed < 0) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "seed must not be negative");
  return s;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {  // a multi-line YAML mapping, a tab
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(ch));
      out += escaped;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

const char* const kWidthTensor = "vision_model.embeddings.class_embedding";

// The experts' tasks (the router's outputs, in expert order); each must be a task of the data.
std::vector<int32_t> expert_tasks(const Context& c, const std::vector<int32_t>& experts) {
  if (c.task_count() == 0) {
    throw Error(ALLOY_ERR_INVALID_ARGUMENT,
                "Twin-Merging's router learns the tasks from their inputs: give the config a data: "
                "section with the suite or task file (docs/config.md)");
  }
  std::vector<int32_t> tasks;
  for (const int32_t e : experts) {
    const int32_t task = c.model_task(e);
    if (task == ALLOY_GLOBAL) {
      throw Error(ALLOY_ERR_INVALID_ARGUMENT,
                  "model '" + c.model_name(e) +
                      "' has no task of the data for the router to learn: give it a task: in the "
                      "config (by default, the task named like its folder or file)");
    }
    tasks.push_back(task);
  }
  return tasks;
}

struct Compression {
  std::vector<std::string> names;    // the exclusive tensors, in output order
  std::vector<double> energy, kept;  // per expert, summed over its tensors
};

// Puts theta* and every expert's compressed v_t into `twin`.
Compression add_experts(const Context& c, int32_t twin, int32_t shared,
                        const std::vector<int32_t>& experts, const Settings& s) {
  const int32_t base = c.base_model();
  const std::vector<std::string> names = c.tensor_names(base);
  const int32_t method = s.svd == "randomized" ? ALLOY_SVD_RANDOMIZED : ALLOY_SVD_EXACT;
  Compression out;
  out.energy.assign(experts.size(), 0.0);
  out.kept.assign(experts.size(), 0.0);
  std::vector<std::vector<std::string>> per_expert(experts.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    c.check_cancelled();
    const std::string& name = names[i];
    if (!Context::is_float(c.tensor_dtype(base, name.c_str()))) continue;
    if (!c.has_tensor(shared, name.c_str())) {
      throw Error(ALLOY_ERR_NOT_FOUND, "the shared expert (strategy '" + s.shared_strategy +
                                           "') has no tensor '" + name + "'");
    }
    const Tensor theta = c.get(shared, name.c_str());
    c.model_put(twin, name.c_str(), theta);
    const std::vector<int64_t> shape = c.tensor_shape(base, name.c_str());
    for (std::size_t t = 0; t < experts.size(); ++t) {
      twin::ExclusiveKnowledge k =
          twin::compress(c, alloy_plugins::task_vector(c, theta, experts[t], name.c_str()), shape,
                         s.density, method);
      out.energy[t] += k.energy;
      out.kept[t] += k.kept;
      const std::string prefix = "twin.experts." + std::to_string(t) + "." + name;
      auto put = [&](const std::string& full, const Tensor& value) {
        c.model_put(twin, full.c_str(), value);
        per_expert[t].push_back(full);
      };
      if (k.dense) put(prefix, k.dense);
      if (k.us) {
        put(prefix + ".us", k.us);
        put(prefix + ".v", k.v);
      }
    }
    c.progress(i + 1, names.size());
  }
  for (const auto& names_of_expert : per_expert) {
    out.names.insert(out.names.end(), names_of_expert.begin(), names_of_expert.end());
  }
  return out;
}

alloy_status run(alloy_context* raw, void*) {
  return alloy::sdk::guard(raw, [&] {
    const Context c(raw);
    const Settings s = read_settings(c);
    const int32_t base = c.base_model();
    const std::vector<int32_t> experts = c.fine_tuned_models();
    const int64_t t_count = static_cast<int64_t>(experts.size());
    if (t_count < 2) {
      throw Error(ALLOY_ERR_INVALID_ARGUMENT,
                  "Twin-Merging routes between experts: give it at "
                  "least two fine-tuned models");
    }
    const std::vector<int32_t> tasks = expert_tasks(c, experts);
    if (!c.has_tensor(base, kWidthTensor)) {
      throw Error(ALLOY_ERR_NOT_FOUND, std::string("the base model has no '") + kWidthTensor +
                                           "': Twin-Merging's router runs on a CLIP vision "
                                           "model's hidden states (docs/model.md)");
    }
    const int64_t width = c.tensor_shape(base, kWidthTensor).at(0);
    int64_t inputs = 0;
    for (const int32_t task : tasks) inputs += c.task_inputs(task, s.split.c_str());

    // The shared expert, then theta* and the compressed exclusive knowledge in one model.
    const int32_t shared = c.run_strategy(s.shared_strategy, s.shared_parameters);
    const int32_t twin = c.model_create("Twin-Merging model");
    const Compression compression = add_experts(c, twin, shared, experts, s);
    c.model_drop(shared);
    std::string kept_json = "[";
    for (int64_t t = 0; t < t_count; ++t) {
      const double energy = compression.energy[static_cast<std::size_t>(t)];
      const double kept = energy > 0 ? compression.kept[static_cast<std::size_t>(t)] / energy : 1;
      kept_json += std::string(t ? "," : "") + std::to_string(kept);
      c.log(ALLOY_LOG_INFO, "expert '" + c.model_name(experts[static_cast<std::size_t>(t)]) +
                                "': the kept triplets hold " + std::to_string(100 * kept) +
                                "% of ||theta_t - theta*||^2");
    }

    // The router learns which task an input comes from.
    const int64_t router_width = s.router_width > 0 ? s.router_width : 2 * width;
    const std::vector<std::string> router =
        twin::add_router(c, twin, width, router_width, t_count, static_cast<uint64_t>(s.seed));
    alloy_train_options o = Context::train_options();
    o.objective = ALLOY_OBJECTIVE_TASK_ID;
    o.split = s.split.c_str();
    // "Batch up to 1024": never more inputs per step than there are.
    o.batch_per_task = std::max<int64_t>(1, std::min(s.batch_size, inputs) / t_count);
    const int64_t per_step = o.batch_per_task * t_count;
    o.steps = s.epochs * ((inputs + per_step - 1) / per_step);
    o.lr = s.lr;
    o.weight_decay = s.weight_decay;
    o.schedule = s.schedule == "linear"   ? ALLOY_SCHEDULE_LINEAR
                 : s.schedule == "cosine" ? ALLOY_SCHEDULE_COSINE
                                          : ALLOY_SCHEDULE_CONSTANT;
    o.seed = static_cast<uint64_t>(s.seed);
    o.tasks = tasks.data();
    o.task_count = static_cast<int32_t>(tasks.size());
    const std::vector<double> losses = c.train(twin, router, o);
    c.log(ALLOY_LOG_INFO, "trained the router for " + std::to_string(o.steps) + " steps of " +
                              std::to_string(per_step) + " inputs: cross-entropy " +
                              std::to_string(losses.front()) + " -> " +
                              std::to_string(losses.back()));

    // The output: theta* in the base model's names and order, the experts' exclusive tensors,
    // the router; described in __metadata__ (docs/model.md).
    std::string tasks_json = "[";
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      tasks_json += std::string(t ? "," : "") + json_string(c.task_name(tasks[t]));
    }
    c.output_metadata("experts", tasks_json + "]");
    c.output_metadata(
        "twin", "{\"density\":" + std::to_string(s.density) + ",\"svd\":" + json_string(s.svd) +
                    ",\"shared_strategy\":" + json_string(s.shared_strategy) +
                    ",\"shared_parameters\":" + json_string(s.shared_parameters) +
                    ",\"router\":{\"width\":" + std::to_string(router_width) +
                    ",\"input\":\"mean over tokens of the shared model's last hidden state\"" +
                    ",\"split\":" + json_string(s.split) + ",\"steps\":" + std::to_string(o.steps) +
                    "},\"kept_energy\":" + kept_json + "]}");
    std::vector<std::string> order = c.tensor_names(base);
    order.insert(order.end(), compression.names.begin(), compression.names.end());
    for (const char* leaf : {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                             "1.running_var", "4.weight", "4.bias", "5.weight", "5.bias",
                             "5.running_mean", "5.running_var", "8.weight", "8.bias"}) {
      order.push_back(twin::router_name(leaf));
    }
    for (const std::string& name : order) {
      const int32_t from = c.has_tensor(twin, name.c_str()) ? twin : base;
      c.declare(name.c_str(), c.tensor_shape(from, name.c_str()),
                from == base ? c.tensor_dtype(base, name.c_str()) : ALLOY_F32);
    }
    for (const std::string& name : order) {
      c.check_cancelled();
      const int32_t from = c.has_tensor(twin, name.c_str()) ? twin : base;
      c.put(name.c_str(), c.get(from, name.c_str(), ALLOY_STORED));
    }
    c.model_drop(twin);
  });
}

const alloy_plugin kPlugin = {
    ALLOY_ABI_MAJOR,
    4,  // derived models (1.1), training (1.3), svd, task_inputs, strategy_run, task_id (1.4)
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    "twin",
    "1.0.0",
    "Twin-Merging: a shared expert plus SVD-compressed exclusive knowledge, mixed per input by a "
    "router",
    kParams,
    sizeof(kParams) / sizeof(kParams[0]),
    ALLOY_PLUGIN_NEEDS_BASE | ALLOY_PLUGIN_DECLARES_OUTPUTS,
    nullptr,
    nullptr,
    run,
    nullptr,
};

}  // namespace

ALLOY_DEFINE_PLUGIN(kPlugin)
