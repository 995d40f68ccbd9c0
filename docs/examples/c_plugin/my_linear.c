/* linear: the weighted average of every model in the job, as mergekit's `linear` method.
 *
 *   out = sum_m weight_m * model_m / sum_m weight_m     (normalize: true, the default)
 *   out = sum_m weight_m * model_m                      (normalize: false)
 *
 * The sum runs over every model of the job, the base model included when the config names
 * one (mergekit adds the base model to the inputs in the same way). An out-of-tree example
 * strategy in plain C99 that uses nothing but <alloy/alloy.h>. */
#include <alloy/alloy.h>

#include <stdio.h>
#include <stdlib.h>

/* The host table, kept from alloy_plugin_entry: it lives as long as the process. */
static const alloy_host* host;

static const alloy_param_spec params[] = {
    {"weight", ALLOY_PARAM_F64, ALLOY_SCOPE_MODEL, "1.0", "Weight of this model in the average.",
     NULL},
    {"normalize", ALLOY_PARAM_BOOL, ALLOY_SCOPE_GLOBAL, "true",
     "Divide by the sum of the weights (mergekit's default); false gives the plain weighted sum.",
     NULL},
};

/* What begin() learns once per job, read by every merge() call (so read-only there, which is
 * what makes ALLOY_PLUGIN_THREAD_SAFE honest). */
typedef struct job_state {
  int32_t model_count;
  double* weights; /* per model index, already divided by the weight sum when normalizing */
} job_state;

static alloy_status begin(alloy_context* ctx, void** out_state) {
  job_state* state;
  double sum = 0.0;
  int32_t normalize = 1;
  int32_t m;
  alloy_status status = host->param_bool(ctx, "normalize", ALLOY_GLOBAL, &normalize);
  if (status != ALLOY_OK) return status; /* the host's message is already on ctx */

  state = (job_state*)calloc(1, sizeof *state);
  if (state == NULL) return host->set_error(ctx, ALLOY_ERR_OUT_OF_MEMORY, "out of memory");
  state->model_count = host->model_count(ctx);
  state->weights = (double*)calloc((size_t)state->model_count, sizeof(double));
  if (state->weights == NULL) {
    free(state);
    return host->set_error(ctx, ALLOY_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (m = 0; m < state->model_count && status == ALLOY_OK; ++m) {
    status = host->param_f64(ctx, "weight", m, &state->weights[m]);
    sum += state->weights[m];
  }
  if (status == ALLOY_OK && normalize) {
    if (sum == 0.0) {
      status = host->set_error(ctx, ALLOY_ERR_INVALID_ARGUMENT,
                               "the weights sum to zero; set normalize: false or change them");
    }
    for (m = 0; m < state->model_count && status == ALLOY_OK; ++m) state->weights[m] /= sum;
  }
  if (status != ALLOY_OK) {
    free(state->weights);
    free(state);
    return status; /* end() is not called when begin() fails */
  }
  *out_state = state;
  return ALLOY_OK;
}

static alloy_status merge(alloy_context* ctx, void* opaque, const char* name) {
  const job_state* state = (const job_state*)opaque;
  alloy_tensor* sum = NULL;
  alloy_status status = ALLOY_OK;
  int32_t m;
  for (m = 0; m < state->model_count && status == ALLOY_OK; ++m) {
    alloy_tensor* x = NULL;
    if (!host->has_tensor(ctx, m, name)) {
      char message[512];
      snprintf(message, sizeof message, "model '%s' has no tensor '%s'", host->model_name(ctx, m),
               name);
      status = host->set_error(ctx, ALLOY_ERR_NOT_FOUND, message);
      break;
    }
    /* Converted to f32 on the job's device; read-only, ours to release. */
    status = host->tensor_get(ctx, m, name, ALLOY_F32, &x);
    if (status == ALLOY_OK && sum == NULL) {
      DLTensor view; /* borrowed pointers, valid while x is held */
      status = host->tensor_view(ctx, x, &view);
      if (status == ALLOY_OK)
        status = host->tensor_alloc(ctx, ALLOY_F32, view.ndim, view.shape, &sum);
    }
    /* sum = weight * x + 1 * sum; fails with ALLOY_ERR_SHAPE when the shapes differ. */
    if (status == ALLOY_OK) status = host->axpby(ctx, state->weights[m], x, 1.0, sum);
    host->tensor_release(x);
  }
  /* The host converts f32 to the output's dtype (out_dtype, dtype or the stored one). */
  if (status == ALLOY_OK) status = host->output_put(ctx, name, sum);
  host->tensor_release(sum); /* output_put borrowed it; NULL is fine */
  return status;
}

static void end(void* opaque) {
  job_state* state = (job_state*)opaque;
  free(state->weights);
  free(state);
}

static const alloy_plugin plugin = {
    ALLOY_ABI_MAJOR,
    ALLOY_ABI_MINOR,
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    "linear",
    "1.0.0",
    "weighted average of all models (mergekit's linear; C99 example)",
    params,
    (int32_t)(sizeof params / sizeof params[0]),
    ALLOY_PLUGIN_THREAD_SAFE,
    begin,
    merge,
    NULL,
    end,
};

ALLOY_PLUGIN_EXPORT const alloy_plugin* alloy_plugin_entry(const alloy_host* h) {
  if (h == NULL || h->abi_major != ALLOY_ABI_MAJOR) return NULL;
  host = h;
  return &plugin;
}
