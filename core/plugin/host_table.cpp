#include "plugin/host_table.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <variant>

#include "compute/truncated_svd.hpp"
#include "error.hpp"
#include "plugin/job_services.hpp"

namespace alloy {
namespace {

// Runs `body`, mapping every exception to a status with its message on ctx. Nothing thrown
// inside liballoy may unwind into plugin code.
template <typename Body>
alloy_status guarded(alloy_context* ctx, Body&& body) noexcept {
  if (!ctx) return ALLOY_ERR_INVALID_ARGUMENT;
  try {
    body();
    return ALLOY_OK;  // ctx->error keeps the last failure, as alloy.h promises
  } catch (const Error& e) {
    ctx->error = e.what();
    return e.status();
  } catch (const std::bad_alloc&) {
    ctx->error = "out of memory";
    return ALLOY_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    ctx->error = e.what();
    return ALLOY_ERR_INTERNAL;
  }
}

const Tensor& in(const alloy_tensor* t, const char* what) {
  if (!t) fail(ALLOY_ERR_INVALID_ARGUMENT, "{} is a null tensor", what);
  return t->tensor;
}

Tensor& out(alloy_tensor* t, const char* what) {
  if (!t) fail(ALLOY_ERR_INVALID_ARGUMENT, "{} is a null tensor", what);
  return t->tensor;
}

template <typename T>
T& non_null(T* p, const char* what) {
  if (!p) fail(ALLOY_ERR_INVALID_ARGUMENT, "{} is null", what);
  return *p;
}

const char* name_arg(const char* name) {
  if (!name) fail(ALLOY_ERR_INVALID_ARGUMENT, "tensor name is null");
  return name;
}

const Model& model_at(alloy_context* ctx, int32_t model) {
  if (!ctx->job->registry().valid(model)) {
    fail(ALLOY_ERR_NOT_FOUND, "no model with index {} (the job has {})", model,
         ctx->job->registry().size());
  }
  return ctx->job->registry().model(model);
}

Shape shape_arg(int32_t ndim, const int64_t* shape) {
  if (ndim < 0 || static_cast<std::size_t>(ndim) > kMaxRank || (ndim > 0 && !shape)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "bad shape: rank {} (0 to {} allowed)", ndim, kMaxRank);
  }
  return Shape(shape, shape + ndim);
}

DType dtype_arg(DLDataType type) {
  DType dtype;
  if (!from_dlpack(type, &dtype)) {
    fail(ALLOY_ERR_DTYPE, "unsupported DLPack dtype (code {}, bits {}, lanes {})", type.code,
         type.bits, type.lanes);
  }
  return dtype;
}

template <typename T>
alloy_status read_param(alloy_context* ctx, const char* name, int32_t model, T* value) {
  return guarded(ctx, [&] {
    const ParamValue& v = ctx->job->param(name_arg(name), model);
    non_null(value, "output pointer");
    if constexpr (std::is_same_v<T, double>) {
      if (const auto* i = std::get_if<int64_t>(&v)) {
        *value = static_cast<double>(*i);
        return;
      }
    }
    const auto* typed = std::get_if<T>(&v);
    if (!typed) fail(ALLOY_ERR_DTYPE, "parameter '{}' is not of the type asked for", name);
    *value = *typed;
  });
}

// --- diagnostics ---

void host_log(alloy_context* ctx, int32_t level, const char* message) {
  if (ctx && ctx->job && message) ctx->job->log(level, message);
}

alloy_status host_set_error(alloy_context* ctx, alloy_status status, const char* message) {
  if (ctx) ctx->error = message ? message : "";
  return status;
}

const char* host_last_error(alloy_context* ctx) { return ctx ? ctx->error.c_str() : ""; }

void host_progress(alloy_context* ctx, uint64_t done, uint64_t total) {
  if (ctx && ctx->job) ctx->job->progress(done, total);
}

int32_t host_is_cancelled(alloy_context* ctx) {
  return ctx && ctx->job && ctx->job->cancelled() ? 1 : 0;
}

// --- parameters ---

alloy_status host_param_f64(alloy_context* ctx, const char* name, int32_t model, double* v) {
  return read_param(ctx, name, model, v);
}
alloy_status host_param_i64(alloy_context* ctx, const char* name, int32_t model, int64_t* v) {
  return read_param(ctx, name, model, v);
}
alloy_status host_param_bool(alloy_context* ctx, const char* name, int32_t model, int32_t* v) {
  bool b = false;
  const alloy_status status = read_param(ctx, name, model, &b);
  if (status == ALLOY_OK && v) *v = b ? 1 : 0;
  return status;
}
alloy_status host_param_string(alloy_context* ctx, const char* name, int32_t model,
                               const char** v) {
  return guarded(ctx, [&] {
    const ParamValue& value = ctx->job->param(name_arg(name), model);
    const auto* s = std::get_if<std::string>(&value);
    if (!s) fail(ALLOY_ERR_DTYPE, "parameter '{}' is not a string", name);
    non_null(v, "output pointer") = s->c_str();
  });
}

// --- registry ---

int32_t host_model_count(alloy_context* ctx) { return ctx ? ctx->job->registry().size() : 0; }
int32_t host_base_model(alloy_context* ctx) { return ctx ? ctx->job->base_model() : -1; }
int32_t host_model_role(alloy_context* ctx, int32_t model) {
  return ctx && ctx->job->registry().valid(model) ? ctx->job->registry().model(model).role() : 0;
}
const char* host_model_name(alloy_context* ctx, int32_t model) {
  return ctx && ctx->job->registry().valid(model) ? ctx->job->registry().model(model).name().c_str()
                                                  : nullptr;
}
int64_t host_tensor_count(alloy_context* ctx, int32_t model) {
  if (!ctx || !ctx->job->registry().valid(model)) return -1;
  return static_cast<int64_t>(ctx->job->registry().model(model).tensors().size());
}
const char* host_tensor_name(alloy_context* ctx, int32_t model, int64_t index) {
  if (!ctx || !ctx->job->registry().valid(model)) return nullptr;
  const auto& tensors = ctx->job->registry().model(model).tensors();
  if (index < 0 || static_cast<uint64_t>(index) >= tensors.size()) return nullptr;
  return tensors[static_cast<std::size_t>(index)].name.c_str();
}
int32_t host_has_tensor(alloy_context* ctx, int32_t model, const char* name) {
  if (!ctx || !name || !ctx->job->registry().valid(model)) return 0;
  return ctx->job->registry().model(model).find(name) ? 1 : 0;
}

alloy_status host_tensor_describe(alloy_context* ctx, int32_t model, const char* name,
                                  DLDataType* dtype, int32_t* ndim, int64_t* shape,
                                  int32_t capacity) {
  return guarded(ctx, [&] {
    const Model& m = model_at(ctx, model);
    const TensorEntry* entry = m.find(name_arg(name));
    if (!entry) fail(ALLOY_ERR_NOT_FOUND, "model '{}' has no tensor '{}'", m.name(), name);
    const auto rank = static_cast<int32_t>(entry->shape.size());
    if (shape && capacity < rank) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "shape buffer holds {} dims, tensor '{}' has {}", capacity,
           name, rank);
    }
    if (dtype) *dtype = to_dlpack(entry->dtype);
    if (ndim) *ndim = rank;
    if (shape) std::copy(entry->shape.begin(), entry->shape.end(), shape);
  });
}

