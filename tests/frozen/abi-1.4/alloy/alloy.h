/*
 * alloy.h - the stable C ABI between the alloy host and merge-strategy plugins.
 *
 * ABI 1.4 (1.0 plus the members marked "1.1" to "1.4" at the end of alloy_host). C99, no
 * dependencies beyond <stdint.h>, <stddef.h> and the pinned dlpack.h beside this file. A plugin is
 * a shared library that exports exactly one symbol, alloy_plugin_entry.
 *
 * Rules that hold for every declaration below (the ABI contract):
 *
 *  - Versioning. Every table starts with abi_major, abi_minor, struct_size. Tables only grow at
 *    the end; members are never removed, reordered or retyped. A reader checks struct_size
 *    before touching a member added after 1.0 (see ALLOY_HAS_MEMBER). The host refuses a plugin
 *    whose abi_major differs from its own, or whose abi_minor is newer than its own.
 *  - Types. Only fixed-width integers, double, const char* (UTF-8, NUL-terminated), opaque
 *    handles and DLPack value types cross the boundary. Enumerations are int32_t constants.
 *  - Errors. Functions that can fail return an alloy_status (ALLOY_OK == 0). The message of a
 *    failed host call is kept in the per-call context and read with host->last_error(ctx); a
 *    plugin reports its own failure with host->set_error(ctx, status, message) and returns
 *    that status. There is no global error state. Output arguments are left untouched when a
 *    call fails.
 *  - Ownership. Each declaration says which of these applies:
 *      borrowed: valid until the callback that received it returns (or for the stated life);
 *                the receiver must not free it.
 *      owned:    the receiver must give it back (alloy_host.tensor_release). Whoever
 *                allocates frees: the host never frees memory a plugin allocated, and the
 *                reverse.
 *  - Threading. The host table and the plugin descriptor are immutable and may be used from
 *    any thread. A context (alloy_context*) belongs to one callback invocation on one thread;
 *    do not keep it or pass it to another thread. Tensor handles may be used from any thread
 *    but not written concurrently. When the plugin sets ALLOY_PLUGIN_THREAD_SAFE, the host may
 *    call merge() concurrently for different tensors of one job.
 *  - Life. The host never unloads a plugin library while the process lives, so static data
 *    returned by the plugin (the descriptor, parameter specs, strings) stays valid.
 */
#ifndef ALLOY_ALLOY_H
#define ALLOY_ALLOY_H

#include <stddef.h>
#include <stdint.h>

#include "dlpack.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ALLOY_ABI_MAJOR 1
#define ALLOY_ABI_MINOR 4

/* True when a table whose struct_size is `size` holds `member` (a member added after 1.0). */
#define ALLOY_HAS_MEMBER(table_ptr, type, member) \
  ((table_ptr)->struct_size >= offsetof(type, member) + sizeof(((type*)0)->member))

#if defined(_WIN32)
#define ALLOY_PLUGIN_EXPORT __declspec(dllexport)
#else
#define ALLOY_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------------------------------- */
/* Status codes                                                                              */
/* ---------------------------------------------------------------------------------------- */

typedef int32_t alloy_status;

#define ALLOY_OK 0
#define ALLOY_ERR_INVALID_ARGUMENT 1 /* a bad value: null handle, k out of range, ... */
#define ALLOY_ERR_NOT_FOUND 2        /* no such model, tensor or parameter */
#define ALLOY_ERR_SHAPE 3            /* shapes that do not fit together */
#define ALLOY_ERR_DTYPE 4            /* a dtype the call does not take */
#define ALLOY_ERR_OUT_OF_MEMORY 5
#define ALLOY_ERR_IO 6
#define ALLOY_ERR_CANCELLED 7 /* the user cancelled the job; return it upwards */
#define ALLOY_ERR_UNSUPPORTED 8
#define ALLOY_ERR_READ_ONLY 9 /* an op was asked to write into a read-only tensor */
#define ALLOY_ERR_INTERNAL 10
#define ALLOY_ERR_PLUGIN 11 /* generic failure reported by a plugin */

/* ---------------------------------------------------------------------------------------- */
/* Opaque handles                                                                            */
/* ---------------------------------------------------------------------------------------- */

/* One callback invocation: its job, its provider, its error slot. Borrowed by every callback. */
typedef struct alloy_context alloy_context;

/* A tensor living on the job's provider device. Owned by whoever received it from
 * tensor_get/tensor_alloc, given back with tensor_release. Tensors from tensor_get are
 * read-only (they may map the input file); tensors from tensor_alloc are writable. */
