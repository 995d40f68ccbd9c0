// WEMoE (Tang et al., ICML 2024): weight-ensembling mixture of experts. Everything outside the
// MLPs is Task Arithmetic at init_lambda; every MLP becomes a module holding the pretrained MLP,
// the T task vectors of its tensors and a router, so that for each input
//   theta_MLP(x) = theta_0_MLP + sum_t w_t(x) * tau_t_MLP,   w(x) = router(MLP input tokens).
// The routers then adapt at test time (the host's training service, ABI 1.3): entropy of every
// task's head on unlabelled inputs, Adam. The output is the upscaled model, whose tensor names
// the host's runtime recognises (docs/model.md); docs/strategies/wemoe.md has the method.
#include <alloy/alloy.hpp>

#include <map>
#include <string>
#include <vector>

#include "../common/task_vector.hpp"

namespace {

using alloy::sdk::Context;
using alloy::sdk::Error;
using alloy::sdk::Tensor;

const alloy_param_spec kParams[] = {
    {"init_lambda", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "0.3",
     "Task Arithmetic coefficient of the backbone (everything outside the MLPs), and the "
     "routers' initial output, so that the model starts as Task Arithmetic at this lambda. The "
     "paper uses 0.3; choose it like Task Arithmetic's lambda.",
     nullptr},
    {"router_hidden_layers", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "2",
     "Linear layers of each router: 2 is W2 relu(W1 h + b1) + b2, 1 is W h + b, 0 a learned "
     "constant gate vector per MLP.",
     nullptr},
    {"router_init_std", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "0.01",
     "Standard deviation of the normal draw of the routers' weight matrices (biases: 0, and "
     "init_lambda for the output layer).",
     nullptr},
    {"steps", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "1000",
     "Test-time adaptation steps; 0 writes the untrained upscaled model (Task Arithmetic).",
     nullptr},
    {"batch_size", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "16",
     "Unlabelled inputs of every task in each adaptation step.", nullptr},
    {"lr", ALLOY_PARAM_F64, ALLOY_SCOPE_GLOBAL, "1e-4",
     "Adam learning rate (default betas, no weight decay).", nullptr},
    {"split", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "test",
     "Inputs the routers adapt on. The paper adapts on the unlabelled test inputs "
     "(transductive); 'validation' keeps the test split unseen.",
     "train|validation|test"},
    {"objective", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "entropy",
     "What the routers minimise: 'entropy' of each task's predictions on unlabelled inputs (the "
     "paper's), or 'cross_entropy' against the labels of `split` (an ablation: supervised "
     "routers, which shows what the upscaled model can reach; never use it on the test split "
     "for a reported result).",
     "entropy|cross_entropy"},
    {"batch_reduce", ALLOY_PARAM_BOOL, ALLOY_SCOPE_GLOBAL, "false",
     "While adapting, mix one set of gates for the whole batch (the mean of its samples'), as "
     "FusionBench's batch_reduce; inference always routes per sample.",
     nullptr},
    {"seed", ALLOY_PARAM_I64, ALLOY_SCOPE_GLOBAL, "0",
     "Seed of the routers' initialisation and of the order of the adaptation inputs.", nullptr},
};

struct Settings {
  double init_lambda, init_std, lr;
  int64_t router_layers, steps, batch_size, seed;
  std::string split;
  bool batch_reduce;
  std::string objective;
};

Settings read_settings(const Context& c) {
  Settings s{c.param_f64("init_lambda"),
             c.param_f64("router_init_std"),
             c.param_f64("lr"),
             c.param_i64("router_hidden_layers"),
             c.param_i64("steps"),
             c.param_i64("batch_size"),
             c.param_i64("seed"),
             c.param_string("split"),
             c.param_bool("batch_reduce"),
             c.param_string("objective")};
  if (s.router_layers < 0 || s.router_layers > 2) {
    throw Error(ALLOY_ERR_INVALID_ARGUMENT, "router_hidden_layers must be 0, 1 or 2");
  }
  if (s.steps < 0) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "steps must not be negative");
  if (s.batch_size < 1) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "batch_size must be at least 1");
  if (!(s.lr >= 0)) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "lr must not be negative");
  if (!(s.init_std >= 0)) {
    throw Error(ALLOY_ERR_INVALID_ARGUMENT, "router_init_std must not be negative");
  }
  if (s.seed < 0) throw Error(ALLOY_ERR_INVALID_ARGUMENT, "seed must not be negative");
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

const char* const kMlpLeaves[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};