alloy_status host_tensor_get(alloy_context* ctx, int32_t model, const char* name, DLDataType dtype,
                             alloy_tensor** result) {
  return guarded(ctx, [&] {
    non_null(result, "output pointer");
    const Model& source = model_at(ctx, model);
    const Tensor stored = source.read(name_arg(name));
    Provider& provider = ctx->job->provider();
    auto handle = std::make_unique<alloy_tensor>();
    handle->tensor = provider.to_device(stored);
    if (dtype.bits != 0 && dtype_arg(dtype) != stored.dtype()) {
      Tensor converted = provider.allocate(dtype_arg(dtype), stored.shape());
      provider.copy(converted, handle->tensor);
      handle->tensor = std::move(converted);
      source.release(name);  // the mapped bytes are no longer needed
    } else if (handle->tensor.buffer() == stored.buffer()) {
      handle->source = &source;  // a view of the mapping: drop its pages when given back
      handle->name = name;
    }
    *result = handle.release();
  });
}

alloy_status host_tensor_alloc(alloy_context* ctx, DLDataType dtype, int32_t ndim,
                               const int64_t* shape, alloy_tensor** result) {
  return guarded(ctx, [&] {
    non_null(result, "output pointer");
    Tensor t = ctx->job->provider().allocate(dtype_arg(dtype), shape_arg(ndim, shape));
    *result = new alloy_tensor{std::move(t), nullptr, {}};
  });
}