typedef struct alloy_tensor alloy_tensor;

/* ---------------------------------------------------------------------------------------- */
/* Constants                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* Model index meaning "no model": global parameters, or no base model. */
#define ALLOY_GLOBAL (-1)

/* Model roles (alloy_host.model_role). */
#define ALLOY_ROLE_BASE 1     /* the pretrained model task vectors are taken against */
#define ALLOY_ROLE_MODEL 2    /* a fine-tuned model (an expert, a task) */
#define ALLOY_ROLE_DERIVED 3  /* 1.1: a tensor set a strategy built (model_create) */
#define ALLOY_ROLE_FEATURES 4 /* 1.1: layer inputs the host collected (features_collect) */

/* Log levels (alloy_host.log). */
#define ALLOY_LOG_DEBUG 0
#define ALLOY_LOG_INFO 1
#define ALLOY_LOG_WARN 2
#define ALLOY_LOG_ERROR 3

/* Parameter types (alloy_param_spec.type). */
#define ALLOY_PARAM_F64 1    /* read with param_f64 */
#define ALLOY_PARAM_I64 2    /* read with param_i64 (or param_f64) */
#define ALLOY_PARAM_BOOL 3   /* read with param_bool; YAML true/false */
#define ALLOY_PARAM_STRING 4 /* read with param_string */

/* Parameter scopes (alloy_param_spec.scope). */
#define ALLOY_SCOPE_GLOBAL 0 /* one value for the job: top-level `parameters:` */
#define ALLOY_SCOPE_MODEL                                               \
  1 /* one value per model: `models[i].parameters`, falling back to the \
       top-level `parameters:`, then to the default */

/* Plugin flags (alloy_plugin.flags). */
#define ALLOY_PLUGIN_THREAD_SAFE 0x1u /* merge() may run concurrently for different tensors */
#define ALLOY_PLUGIN_NEEDS_BASE 0x2u  /* the job must name a base_model */
#define ALLOY_PLUGIN_DECLARES_OUTPUTS                    \
  0x4u /* the host does not pre-declare the base model's \
          tensors as outputs; the plugin declares its own */

/* Element-wise unary ops (alloy_host.unary): dst = f(src), with alpha/beta where noted. */
#define ALLOY_UNARY_ABS 1
#define ALLOY_UNARY_NEG 2
#define ALLOY_UNARY_SIGN 3 /* -1, 0 or +1 */
#define ALLOY_UNARY_SQUARE 4
#define ALLOY_UNARY_SQRT 5
#define ALLOY_UNARY_EXP 6
#define ALLOY_UNARY_LOG 7
#define ALLOY_UNARY_RELU 8
#define ALLOY_UNARY_LINEAR 9 /* alpha * x + beta */
#define ALLOY_UNARY_CLIP 10  /* min(max(x, alpha), beta) */

/* Element-wise binary ops (alloy_host.binary, binary_scalar). Comparisons give 1.0 or 0.0. */
#define ALLOY_BINARY_ADD 1
#define ALLOY_BINARY_SUB 2
#define ALLOY_BINARY_MUL 3
#define ALLOY_BINARY_DIV 4
#define ALLOY_BINARY_MAX 5
#define ALLOY_BINARY_MIN 6
#define ALLOY_BINARY_EQ 7
#define ALLOY_BINARY_NE 8
#define ALLOY_BINARY_GT 9
#define ALLOY_BINARY_GE 10
#define ALLOY_BINARY_LT 11
#define ALLOY_BINARY_LE 12

/* Full reductions to one double (alloy_host.reduce). */
#define ALLOY_REDUCE_SUM 1
#define ALLOY_REDUCE_ABS_SUM 2 /* L1 norm */
#define ALLOY_REDUCE_L2_NORM 3
#define ALLOY_REDUCE_MAX_ABS 4
#define ALLOY_REDUCE_COUNT_NONZERO 5

/* Sign election methods (alloy_host.sign_elect). */
#define ALLOY_ELECT_SUM 1   /* sign of the sum of the values (TIES, mergekit "sum") */
#define ALLOY_ELECT_COUNT 2 /* sign of the sum of the signs (mergekit "count") */

/* Bins of alloy_host.magnitude_histogram. */
#define ALLOY_HISTOGRAM_BINS 65536

/* ---------------------------------------------------------------------------------------- */
/* What a plugin declares                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* One parameter of a strategy. The host validates the job's configuration against the
 * schema before the strategy runs: unknown names, wrong types and values outside `choices`
 * are reported to the user with the parameter's name. */
