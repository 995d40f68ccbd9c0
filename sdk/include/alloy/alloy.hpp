// alloy.hpp - header-only C++ wrapper over alloy.h for plugin authors.
//
// RAII tensors, typed parameter lookup and ops as methods; a failed host call throws
// alloy::sdk::Error inside the plugin, and ALLOY_DEFINE_PLUGIN turns exceptions back into
// status codes at the ABI boundary, so no exception ever crosses into the host. Everything here
// is inline and uses only the host table: a plugin built with it links against nothing.
#ifndef ALLOY_ALLOY_HPP
#define ALLOY_ALLOY_HPP

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "alloy.h"

namespace alloy {
namespace sdk {

class Error : public std::runtime_error {
 public:
  Error(alloy_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  alloy_status status() const { return status_; }

 private:
  alloy_status status_;
};

// The host table the plugin was loaded with; set by ALLOY_DEFINE_PLUGIN's entry point.
inline const alloy_host*& host_table() {
  static const alloy_host* table = nullptr;
  return table;
}

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(alloy_tensor* handle) : handle_(handle) {}
  ~Tensor() { host_table()->tensor_release(handle_); }
  Tensor(Tensor&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Tensor& operator=(Tensor&& other) noexcept {
    if (this != &other) {
      host_table()->tensor_release(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  alloy_tensor* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  alloy_tensor* handle_ = nullptr;
};

// One callback's context: wraps every host call, throwing on failure.
class Context {
 public:
  explicit Context(alloy_context* ctx) : ctx_(ctx), host_(host_table()) {}
  alloy_context* get() const { return ctx_; }
  const alloy_host& host() const { return *host_; }

  void check(alloy_status status) const {
    if (status != ALLOY_OK) throw Error(status, host_->last_error(ctx_));
  }

  // Diagnostics.
  void log(int32_t level, const std::string& message) const {
    host_->log(ctx_, level, message.c_str());
  }
  void progress(uint64_t done, uint64_t total) const { host_->progress(ctx_, done, total); }
  void check_cancelled() const {
    if (host_->is_cancelled(ctx_)) throw Error(ALLOY_ERR_CANCELLED, "cancelled");
  }

  // Parameters: pass a model index for per-model parameters.
  double param_f64(const char* name, int32_t model = ALLOY_GLOBAL) const {
    double v = 0;
    check(host_->param_f64(ctx_, name, model, &v));
    return v;
  }
  int64_t param_i64(const char* name, int32_t model = ALLOY_GLOBAL) const {
    int64_t v = 0;
    check(host_->param_i64(ctx_, name, model, &v));
    return v;
  }
  bool param_bool(const char* name, int32_t model = ALLOY_GLOBAL) const {
    int32_t v = 0;
    check(host_->param_bool(ctx_, name, model, &v));
    return v != 0;
  }
  std::string param_string(const char* name, int32_t model = ALLOY_GLOBAL) const {
    const char* v = nullptr;
    check(host_->param_string(ctx_, name, model, &v));
    return v;
  }

  // Registry.
  int32_t model_count() const { return host_->model_count(ctx_); }
  int32_t base_model() const { return host_->base_model(ctx_); }
  int32_t model_role(int32_t model) const { return host_->model_role(ctx_, model); }
  std::string model_name(int32_t model) const {
    const char* name = host_->model_name(ctx_, model);
    return name ? name : "";
  }
  // Indices of the fine-tuned models (every model but the base), in config order.
  std::vector<int32_t> fine_tuned_models() const {
    std::vector<int32_t> models;
    for (int32_t m = 0; m < model_count(); ++m) {
      if (model_role(m) == ALLOY_ROLE_MODEL) models.push_back(m);
    }
    return models;
  }
  bool has_tensor(int32_t model, const char* name) const {
    return host_->has_tensor(ctx_, model, name) != 0;
  }
  std::vector<int64_t> tensor_shape(int32_t model, const char* name) const {
    int64_t shape[8];
    int32_t ndim = 0;
    check(host_->tensor_describe(ctx_, model, name, nullptr, &ndim, shape, 8));
    return std::vector<int64_t>(shape, shape + ndim);
  }
  DLDataType tensor_dtype(int32_t model, const char* name) const {
    DLDataType dtype;
    check(host_->tensor_describe(ctx_, model, name, &dtype, nullptr, nullptr, 0));
    return dtype;
  }
  static bool is_float(DLDataType t) {
    return (t.code == kDLFloat && (t.bits == 32 || t.bits == 16)) ||
           (t.code == kDLBfloat && t.bits == 16);
  }
  Tensor get(int32_t model, const char* name, DLDataType dtype = ALLOY_F32) const {
    alloy_tensor* t = nullptr;
    check(host_->tensor_get(ctx_, model, name, dtype, &t));
    return Tensor(t);
  }
  Tensor alloc(const std::vector<int64_t>& shape, DLDataType dtype = ALLOY_F32) const {
    alloy_tensor* t = nullptr;
    check(host_->tensor_alloc(ctx_, dtype, static_cast<int32_t>(shape.size()), shape.data(), &t));
    return Tensor(t);
  }
  // Same shape as `like`, zero-filled f32.
  Tensor alloc_like(const Tensor& like) const { return alloc(shape(like)); }
  DLTensor view(const Tensor& t) const {
    DLTensor v;
    check(host_->tensor_view(ctx_, t.get(), &v));
    return v;
  }
  std::vector<int64_t> shape(const Tensor& t) const {
    DLTensor v = view(t);
    return std::vector<int64_t>(v.shape, v.shape + v.ndim);
  }
  uint64_t numel(const Tensor& t) const {
    DLTensor v = view(t);
    uint64_t n = 1;
    for (int32_t i = 0; i < v.ndim; ++i) n *= static_cast<uint64_t>(v.shape[i]);
    return n;
  }

  // An f32 tensor's values in host memory, and a new f32 tensor from host values.
  std::vector<float> download(const Tensor& t) const {
    std::vector<float> values(static_cast<std::size_t>(numel(t)));
    check(host_->tensor_download(ctx_, t.get(), values.data(), values.size() * sizeof(float)));
    return values;
  }
  Tensor upload(const std::vector<float>& values, const std::vector<int64_t>& shape) const {
    Tensor t = alloc(shape);
    check(host_->tensor_upload(ctx_, t.get(), values.data(), values.size() * sizeof(float)));
    return t;
  }

  // Names of a model's tensors, in its order.
  std::vector<std::string> tensor_names(int32_t model) const {
    std::vector<std::string> names;
    const int64_t count = host_->tensor_count(ctx_, model);
    for (int64_t i = 0; i < count; ++i) names.emplace_back(host_->tensor_name(ctx_, model, i));
    return names;
  }

  // ABI 1.1: tensor sets the strategy builds, the job's tasks, layer inputs (see alloy.h; from
  // begin() and run() only).
  int32_t model_create(const std::string& name) const {
    int32_t model = ALLOY_GLOBAL;
    check(host_->model_create(ctx_, name.c_str(), &model));
    return model;
  }
  void model_put(int32_t model, const char* name, const Tensor& t) const {
    check(host_->model_put(ctx_, model, name, t.get()));
  }
  void model_drop(int32_t model) const { check(host_->model_drop(ctx_, model)); }
  int32_t task_count() const { return host_->task_count(ctx_); }
  std::string task_name(int32_t task) const {
    const char* name = host_->task_name(ctx_, task);
    return name ? name : "";
  }
  // ALLOY_GLOBAL when the model has no task.
  int32_t model_task(int32_t model) const { return host_->model_task(ctx_, model); }
  // Index of a new model holding the inputs of `layers` (every layer when empty) when `model`
  // runs on `exemplars` inputs of `task`.
  int32_t collect_features(int32_t model, int32_t task, int64_t exemplars,
                           const std::vector<std::string>& layers = {}) const {
    std::vector<const char*> names;
    for (const std::string& layer : layers) names.push_back(layer.c_str());
    int32_t out = ALLOY_GLOBAL;
    check(host_->features_collect(ctx_, model, task, exemplars,
                                  names.empty() ? nullptr : names.data(),
                                  static_cast<int32_t>(names.size()), &out));
    return out;
  }

  // ABI 1.2: the k largest (or smallest) eigenpairs of a symmetric matrix [n, n]: values [k]
  // and vectors [n, k] (column i for values[i]), allocated here.
  std::pair<Tensor, Tensor> sym_eig(const Tensor& a, int64_t k, bool largest = true) const {
    const std::vector<int64_t> shape_a = shape(a);
    Tensor values = alloc({k});
    Tensor vectors = alloc({shape_a.empty() ? 0 : shape_a[0], k});
    check(host_->sym_eig(ctx_, a.get(), k, largest ? 1 : 0, values.get(), vectors.get()));
    return {std::move(values), std::move(vectors)};
  }

  // ABI 1.3: deterministic random fills (ALLOY_RANDOM_UNIFORM in [a, b), ALLOY_RANDOM_NORMAL
  // mean a, std b), output metadata, and training a derived model's tensors (see alloy.h).
  void fill_random(Tensor& dst, int32_t distribution, double a, double b, uint64_t seed) const {
    check(host_->fill_random(ctx_, dst.get(), distribution, a, b, seed));
  }
  void output_metadata(const std::string& key, const std::string& value) const {
    check(host_->output_metadata(ctx_, key.c_str(), value.c_str()));
  }
  // The defaults are WEMoE's test-time adaptation: entropy, Adam lr 1e-4, 1000 steps of 16.
  static alloy_train_options train_options() {
    alloy_train_options o{};
    o.struct_size = sizeof(alloy_train_options);
    o.objective = ALLOY_OBJECTIVE_ENTROPY;
    o.split = nullptr;
    o.steps = 1000;
    o.batch_per_task = 16;
    o.lr = 1e-4;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = 1e-8;
    o.weight_decay = 0.0;
    o.schedule = ALLOY_SCHEDULE_CONSTANT;
    o.flags = 0;
    o.seed = 0;
    o.tasks = nullptr;
    o.task_count = 0;
    return o;
  }
  // Trains `tensors` of derived model `model`; returns each step's loss.
  std::vector<double> train(int32_t model, const std::vector<std::string>& tensors,
                            const alloy_train_options& options) const {
    std::vector<const char*> names;
    for (const std::string& name : tensors) names.push_back(name.c_str());
    std::vector<double> losses(static_cast<std::size_t>(options.steps > 0 ? options.steps : 0));
    check(host_->model_train(ctx_, model, names.data(), static_cast<int32_t>(names.size()),
                             &options, losses.empty() ? nullptr : losses.data()));
    return losses;
  }

  // ABI 1.4: the k largest singular triplets of a [m, n]: u [m, k], s [k] (descending), v [n, k]
  // with a ~ u diag(s) v^T, allocated here; method ALLOY_SVD_EXACT or ALLOY_SVD_RANDOMIZED.
  struct Svd {
    Tensor u, s, v;
  };
  Svd svd(const Tensor& a, int64_t k, int32_t method = ALLOY_SVD_EXACT) const {
    const std::vector<int64_t> shape_a = shape(a);
    if (shape_a.size() != 2) throw Error(ALLOY_ERR_SHAPE, "svd: a must be a matrix");
    Svd out{alloc({shape_a[0], k}), alloc({k}), alloc({shape_a[1], k})};
    check(host_->svd(ctx_, a.get(), k, method, out.u.get(), out.s.get(), out.v.get()));
    return out;
  }
  // Inputs of a task's split ("train", "validation", "test"; nullptr: the config's data.split).
  int64_t task_inputs(int32_t task, const char* split = nullptr) const {
    const int64_t count = host_->task_inputs(ctx_, task, split);
    if (count < 0) {
      throw Error(ALLOY_ERR_INVALID_ARGUMENT, "task " + std::to_string(task) + " has no split '" +
                                                  std::string(split ? split : "(data.split)") +
                                                  "' of images");
    }
    return count;
  }
  // Runs the loaded strategy `strategy` with `parameters` (a YAML mapping, "" for its defaults)
  // over the base model and `models` (empty: every fine-tuned model); returns the index of the
  // derived model that holds its output.
  int32_t run_strategy(const std::string& strategy, const std::string& parameters,
                       const std::vector<int32_t>& models = {}) const {
    int32_t out = ALLOY_GLOBAL;
    check(host_->strategy_run(ctx_, strategy.c_str(), parameters.c_str(),
                              models.empty() ? nullptr : models.data(),
                              static_cast<int32_t>(models.size()), &out));
    return out;
  }

  // Output.
  std::vector<std::string> output_names() const {
    std::vector<std::string> names;
    const int64_t count = host_->output_count(ctx_);
    for (int64_t i = 0; i < count; ++i) names.emplace_back(host_->output_name(ctx_, i));
    return names;
  }
  void put(const char* name, const Tensor& t) const {
    check(host_->output_put(ctx_, name, t.get()));
  }
  void declare(const char* name, const std::vector<int64_t>& shape,
               DLDataType dtype = ALLOY_F32) const {
    check(
        host_->output_declare(ctx_, name, dtype, static_cast<int32_t>(shape.size()), shape.data()));
  }

  // Compute on the job's provider.
  void copy(Tensor& dst, const Tensor& src) const {
    check(host_->copy(ctx_, dst.get(), src.get()));
  }
  void fill(Tensor& dst, double value) const { check(host_->fill(ctx_, dst.get(), value)); }
  void unary(int32_t op, Tensor& dst, const Tensor& src, double alpha = 0, double beta = 0) const {
    check(host_->unary(ctx_, op, dst.get(), src.get(), alpha, beta));
  }
  void binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b) const {
    check(host_->binary(ctx_, op, dst.get(), a.get(), b.get()));
  }
  void binary_scalar(int32_t op, Tensor& dst, const Tensor& a, double scalar) const {
    check(host_->binary_scalar(ctx_, op, dst.get(), a.get(), scalar));
  }
  // y = alpha * x + beta * y
  void axpby(double alpha, const Tensor& x, double beta, Tensor& y) const {
    check(host_->axpby(ctx_, alpha, x.get(), beta, y.get()));
  }
  double reduce(int32_t op, const Tensor& x) const {
    double v = 0;
    check(host_->reduce(ctx_, op, x.get(), &v));
    return v;
  }
  double kth_magnitude(const Tensor& x, uint64_t k) const {
    double v = 0;
    check(host_->kth_magnitude(ctx_, x.get(), k, &v));
    return v;
  }
  void topk_mask(Tensor& mask, const Tensor& x, uint64_t k) const {
    check(host_->topk_mask(ctx_, mask.get(), x.get(), k));
  }
  void magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                           uint64_t* counts) const {
    check(host_->magnitude_histogram(ctx_, x.get(), level, prefix, counts));
  }
  void sign_elect(int32_t method, Tensor& dst, const std::vector<const Tensor*>& xs) const {
    std::vector<const alloy_tensor*> handles;
    handles.reserve(xs.size());
    for (const Tensor* x : xs) handles.push_back(x->get());
    check(host_->sign_elect(ctx_, method, dst.get(), static_cast<int32_t>(handles.size()),
                            handles.data()));
  }
  // dst = cond != 0 ? a : b (b null: 0)
  void where(Tensor& dst, const Tensor& cond, const Tensor& a, const Tensor* b = nullptr) const {
    check(host_->where(ctx_, dst.get(), cond.get(), a.get(), b ? b->get() : nullptr));
  }
  void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
            Tensor& c) const {
    check(host_->gemm(ctx_, trans_a ? 1 : 0, trans_b ? 1 : 0, alpha, a.get(), b.get(), beta,
                      c.get()));
  }

 private:
  alloy_context* ctx_;
  const alloy_host* host_;
};

// Runs `body` and turns any exception into a status with its message on ctx: the only way
// a C++ plugin should leave a callback.
template <typename Body>
alloy_status guard(alloy_context* ctx, Body&& body) noexcept {
  try {
    body();
    return ALLOY_OK;
  } catch (const Error& e) {
    return host_table()->set_error(ctx, e.status(), e.what());
  } catch (const std::exception& e) {
    return host_table()->set_error(ctx, ALLOY_ERR_PLUGIN, e.what());
  } catch (...) {
    return host_table()->set_error(ctx, ALLOY_ERR_PLUGIN, "unknown exception in plugin");
  }
}

}  // namespace sdk
}  // namespace alloy

// Defines alloy_plugin_entry returning `descriptor` (an alloy_plugin with static storage).
// Refuses (returns NULL) a host whose table is older than the one the plugin was built with.
#define ALLOY_DEFINE_PLUGIN(descriptor)                                                           \
  extern "C" ALLOY_PLUGIN_EXPORT const alloy_plugin* alloy_plugin_entry(const alloy_host* host) { \
    if (host == nullptr || host->abi_major != ALLOY_ABI_MAJOR ||                                  \
        host->struct_size < sizeof(alloy_host)) {                                                 \
      return nullptr;                                                                             \
    }                                                                                             \
    ::alloy::sdk::host_table() = host;                                                            \
    return &(descriptor);                                                                         \
  }

#endif  // ALLOY_ALLOY_HPP