void host_tensor_release(alloy_tensor* tensor) { delete tensor; }

alloy_status host_tensor_view(alloy_context* ctx, const alloy_tensor* tensor, DLTensor* view) {
  return guarded(ctx, [&] {
    const Tensor& t = in(tensor, "tensor");
    DLTensor& v = non_null(view, "view");
    v.data = t.data();
    v.device = t.device();
    v.ndim = t.ndim();
    v.dtype = to_dlpack(t.dtype());
    // The shape vector lives in the handle, so the pointer stays valid while it is held.
    v.shape = const_cast<int64_t*>(t.shape().data());
    v.strides = nullptr;  // compact row-major
    v.byte_offset = 0;
  });
}

alloy_status host_tensor_download(alloy_context* ctx, const alloy_tensor* tensor, void* dst,
                                  uint64_t bytes) {
  return guarded(ctx, [&] {
    if (!dst) fail(ALLOY_ERR_INVALID_ARGUMENT, "dst is null");
    ctx->job->provider().download(in(tensor, "tensor"), dst, bytes);
  });
}

alloy_status host_tensor_upload(alloy_context* ctx, alloy_tensor* tensor, const void* src,
                                uint64_t bytes) {
  return guarded(ctx, [&] {
    if (!src) fail(ALLOY_ERR_INVALID_ARGUMENT, "src is null");
    ctx->job->provider().upload(out(tensor, "tensor"), src, bytes);
  });
}

// --- output ---

alloy_status host_output_declare(alloy_context* ctx, const char* name, DLDataType dtype,
                                 int32_t ndim, const int64_t* shape) {
  return guarded(ctx, [&] {
    ctx->job->declare_output(name_arg(name), dtype_arg(dtype), shape_arg(ndim, shape));
  });
}
int64_t host_output_count(alloy_context* ctx) {
  return ctx ? static_cast<int64_t>(ctx->job->output_names().size()) : 0;
}
const char* host_output_name(alloy_context* ctx, int64_t index) {
  if (!ctx) return nullptr;
  const auto& names = ctx->job->output_names();
  if (index < 0 || static_cast<uint64_t>(index) >= names.size()) return nullptr;
  return names[static_cast<std::size_t>(index)].c_str();
}
alloy_status host_output_put(alloy_context* ctx, const char* name, const alloy_tensor* tensor) {
  return guarded(ctx, [&] { ctx->job->put_output(name_arg(name), in(tensor, "tensor")); });
}

// --- compute ---