typedef struct alloy_param_spec {
  const char* name;          /* as written in the YAML config, e.g. "density" */
  int32_t type;              /* ALLOY_PARAM_* */
  int32_t scope;             /* ALLOY_SCOPE_* */
  const char* default_value; /* textual default ("0.2", "true", "tensor"); NULL: required */
  const char* doc;           /* one or two sentences, shown by `alloy plugins` */
  const char* choices;       /* STRING only: allowed values separated by '|'; NULL: any */
} alloy_param_spec;

/* The plugin descriptor, returned by alloy_plugin_entry. Static storage: the host keeps the
 * pointer for the life of the process. */
typedef struct alloy_plugin {
  uint32_t abi_major;       /* ALLOY_ABI_MAJOR the plugin was built against */
  uint32_t abi_minor;       /* ALLOY_ABI_MINOR the plugin needs at least */
  uint32_t struct_size;     /* sizeof(alloy_plugin) as the plugin was compiled */
  uint32_t param_spec_size; /* sizeof(alloy_param_spec) as compiled: the stride of `params` */

  const char* id;                 /* the merge_method name, e.g. "ties"; [a-z0-9_]+ */
  const char* version;            /* the strategy's own version, e.g. "1.0.0" */
  const char* description;        /* one line */
  const alloy_param_spec* params; /* `param_count` entries, `param_spec_size` bytes apart */
  int32_t param_count;
  uint32_t flags; /* ALLOY_PLUGIN_* */

  /* Optional. Called once per job before merge()/run(), on the host's main thread. It may make
   * global passes over the registry (e.g. one threshold per model over all its tensors) and
   * store what it learns in *job_state (owned by the plugin, freed in end()). */
  alloy_status (*begin)(alloy_context* ctx, void** job_state);

  /* Host-driven streaming: called once per declared output tensor `name` (borrowed). It must
   * put exactly that tensor with output_put before returning ALLOY_OK. NULL if the plugin
   * only has run(). */
  alloy_status (*merge)(alloy_context* ctx, void* job_state, const char* name);

  /* Strategy-driven: called once; the strategy drives the whole job and puts every declared
   * output. Used when merge is NULL. */
  alloy_status (*run)(alloy_context* ctx, void* job_state);

  /* Optional. Called once if begin() returned ALLOY_OK (or begin is NULL), whatever happened
   * after; frees job_state. */
  void (*end)(void* job_state);
} alloy_plugin;

/* ---------------------------------------------------------------------------------------- */
/* 1.3: training a model's tensors (alloy_host.model_train)                                 */
/* ---------------------------------------------------------------------------------------- */

/* Random distributions (alloy_host.fill_random). */
#define ALLOY_RANDOM_UNIFORM 1 /* in [a, b) */
#define ALLOY_RANDOM_NORMAL 2  /* mean a, standard deviation b */

/* Training objectives (alloy_train_options.objective), summed over the job's tasks, each task's
 * term the mean over its batch of the task's head logits' ... */
#define ALLOY_OBJECTIVE_ENTROPY 1       /* ... entropy of softmax: needs no labels */
#define ALLOY_OBJECTIVE_CROSS_ENTROPY 2 /* ... cross-entropy against the labels */
/* 1.4: cross-entropy of the logits of a Twin-Merging router (docs/model.md) against the index of
 * the input's task in options->tasks: the router learns which task an input comes from. Needs no
 * heads. */
#define ALLOY_OBJECTIVE_TASK_ID 3

/* Learning-rate schedules (alloy_train_options.schedule). */
#define ALLOY_SCHEDULE_CONSTANT 0
#define ALLOY_SCHEDULE_COSINE 1 /* lr * (1 + cos(pi * step / steps)) / 2, step counted from 0 */
/* 1.4: lr * (1 - step / steps), step counted from 0 (the default of transformers' Trainer). */
#define ALLOY_SCHEDULE_LINEAR 2

/* Training flags (alloy_train_options.flags). */
#define ALLOY_TRAIN_SHARED_GATES                                                             \
  0x1u /* while training, dynamic modules mix one set of gates for the whole batch (the mean \
          of its samples': FusionBench's batch_reduce); inference is always per sample */

/* How model_train trains. Set struct_size = sizeof(alloy_train_options) and every member; the
 * host reads only the members struct_size covers, so later versions can append members (with
 * defaults for a plugin that predates them). */