// The MLP modules of the base model: "vision_model.encoder.layers.3.mlp." for every name that
// ends in "mlp.fc1.weight" and has the other three MLP tensors beside it.
std::vector<std::string> mlp_modules(const Context& c, int32_t base,
                                     const std::vector<std::string>& names) {
  std::vector<std::string> modules;
  for (const std::string& name : names) {
    if (!ends_with(name, ".mlp.fc1.weight")) continue;
    const std::string prefix = name.substr(0, name.size() - std::string("fc1.weight").size());
    bool complete = true;
    for (const char* leaf : kMlpLeaves) complete &= c.has_tensor(base, (prefix + leaf).c_str());
    if (complete) modules.push_back(prefix);
  }
  if (modules.empty()) {
    throw Error(ALLOY_ERR_NOT_FOUND,
                "the base model has no MLP to upscale (tensors named '<block>.mlp.fc1.weight', "
                "fc1.bias, fc2.weight, fc2.bias; docs/model.md)");
  }
  return modules;
}

std::string mlp_of(const std::string& name) {
  for (const char* leaf : kMlpLeaves) {
    const std::string tail = std::string(".mlp.") + leaf;
    if (ends_with(name, tail)) return name.substr(0, name.size() - std::string(leaf).size());
  }
  return "";
}