alloy_status host_copy(alloy_context* ctx, alloy_tensor* dst, const alloy_tensor* src) {
  return guarded(ctx, [&] { ctx->job->provider().copy(out(dst, "dst"), in(src, "src")); });
}
alloy_status host_fill(alloy_context* ctx, alloy_tensor* dst, double value) {
  return guarded(ctx, [&] { ctx->job->provider().fill(out(dst, "dst"), value); });
}
alloy_status host_unary(alloy_context* ctx, int32_t op, alloy_tensor* dst, const alloy_tensor* src,
                        double alpha, double beta) {
  return guarded(
      ctx, [&] { ctx->job->provider().unary(op, out(dst, "dst"), in(src, "src"), alpha, beta); });
}
alloy_status host_binary(alloy_context* ctx, int32_t op, alloy_tensor* dst, const alloy_tensor* a,
                         const alloy_tensor* b) {
  return guarded(ctx,
                 [&] { ctx->job->provider().binary(op, out(dst, "dst"), in(a, "a"), in(b, "b")); });
}
alloy_status host_binary_scalar(alloy_context* ctx, int32_t op, alloy_tensor* dst,
                                const alloy_tensor* a, double scalar) {
  return guarded(
      ctx, [&] { ctx->job->provider().binary_scalar(op, out(dst, "dst"), in(a, "a"), scalar); });
}
alloy_status host_axpby(alloy_context* ctx, double alpha, const alloy_tensor* x, double beta,
                        alloy_tensor* y) {
  return guarded(ctx, [&] { ctx->job->provider().axpby(alpha, in(x, "x"), beta, out(y, "y")); });
}
alloy_status host_reduce(alloy_context* ctx, int32_t op, const alloy_tensor* x, double* result) {
  return guarded(ctx, [&] {
    non_null(result, "output pointer");
    *result = ctx->job->provider().reduce(op, in(x, "x"));
  });
}
alloy_status host_kth_magnitude(alloy_context* ctx, const alloy_tensor* x, uint64_t k,
                                double* result) {
  return guarded(ctx, [&] {
    non_null(result, "output pointer");
    *result = ctx->job->provider().kth_magnitude(in(x, "x"), k);
  });
}
alloy_status host_topk_mask(alloy_context* ctx, alloy_tensor* mask, const alloy_tensor* x,
                            uint64_t k) {
  return guarded(ctx, [&] { ctx->job->provider().topk_mask(out(mask, "mask"), in(x, "x"), k); });
}
alloy_status host_magnitude_histogram(alloy_context* ctx, const alloy_tensor* x, int32_t level,
                                      uint32_t prefix, uint64_t* counts) {
  return guarded(ctx, [&] {
    ctx->job->provider().magnitude_histogram(in(x, "x"), level, prefix,
                                             &non_null(counts, "counts"));
  });
}
alloy_status host_sign_elect(alloy_context* ctx, int32_t method, alloy_tensor* dst, int32_t n,
                             const alloy_tensor* const* xs) {
  return guarded(ctx, [&] {
    if (n < 0 || (n > 0 && !xs)) fail(ALLOY_ERR_INVALID_ARGUMENT, "bad tensor list ({})", n);
    std::vector<const Tensor*> inputs;
    for (int32_t i = 0; i < n; ++i) inputs.push_back(&in(xs[i], "xs[i]"));
    ctx->job->provider().sign_elect(method, out(dst, "dst"), inputs);
  });
}
alloy_status host_where(alloy_context* ctx, alloy_tensor* dst, const alloy_tensor* cond,
                        const alloy_tensor* a, const alloy_tensor* b) {
  return guarded(ctx, [&] {
    ctx->job->provider().where(out(dst, "dst"), in(cond, "cond"), in(a, "a"),
                               b ? &b->tensor : nullptr);
  });
}
alloy_status host_gemm(alloy_context* ctx, int32_t trans_a, int32_t trans_b, double alpha,
                       const alloy_tensor* a, const alloy_tensor* b, double beta, alloy_tensor* c) {
  return guarded(ctx, [&] {
    ctx->job->provider().gemm(trans_a != 0, trans_b != 0, alpha, in(a, "a"), in(b, "b"), beta,
                              out(c, "c"));
  });
}

// --- 1.1: derived models, tasks, layer inputs ---

alloy_status host_model_create(alloy_context* ctx, const char* name, int32_t* out_model) {
  return guarded(ctx, [&] {
    if (!name) fail(ALLOY_ERR_INVALID_ARGUMENT, "model name is null");
    int32_t& out_index = non_null(out_model, "out_model");
    out_index = ctx->job->create_model(name);
  });
}
alloy_status host_model_put(alloy_context* ctx, int32_t model, const char* name,
                            const alloy_tensor* tensor) {
  return guarded(ctx,
                 [&] { ctx->job->put_model_tensor(model, name_arg(name), in(tensor, "tensor")); });
}
alloy_status host_model_drop(alloy_context* ctx, int32_t model) {
  return guarded(ctx, [&] { ctx->job->drop_model(model); });
}
int32_t host_task_count(alloy_context* ctx) { return ctx && ctx->job ? ctx->job->task_count() : 0; }
const char* host_task_name(alloy_context* ctx, int32_t task) {
  if (!ctx || !ctx->job || task < 0 || task >= ctx->job->task_count()) return nullptr;
  return ctx->job->task_name(task).c_str();
}
int32_t host_model_task(alloy_context* ctx, int32_t model) {
  if (!ctx || !ctx->job || !ctx->job->registry().valid(model)) return ALLOY_GLOBAL;
  const int32_t task = ctx->job->model_task(model);
  return task >= 0 ? task : ALLOY_GLOBAL;
}
alloy_status host_features_collect(alloy_context* ctx, int32_t model, int32_t task,
                                   int64_t exemplars, const char* const* layers,
                                   int32_t layer_count, int32_t* out_model) {
  return guarded(ctx, [&] {
    if (layer_count < 0 || (layer_count > 0 && !layers)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "bad layer list: {} names at {}", layer_count,
           static_cast<const void*>(layers));
    }
    int32_t& out_index = non_null(out_model, "out_model");
    std::vector<std::string> names;
    for (int32_t i = 0; i < layer_count; ++i) {
      if (!layers[i]) fail(ALLOY_ERR_INVALID_ARGUMENT, "layer name {} is null", i);
      names.emplace_back(layers[i]);
    }
    out_index = ctx->job->collect_features(model, task, exemplars, names);
  });
}