typedef struct alloy_train_options {
  uint32_t struct_size;
  int32_t objective;      /* ALLOY_OBJECTIVE_* */
  const char* split;      /* "train", "validation" or "test"; NULL: the config's data.split */
  int64_t steps;          /* optimiser steps, >= 1 */
  int64_t batch_per_task; /* inputs of every task in each step, >= 1 */
  double lr;              /* Adam(W), as torch.optim.AdamW computes it */
  double beta1;
  double beta2;
  double eps;
  double weight_decay;  /* 0: plain Adam */
  int32_t schedule;     /* ALLOY_SCHEDULE_* */
  uint32_t flags;       /* ALLOY_TRAIN_* */
  uint64_t seed;        /* which inputs each step takes */
  const int32_t* tasks; /* the tasks trained on (task_count indices, borrowed); NULL: all */
  int32_t task_count;
} alloy_train_options;

/* ---------------------------------------------------------------------------------------- */
/* 1.4: truncated SVD (alloy_host.svd)                                                       */
/* ---------------------------------------------------------------------------------------- */

/* Every singular triplet in double precision (LAPACK dgesdd on the CPU, cuSOLVER gesvd on CUDA),
 * the k largest kept. */
#define ALLOY_SVD_EXACT 1
/* Halko, Martinsson and Tropp's randomized range finder (k + 10 samples, 2 power iterations, a
 * fixed seed: deterministic) and an exact SVD of the projected matrix: faster for large matrices
 * and small k, with near-optimal error when the spectrum decays (bench/svd_bench measures it). */
#define ALLOY_SVD_RANDOMIZED 2

/* ---------------------------------------------------------------------------------------- */
/* What the host offers                                                                      */
/* ---------------------------------------------------------------------------------------- */

/* The host function table. Borrowed, valid for the life of the process. Every function that
 * takes a context must be called with the context of the running callback. */