// The router of one module, initialised so that its output is init_lambda for every expert.
void add_router(const Context& c, int32_t model, const std::string& mlp, int64_t width,
                int64_t experts, const Settings& s, uint64_t seed,
                std::vector<std::string>* trained) {
  auto put = [&](const std::string& leaf, Tensor t) {
    const std::string name = mlp + "router." + leaf;
    c.model_put(model, name.c_str(), t);
    trained->push_back(name);
  };
  auto normal = [&](const std::vector<int64_t>& shape, uint64_t stream) {
    Tensor t = c.alloc(shape);
    c.fill_random(t, ALLOY_RANDOM_NORMAL, 0.0, s.init_std, seed * 4 + stream);
    return t;
  };
  auto constant = [&](int64_t n, double value) {
    Tensor t = c.alloc({n});
    c.fill(t, value);
    return t;
  };
  if (s.router_layers == 0) {
    put("constant", constant(experts, s.init_lambda));
  } else if (s.router_layers == 1) {
    put("0.weight", normal({experts, width}, 0));
    put("0.bias", constant(experts, s.init_lambda));
  } else {
    put("0.weight", normal({width, width}, 0));
    put("0.bias", constant(width, 0.0));
    put("2.weight", normal({experts, width}, 1));
    put("2.bias", constant(experts, s.init_lambda));
  }
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

alloy_status run(alloy_context* raw, void*) {
  return alloy::sdk::guard(raw, [&] {
    const Context c(raw);
    const Settings s = read_settings(c);
    const int32_t base = c.base_model();
    const std::vector<int32_t> experts = c.fine_tuned_models();
    const int64_t t_count = static_cast<int64_t>(experts.size());
    if (s.steps > 0 && c.task_count() == 0) {
      throw Error(ALLOY_ERR_INVALID_ARGUMENT,
                  "WEMoE adapts its routers on unlabelled inputs of every task: give the config a "
                  "data: section with the suite (or task file) and the heads (docs/config.md), "
                  "or set steps: 0");
    }
    std::vector<std::string> expert_tasks;
    std::vector<int32_t> adapted_tasks;  // the experts' tasks: the data may hold more
    for (const int32_t e : experts) {
      const int32_t task = c.model_task(e);
      if (task == ALLOY_GLOBAL && s.steps > 0) {
        throw Error(ALLOY_ERR_INVALID_ARGUMENT,
                    "model '" + c.model_name(e) +
                        "' has no task of the data to adapt on: give it a task: in the config "
                        "(by default, the task named like its folder or file)");
      }
      expert_tasks.push_back(task == ALLOY_GLOBAL ? c.model_name(e) : c.task_name(task));
      if (task != ALLOY_GLOBAL) adapted_tasks.push_back(task);
    }
    const std::vector<std::string> names = c.tensor_names(base);
    const std::vector<std::string> modules = mlp_modules(c, base, names);

    // The upscaled model: Task Arithmetic outside the MLPs, the task vectors of the MLP
    // tensors as experts, routers. The MLPs' own tensors stay the base's (not put: a derived
    // model's missing tensors are the base model's).
    const int32_t upscaled = c.model_create("WEMoE upscaled model");
    std::vector<std::string> added;  // tensors the base model does not have, in output order
    std::map<std::string, std::vector<std::string>> added_after;  // fc2.bias -> experts, router
    std::vector<std::string> routers;
    for (std::size_t i = 0; i < names.size(); ++i) {
      c.check_cancelled();
      const std::string& name = names[i];
      if (!Context::is_float(c.tensor_dtype(base, name.c_str()))) continue;
      Tensor b = c.get(base, name.c_str());
      const std::string mlp = mlp_of(name);
      if (mlp.empty()) {
        Tensor merged = c.alloc_like(b);
        c.copy(merged, b);
        for (const int32_t e : experts) {
          c.axpby(s.init_lambda, alloy_plugins::task_vector(c, b, e, name.c_str()), 1.0, merged);
        }
        c.model_put(upscaled, name.c_str(), merged);
      } else {
        const std::string leaf = name.substr(mlp.size());
        for (int64_t t = 0; t < t_count; ++t) {
          const std::string expert_name = mlp + "experts." + std::to_string(t) + "." + leaf;
          c.model_put(
              upscaled, expert_name.c_str(),
              alloy_plugins::task_vector(c, b, experts[static_cast<std::size_t>(t)], name.c_str()));
          added_after[mlp + "fc2.bias"].push_back(expert_name);
        }
      }
      c.progress(i + 1, names.size());
    }
    for (std::size_t m = 0; m < modules.size(); ++m) {
      const int64_t width = c.tensor_shape(base, (modules[m] + "fc1.weight").c_str()).at(1);
      std::vector<std::string> router;
      add_router(c, upscaled, modules[m], width, t_count, s,
                 static_cast<uint64_t>(s.seed) * 1000 + m, &router);
      for (const std::string& r : router) added_after[modules[m] + "fc2.bias"].push_back(r);
      routers.insert(routers.end(), router.begin(), router.end());
    }

    if (s.steps > 0) {
      alloy_train_options o = Context::train_options();
      const bool entropy = s.objective == "entropy";
      o.objective = entropy ? ALLOY_OBJECTIVE_ENTROPY : ALLOY_OBJECTIVE_CROSS_ENTROPY;
      o.split = s.split.c_str();
      o.steps = s.steps;
      o.batch_per_task = s.batch_size;
      o.lr = s.lr;
      o.flags = s.batch_reduce ? ALLOY_TRAIN_SHARED_GATES : 0u;
      o.seed = static_cast<uint64_t>(s.seed);
      o.tasks = adapted_tasks.data();
      o.task_count = static_cast<int32_t>(adapted_tasks.size());
      const std::vector<double> losses = c.train(upscaled, routers, o);
      c.log(ALLOY_LOG_INFO,
            "adapted " + std::to_string(routers.size()) + " router tensors of " +
                std::to_string(modules.size()) + " MLPs for " + std::to_string(s.steps) +
                " steps: " + (entropy ? "entropy " : "cross-entropy ") +
                std::to_string(losses.front()) + " -> " + std::to_string(losses.back()));
    }

    // The output: the base model's tensors in its order, each module's experts and router after
    // its fc2.bias; described in __metadata__ (docs/model.md).
    std::string modules_json = "[";
    for (std::size_t m = 0; m < modules.size(); ++m) {
      modules_json += std::string(m ? "," : "") + "{\"kind\":\"wemoe_mlp\",\"module\":" +
                      json_string(modules[m].substr(0, modules[m].size() - 1)) +
                      ",\"experts\":" + std::to_string(t_count) +
                      ",\"router_hidden_layers\":" + std::to_string(s.router_layers) +
                      ",\"routing\":\"per_sample_token_mean\"}";
    }
    std::string tasks_json = "[";
    for (std::size_t t = 0; t < expert_tasks.size(); ++t) {
      tasks_json += std::string(t ? "," : "") + json_string(expert_tasks[t]);
    }
    c.output_metadata("modules", modules_json + "]");
    c.output_metadata("experts", tasks_json + "]");
    std::vector<std::string> order;
    for (const std::string& name : names) {
      order.push_back(name);
      const auto after = added_after.find(name);
      if (after != added_after.end())
        order.insert(order.end(), after->second.begin(), after->second.end());
    }
    for (const std::string& name : order) {
      const int32_t from = c.has_tensor(upscaled, name.c_str()) ? upscaled : base;
      c.declare(name.c_str(), c.tensor_shape(from, name.c_str()),
                c.tensor_dtype(from, name.c_str()));
    }
    for (const std::string& name : order) {
      c.check_cancelled();
      const int32_t from = c.has_tensor(upscaled, name.c_str()) ? upscaled : base;
      c.put(name.c_str(), c.get(from, name.c_str(), ALLOY_STORED));
    }
    c.model_drop(upscaled);
  });
}

const alloy_plugin kPlugin = {
    ALLOY_ABI_MAJOR,
    3,  // derived models (1.1), training, random fills and metadata (1.3)
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    "wemoe",
    "1.0.0",
    "WEMoE: upscale MLPs into task-vector experts with routers adapted at test time",
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