// --- 1.2: linear algebra ---

alloy_status host_sym_eig(alloy_context* ctx, const alloy_tensor* a, int64_t k, int32_t largest,
                          alloy_tensor* values, alloy_tensor* vectors) {
  return guarded(ctx, [&] {
    ctx->job->provider().sym_eig(in(a, "a"), k, largest != 0, out(values, "values"),
                                 out(vectors, "vectors"));
  });
}

// --- 1.3: random fills, output metadata, training ---

alloy_status host_fill_random(alloy_context* ctx, alloy_tensor* dst, int32_t distribution, double a,
                              double b, uint64_t seed) {
  return guarded(ctx, [&] {
    if (distribution != ALLOY_RANDOM_UNIFORM && distribution != ALLOY_RANDOM_NORMAL) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown distribution {} (ALLOY_RANDOM_*)", distribution);
    }
    ctx->job->provider().fill_random(out(dst, "dst"), static_cast<Distribution>(distribution), a, b,
                                     seed);
  });
}

alloy_status host_output_metadata(alloy_context* ctx, const char* key, const char* value) {
  return guarded(ctx, [&] {
    if (!key || !value) fail(ALLOY_ERR_INVALID_ARGUMENT, "metadata key or value is null");
    ctx->job->set_output_metadata(key, value);
  });
}

// The options as this host understands them; a struct_size that stops short of a member the
// host needs is refused rather than guessed.
TensorTrainOptions train_options_arg(const alloy_train_options* o) {
  const alloy_train_options& options = non_null(o, "training options");
  if (options.struct_size <
      offsetof(alloy_train_options, task_count) + sizeof(options.task_count)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "training options of {} bytes: set struct_size = sizeof(alloy_train_options) ({} in ABI "
         "1.3)",
         options.struct_size, sizeof(alloy_train_options));
  }
  TensorTrainOptions t;
  switch (options.objective) {
    case ALLOY_OBJECTIVE_ENTROPY:
      t.objective = Objective::entropy;
      break;
    case ALLOY_OBJECTIVE_CROSS_ENTROPY:
      t.objective = Objective::cross_entropy;
      break;
    case ALLOY_OBJECTIVE_TASK_ID:
      t.objective = Objective::task_id;
      break;
    default:
      fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown objective {} (ALLOY_OBJECTIVE_*)",
           options.objective);
  }
  if (options.split) {
    Split split;
    if (!parse_split(options.split, &split)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown split '{}' (train, validation or test)",
           options.split);
    }
    t.split = split;
  }
  switch (options.schedule) {
    case ALLOY_SCHEDULE_CONSTANT:
      t.schedule = Schedule::constant;
      break;
    case ALLOY_SCHEDULE_COSINE:
      t.schedule = Schedule::cosine;
      break;
    case ALLOY_SCHEDULE_LINEAR:
      t.schedule = Schedule::linear;
      break;
    default:
      fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown schedule {} (ALLOY_SCHEDULE_*)", options.schedule);
  }
  if (options.flags & ~ALLOY_TRAIN_SHARED_GATES) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "unknown training flags {:#x}", options.flags);
  }
  t.steps = options.steps;
  t.batch_per_task = options.batch_per_task;
  t.adam = AdamStep{options.lr, options.beta1, options.beta2, options.eps, options.weight_decay, 1};
  t.shared_gates = options.flags & ALLOY_TRAIN_SHARED_GATES;
  t.seed = options.seed;
  if (options.task_count < 0 || (options.task_count > 0 && !options.tasks)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "bad task list: {} indices at {}", options.task_count,
         static_cast<const void*>(options.tasks));
  }
  t.tasks.assign(options.tasks, options.tasks + options.task_count);
  return t;
}

alloy_status host_model_train(alloy_context* ctx, int32_t model, const char* const* tensors,
                              int32_t tensor_count, const alloy_train_options* options,
                              double* losses) {
  return guarded(ctx, [&] {
    if (tensor_count < 1 || !tensors) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "no tensors to train ({} names at {})", tensor_count,
           static_cast<const void*>(tensors));
    }
    std::vector<std::string> names;
    for (int32_t i = 0; i < tensor_count; ++i) {
      if (!tensors[i]) fail(ALLOY_ERR_INVALID_ARGUMENT, "tensor name {} is null", i);
      names.emplace_back(tensors[i]);
    }
    const TensorTrainOptions parsed = train_options_arg(options);
    const std::vector<double> history = ctx->job->train_model(model, names, parsed);
    if (losses) std::copy(history.begin(), history.end(), losses);
  });
}