typedef struct alloy_host {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size; /* sizeof(alloy_host) as the host was compiled */
  uint32_t reserved;

  /* --- diagnostics ------------------------------------------------------------------- */

  /* Write a line to the job's log, prefixed with the plugin id. `message` borrowed. */
  void (*log)(alloy_context* ctx, int32_t level, const char* message);
  /* Record the plugin's own error on ctx (message copied) and return `status` unchanged, so
   * a plugin can write: return host->set_error(ctx, ALLOY_ERR_SHAPE, "...");  */
  alloy_status (*set_error)(alloy_context* ctx, alloy_status status, const char* message);
  /* The message of the last failed call on ctx; "" if none. Borrowed until the next call. */
  const char* (*last_error)(alloy_context* ctx);
  /* Progress of a run() strategy, in units the strategy chooses. Ignored during merge(),
   * where the host reports progress per tensor. */
  void (*progress)(alloy_context* ctx, uint64_t done, uint64_t total);
  /* 1 once the user asked to stop; long loops should then return ALLOY_ERR_CANCELLED. */
  int32_t (*is_cancelled)(alloy_context* ctx);

  /* --- parameters (validated against the plugin's schema before the job starts) -------- */
  /* `model` is a model index for ALLOY_SCOPE_MODEL parameters, ALLOY_GLOBAL otherwise.
   * ALLOY_ERR_NOT_FOUND for a name not in the schema; ALLOY_ERR_DTYPE for the wrong type. */

  alloy_status (*param_f64)(alloy_context* ctx, const char* name, int32_t model, double* out);
  alloy_status (*param_i64)(alloy_context* ctx, const char* name, int32_t model, int64_t* out);
  /* *out is 1 or 0. */
  alloy_status (*param_bool)(alloy_context* ctx, const char* name, int32_t model, int32_t* out);
  /* *out borrowed, valid for the job. */
  alloy_status (*param_string)(alloy_context* ctx, const char* name, int32_t model,
                               const char** out);

  /* --- the registry: models and their tensors ----------------------------------------- */

  /* Number of input models (base and fine-tuned); indices are 0 .. count-1. */
  int32_t (*model_count)(alloy_context* ctx);
  /* Index of the base model, or ALLOY_GLOBAL when the job has none. */
  int32_t (*base_model)(alloy_context* ctx);
  /* ALLOY_ROLE_* of model `model`; 0 for a bad index. */
  int32_t (*model_role)(alloy_context* ctx, int32_t model);
  /* The model's name as written in the config. Borrowed, valid for the job; NULL for a bad
   * index. */
  const char* (*model_name)(alloy_context* ctx, int32_t model);
  /* Number of tensors of a model; -1 for a bad index. */
  int64_t (*tensor_count)(alloy_context* ctx, int32_t model);
  /* Name of tensor `index` (0 .. tensor_count-1) of a model, in the file's order. Borrowed,
   * valid for the job; NULL for a bad index. */
  const char* (*tensor_name)(alloy_context* ctx, int32_t model, int64_t index);
  /* 1 if the model has a tensor of that name, else 0. */
  int32_t (*has_tensor)(alloy_context* ctx, int32_t model, const char* name);
  /* Shape and stored dtype of a model's tensor without reading its data. `shape` must hold
   * `shape_capacity` entries (8 is enough for every tensor alloy accepts); *ndim gets the
   * rank. Any out pointer may be NULL. */
  alloy_status (*tensor_describe)(alloy_context* ctx, int32_t model, const char* name,
                                  DLDataType* dtype, int32_t* ndim, int64_t* shape,
                                  int32_t shape_capacity);
  /* A model's tensor on the job's device, converted to `dtype` (pass bits == 0 for the
   * stored dtype). *out owned, read-only. Zero-copy when no conversion or transfer is
   * needed. */
  alloy_status (*tensor_get)(alloy_context* ctx, int32_t model, const char* name, DLDataType dtype,
                             alloy_tensor** out);
  /* A new zero-filled tensor on the job's device. *out owned, writable. */
  alloy_status (*tensor_alloc)(alloy_context* ctx, DLDataType dtype, int32_t ndim,
                               const int64_t* shape, alloy_tensor** out);
  /* Give a tensor back. NULL is allowed. Never fails. */
  void (*tensor_release)(alloy_tensor* tensor);
  /* A DLPack view of the tensor where it lives (device, dtype, shape, contiguous strides).
   * The view's pointers are borrowed, valid while the tensor is held. Writing through the
   * view of a read-only tensor is undefined. */
  alloy_status (*tensor_view)(alloy_context* ctx, const alloy_tensor* tensor, DLTensor* out);
  /* Copy a tensor's bytes to host memory `dst` of `bytes` bytes (must equal the tensor's
   * size), wherever the tensor lives. */
  alloy_status (*tensor_download)(alloy_context* ctx, const alloy_tensor* tensor, void* dst,
                                  uint64_t bytes);
  /* Copy `bytes` bytes of host memory into a writable tensor. */
  alloy_status (*tensor_upload)(alloy_context* ctx, alloy_tensor* tensor, const void* src,
                                uint64_t bytes);

  /* --- the output --------------------------------------------------------------------- */

  /* Declare an output tensor before the first output_put of the job (the output's layout is
   * fixed then, so tensors can be written in place and in parallel). `dtype` is the stored
   * dtype unless the job's out_dtype overrides it. Unless the plugin sets
   * ALLOY_PLUGIN_DECLARES_OUTPUTS, the host has already declared every tensor of the base
   * model (or of the first model when there is no base). */
  alloy_status (*output_declare)(alloy_context* ctx, const char* name, DLDataType dtype,
                                 int32_t ndim, const int64_t* shape);
  /* Number of declared outputs, and the name of output `index` (borrowed, valid for the
   * job). */
  int64_t (*output_count)(alloy_context* ctx);
  const char* (*output_name)(alloy_context* ctx, int64_t index);
  /* Write a declared output. `tensor` is borrowed (the caller still releases it); its shape
   * must equal the declaration; any float dtype is converted to the output dtype. Each
   * output is put exactly once. */
  alloy_status (*output_put)(alloy_context* ctx, const char* name, const alloy_tensor* tensor);

  /* --- compute, on the job's provider (CPU or CUDA) -----------------------------------------
   * Inputs are borrowed; `dst` must be writable and is fully overwritten. Unless noted,
   * inputs and dst are float32 with equal shapes, and dst may alias an input (in place).
   * Tensors of other float dtypes are converted with `copy` first. */

  /* dst = src converted to dst's dtype (f32, f16, bf16; round to nearest even). */
  alloy_status (*copy)(alloy_context* ctx, alloy_tensor* dst, const alloy_tensor* src);
  /* dst = value. */
  alloy_status (*fill)(alloy_context* ctx, alloy_tensor* dst, double value);
  /* dst = op(src) with ALLOY_UNARY_*; alpha and beta as the op says, else ignored. */
  alloy_status (*unary)(alloy_context* ctx, int32_t op, alloy_tensor* dst, const alloy_tensor* src,
                        double alpha, double beta);
  /* dst = a op b with ALLOY_BINARY_*. `b` broadcasts NumPy-style: its shape, right-aligned
   * against a's, has each dimension equal to a's or 1. dst has a's shape. */
  alloy_status (*binary)(alloy_context* ctx, int32_t op, alloy_tensor* dst, const alloy_tensor* a,
                         const alloy_tensor* b);
  /* dst = a op scalar. */
  alloy_status (*binary_scalar)(alloy_context* ctx, int32_t op, alloy_tensor* dst,
                                const alloy_tensor* a, double scalar);
  /* y = alpha * x + beta * y. */
  alloy_status (*axpby)(alloy_context* ctx, double alpha, const alloy_tensor* x, double beta,
                        alloy_tensor* y);
  /* *out = reduction of all elements with ALLOY_REDUCE_*. */
  alloy_status (*reduce)(alloy_context* ctx, int32_t op, const alloy_tensor* x, double* out);
  /* *out = the k-th largest |x| (1 <= k <= numel), exact. */
  alloy_status (*kth_magnitude)(alloy_context* ctx, const alloy_tensor* x, uint64_t k, double* out);
  /* mask = 1 at exactly k entries of largest |x| (ties broken towards the lower index),
   * 0 elsewhere. 0 <= k <= numel. mask is f32 with x's shape. */
  alloy_status (*topk_mask)(alloy_context* ctx, alloy_tensor* mask, const alloy_tensor* x,
                            uint64_t k);
  /* Streaming selection over many tensors (e.g. one threshold for a whole model) with
   * bounded memory. Adds to counts[ALLOY_HISTOGRAM_BINS] (caller-owned) the number of
   * elements of x per bin of the IEEE-754 bits of |x|:
   *   level 0: bin = bits >> 16 (every element);
   *   level 1: bin = bits & 0xffff, only for elements whose bits >> 16 == prefix.
   * Two passes locate the exact k-th magnitude; docs/plugin-guide.md shows how. */
  alloy_status (*magnitude_histogram)(alloy_context* ctx, const alloy_tensor* x, int32_t level,
                                      uint32_t prefix, uint64_t* counts);
  /* dst = +1 where the elected sign of xs[0..n) is positive or zero, -1 elsewhere
   * (ALLOY_ELECT_*). xs borrowed, all of dst's shape. */
  alloy_status (*sign_elect)(alloy_context* ctx, int32_t method, alloy_tensor* dst, int32_t n,
                             const alloy_tensor* const* xs);
  /* Masked select: dst = cond != 0 ? a : b; b may be NULL for 0. */
  alloy_status (*where)(alloy_context* ctx, alloy_tensor* dst, const alloy_tensor* cond,
                        const alloy_tensor* a, const alloy_tensor* b);
  /* c = alpha * op(a) @ op(b) + beta * c, 2-D f32, op(x) = x^T when trans_x is 1. c must not
   * alias a or b. */
  alloy_status (*gemm)(alloy_context* ctx, int32_t trans_a, int32_t trans_b, double alpha,
                       const alloy_tensor* a, const alloy_tensor* b, double beta, alloy_tensor* c);

  /* --- 1.1: tensor sets a strategy builds, the job's tasks, and layer inputs ----------------
   * Check ALLOY_HAS_MEMBER(host, alloy_host, features_collect) before using these (or declare
   * abi_minor 1, and a 1.0 host refuses the plugin with a message). They change the registry,
   * so call them from begin() or run() only; from merge() they fail with
   * ALLOY_ERR_UNSUPPORTED. Models they add get the next indices (model_count grows) and are
   * read with has_tensor, tensor_describe, tensor_get... like the input models. */

  /* A new, empty model held in memory (ALLOY_ROLE_DERIVED), named `name` (copied; for
   * messages). Its index in *out_model. */
  alloy_status (*model_create)(alloy_context* ctx, const char* name, int32_t* out_model);
  /* Adds `tensor` (borrowed: the host keeps its own reference, nothing is copied) to a derived
   * model under `name`. Do not write the tensor afterwards. ALLOY_ERR_INVALID_ARGUMENT for a
   * name the model already has or a model that is not derived. */
  alloy_status (*model_put)(alloy_context* ctx, int32_t model, const char* name,
                            const alloy_tensor* tensor);
  /* Frees the tensors of a derived or features model (handles already taken stay valid); the
   * model stays, empty. Use it to keep one derived model in memory at a time. */
  alloy_status (*model_drop)(alloy_context* ctx, int32_t model);

  /* Tasks of the job's data (the config's `data:` section); 0 when it names none. */
  int32_t (*task_count)(alloy_context* ctx);
  /* Name of task `task` (0 .. task_count-1). Borrowed, valid for the job; NULL for a bad
   * index. */
  const char* (*task_name)(alloy_context* ctx, int32_t task);
  /* The task a fine-tuned model was trained for (its `task:` in the config, else the task named
   * like its folder or file), or ALLOY_GLOBAL when it has none. */
  int32_t (*model_task)(alloy_context* ctx, int32_t model);

  /* Layer inputs. Runs `model` (any index: base, expert, derived; a derived model's missing
   * tensors come from the base model, whose config.json gives the architecture) on the first
   * `exemplars` inputs of `task` (the config's data.split, shuffled by data.seed) and captures
   * the input of each layer named in `layers` (`layer_count` names; NULL and 0 for every
   * layer it can capture). A layer is named like its weight without ".weight", e.g.
   * "vision_model.encoder.layers.0.mlp.fc1"; linear and LayerNorm layers can be captured.
   * The result is a new model (ALLOY_ROLE_FEATURES), index in *out_model, holding one f32
   * tensor per layer, named like the layer, of shape [rows, in_features]: one row per token
   * per exemplar, exemplar-major (rows = exemplars * tokens inside the encoder; exemplars for
   * the post-LayerNorm and the projection, which see the class token only). LayerNorm inputs
   * are before normalisation. When the config gives data.features (features supplied from
   * files, for models alloy cannot run), the rows come from that task's file instead, however
   * many it holds, whatever `model`; docs/features.md describes the files. Errors:
   * ALLOY_ERR_NOT_FOUND for an unknown layer or task, ALLOY_ERR_UNSUPPORTED when the job has
   * no data or the model cannot be run. */
  alloy_status (*features_collect)(alloy_context* ctx, int32_t model, int32_t task,
                                   int64_t exemplars, const char* const* layers,
                                   int32_t layer_count, int32_t* out_model);

  /* --- 1.2: linear algebra ------------------------------------------------------------------
   * Check ALLOY_HAS_MEMBER(host, alloy_host, sym_eig) first (or declare abi_minor 2). */

  /* The k largest (largest == 1) or smallest (largest == 0) eigenpairs of the symmetric f32
   * matrix a [n, n], of which only the lower triangle is read: values f32 [k], descending when
   * largest, else ascending; vectors f32 [n, k], column i the unit eigenvector of values[i]
   * (its sign is the solver's). 1 <= k <= n; values and vectors are writable and share no
   * memory with a. Computed in double precision (LAPACK dsyevr on the CPU). A non-finite entry
   * is ALLOY_ERR_INVALID_ARGUMENT. */
  alloy_status (*sym_eig)(alloy_context* ctx, const alloy_tensor* a, int64_t k, int32_t largest,
                          alloy_tensor* values, alloy_tensor* vectors);

  /* --- 1.3: random fills, output metadata, training -----------------------------------------
   * Check ALLOY_HAS_MEMBER(host, alloy_host, model_train) first (or declare abi_minor 3). */

  /* Fills dst (writable, float) from ALLOY_RANDOM_* with parameters a, b (uniform: a < b;
   * normal: b >= 0). Deterministic: element i depends only on (seed, i), so every device and
   * thread count gives the same values. */
  alloy_status (*fill_random)(alloy_context* ctx, alloy_tensor* dst, int32_t distribution, double a,
                              double b, uint64_t seed);

  /* Adds key = value (both copied) to the output's __metadata__, e.g. a description of the
   * modules of an upscaled model. Call it before the first output_put (then the header is
   * written: ALLOY_ERR_UNSUPPORTED). The keys the host writes (format, alloy_version,
   * merge_method, strategy_version, parameters, models, base_model) are refused with
   * ALLOY_ERR_INVALID_ARGUMENT; setting a key again replaces its value. */
  alloy_status (*output_metadata)(alloy_context* ctx, const char* key, const char* value);

  /* Trains tensors of a derived model (model_create) on the job's data, with the host's model
   * runtime. The model is run like features_collect runs it: its missing tensors come from the
   * base model, whose config.json gives the architecture, and tensors named as
   * docs/model.md describes make dynamic modules (e.g. a WEMoE MLP). `tensors` (`tensor_count`
   * names, borrowed) are the ones trained; each must be a float tensor of the model itself.
   * Every step takes options->batch_per_task inputs of every task trained on (options->tasks, or
   * every task of the job; the split
   * options->split, each task's inputs in an order options->seed shuffles, cycling), runs the
   * model and the task's head (the config's data.heads) and adds the objective's mean over the
   * batch to the step's loss; then one Adam step updates the trained tensors. On success the
   * trained tensors are replaced in the model (handles taken before keep the old values) and,
   * when `losses` is not NULL, losses[i] is step i's loss (options->steps entries). 1.4: with
   * ALLOY_OBJECTIVE_TASK_ID the model must hold a Twin-Merging router (docs/model.md): its inputs
   * (the shared model's features of every input of the split) are computed once, the step runs
   * the router alone, needs no heads, and the router's BatchNorm running statistics are replaced
   * too. The host
   * reports progress and honours cancellation (ALLOY_ERR_CANCELLED). From begin() or run().
   * Errors: ALLOY_ERR_UNSUPPORTED when the job has no data, no heads or a model alloy cannot
   * run; ALLOY_ERR_NOT_FOUND for a tensor the model does not have; ALLOY_ERR_INVALID_ARGUMENT
   * for bad options. */
  alloy_status (*model_train)(alloy_context* ctx, int32_t model, const char* const* tensors,
                              int32_t tensor_count, const alloy_train_options* options,
                              double* losses);

  /* --- 1.4: truncated SVD, split sizes, strategies running strategies -----------------------
   * Check ALLOY_HAS_MEMBER(host, alloy_host, strategy_run) first (or declare abi_minor 4). */

  /* The k largest singular triplets of the f32 matrix a [m, n]: a ~ u diag(s) v^T with u f32
   * [m, k] and v f32 [n, k] of orthonormal columns and s f32 [k], descending, >= 0 (the signs of
   * a pair of columns of u and v are the solver's). 1 <= k <= min(m, n); u, s and v are writable
   * and share no memory with a or each other. `method` is ALLOY_SVD_EXACT or
   * ALLOY_SVD_RANDOMIZED. A non-finite entry is ALLOY_ERR_INVALID_ARGUMENT. */
  alloy_status (*svd)(alloy_context* ctx, const alloy_tensor* a, int64_t k, int32_t method,
                      alloy_tensor* u, alloy_tensor* s, alloy_tensor* v);

  /* Number of inputs of `task`'s split `split` ("train", "validation", "test"; NULL: the
   * config's data.split), e.g. to turn epochs into model_train steps. -1 for a bad task or split,
   * or when the job's data holds no images (supplied features). */
  int64_t (*task_inputs)(alloy_context* ctx, int32_t task, const char* split);

  /* Runs the loaded strategy `strategy` (its id, e.g. "task_arithmetic"; borrowed) as a merge of
   * the job's base model and the fine-tuned models `models` (`model_count` indices of input
   * models, borrowed; NULL and 0: every fine-tuned model of the job), with `parameters` (text of
   * a YAML mapping such as "{lambda: 0.3}", checked against that strategy's schema as a config's
   * top-level parameters are; NULL or "": its defaults), on the job's device and data. Its
   * output is a new derived model (ALLOY_ROLE_DERIVED), index in *out_model, holding every
   * tensor the strategy put. From begin() or run(). Errors: ALLOY_ERR_NOT_FOUND for a strategy
   * that is not loaded (the message lists those that are); ALLOY_ERR_INVALID_ARGUMENT for bad
   * parameters, a model that is not a fine-tuned input, or a strategy already running in this
   * job (no recursion); otherwise the inner strategy's own status and message. */
  alloy_status (*strategy_run)(alloy_context* ctx, const char* strategy, const char* parameters,
                               const int32_t* models, int32_t model_count, int32_t* out_model);
} alloy_host;

/* ---------------------------------------------------------------------------------------- */
/* The one symbol a plugin exports                                                           */
/* ---------------------------------------------------------------------------------------- */

/* Called once per process when the host loads the plugin. `host` is borrowed for the life of
 * the process (the plugin may keep the pointer). Returns the plugin's static descriptor, or
 * NULL when the plugin cannot work with this host (e.g. host->struct_size too small); the
 * host then skips the plugin with a message. */
typedef const alloy_plugin* (*alloy_plugin_entry_fn)(const alloy_host* host);

#define ALLOY_PLUGIN_ENTRY_SYMBOL "alloy_plugin_entry"

/* Convenience dtypes. */
static inline DLDataType alloy_dtype(uint8_t code, uint8_t bits) {
  DLDataType t;
  t.code = code;
  t.bits = bits;
  t.lanes = 1;
  return t;
}
#define ALLOY_F32 alloy_dtype(kDLFloat, 32)
#define ALLOY_F16 alloy_dtype(kDLFloat, 16)
#define ALLOY_BF16 alloy_dtype(kDLBfloat, 16)
#define ALLOY_STORED alloy_dtype(0, 0) /* tensor_get: no conversion */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ALLOY_ALLOY_H */