// --- 1.4: truncated SVD, split sizes, strategies running strategies ---

alloy_status host_svd(alloy_context* ctx, const alloy_tensor* a, int64_t k, int32_t method,
                      alloy_tensor* u, alloy_tensor* s, alloy_tensor* v) {
  return guarded(ctx, [&] {
    truncated_svd(ctx->job->provider(), static_cast<SvdMethod>(method), in(a, "a"), k, out(u, "u"),
                  out(s, "s"), out(v, "v"));
  });
}

int64_t host_task_inputs(alloy_context* ctx, int32_t task, const char* split) {
  if (!ctx || !ctx->job) return -1;
  std::optional<Split> chosen;
  if (split) {
    Split parsed;
    if (!parse_split(split, &parsed)) return -1;
    chosen = parsed;
  }
  try {
    return ctx->job->task_inputs(task, chosen);
  } catch (const std::exception&) {
    return -1;
  }
}

alloy_status host_strategy_run(alloy_context* ctx, const char* strategy, const char* parameters,
                               const int32_t* models, int32_t model_count, int32_t* out_model) {
  return guarded(ctx, [&] {
    if (!strategy) fail(ALLOY_ERR_INVALID_ARGUMENT, "strategy id is null");
    if (model_count < 0 || (model_count > 0 && !models)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "bad model list: {} indices at {}", model_count,
           static_cast<const void*>(models));
    }
    int32_t& out_index = non_null(out_model, "out_model");
    out_index = ctx->job->run_strategy(strategy, parameters ? parameters : "",
                                       std::vector<int32_t>(models, models + model_count));
  });
}

alloy_host make_table() {
  alloy_host h{};
  h.abi_major = ALLOY_ABI_MAJOR;
  h.abi_minor = ALLOY_ABI_MINOR;
  h.struct_size = sizeof(alloy_host);
  h.log = host_log;
  h.set_error = host_set_error;
  h.last_error = host_last_error;
  h.progress = host_progress;
  h.is_cancelled = host_is_cancelled;
  h.param_f64 = host_param_f64;
  h.param_i64 = host_param_i64;
  h.param_bool = host_param_bool;
  h.param_string = host_param_string;
  h.model_count = host_model_count;
  h.base_model = host_base_model;
  h.model_role = host_model_role;
  h.model_name = host_model_name;
  h.tensor_count = host_tensor_count;
  h.tensor_name = host_tensor_name;
  h.has_tensor = host_has_tensor;
  h.tensor_describe = host_tensor_describe;
  h.tensor_get = host_tensor_get;
  h.tensor_alloc = host_tensor_alloc;
  h.tensor_release = host_tensor_release;
  h.tensor_view = host_tensor_view;
  h.tensor_download = host_tensor_download;
  h.tensor_upload = host_tensor_upload;
  h.output_declare = host_output_declare;
  h.output_count = host_output_count;
  h.output_name = host_output_name;
  h.output_put = host_output_put;
  h.copy = host_copy;
  h.fill = host_fill;
  h.unary = host_unary;
  h.binary = host_binary;
  h.binary_scalar = host_binary_scalar;
  h.axpby = host_axpby;
  h.reduce = host_reduce;
  h.kth_magnitude = host_kth_magnitude;
  h.topk_mask = host_topk_mask;
  h.magnitude_histogram = host_magnitude_histogram;
  h.sign_elect = host_sign_elect;
  h.where = host_where;
  h.gemm = host_gemm;
  h.model_create = host_model_create;
  h.model_put = host_model_put;
  h.model_drop = host_model_drop;
  h.task_count = host_task_count;
  h.task_name = host_task_name;
  h.model_task = host_model_task;
  h.features_collect = host_features_collect;
  h.sym_eig = host_sym_eig;
  h.fill_random = host_fill_random;
  h.output_metadata = host_output_metadata;
  h.model_train = host_model_train;
  h.svd = host_svd;
  h.task_inputs = host_task_inputs;
  h.strategy_run = host_strategy_run;
  return h;
}

}  // namespace

const alloy_host* host_table() {
  static const alloy_host table = make_table();
  return &table;
}

}  // namespace alloy
