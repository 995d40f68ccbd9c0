/* A strategy in plain C99 against alloy.h alone: the (weighted) mean of every model.
 * Built twice by the tests: against the SDK header and against the frozen ABI 1.0 copy. */
#include <alloy/alloy.h>

#ifndef PLUGIN_ID
#define PLUGIN_ID "c_mean"
#endif

static const alloy_host* host;

static const alloy_param_spec params[] = {
    {"weight", ALLOY_PARAM_F64, ALLOY_SCOPE_MODEL, "1.0", "weight of this model", NULL},
};

static alloy_status fail_with(alloy_context* ctx, alloy_status status) {
  return host->set_error(ctx, status, host->last_error(ctx));
}

static alloy_status merge(alloy_context* ctx, void* state, const char* name) {
  alloy_tensor* sum = NULL;
  alloy_status status = ALLOY_OK;
  double weight_sum = 0.0;
  int32_t model;
  (void)state;
  for (model = 0; model < host->model_count(ctx) && status == ALLOY_OK; ++model) {
    alloy_tensor* x = NULL;
    double weight = 0.0;
    status = host->param_f64(ctx, "weight", model, &weight);
    if (status == ALLOY_OK) status = host->tensor_get(ctx, model, name, ALLOY_F32, &x);
    if (status == ALLOY_OK && sum == NULL) {
      DLTensor view;
      status = host->tensor_view(ctx, x, &view);
      if (status == ALLOY_OK) {
        status = host->tensor_alloc(ctx, ALLOY_F32, view.ndim, view.shape, &sum);
      }
    }
    if (status == ALLOY_OK) status = host->axpby(ctx, weight, x, 1.0, sum);
    weight_sum += weight;
    host->tensor_release(x);
  }
  if (status == ALLOY_OK && weight_sum == 0.0) {
    status = host->set_error(ctx, ALLOY_ERR_INVALID_ARGUMENT, "weights sum to zero");
  } else if (status == ALLOY_OK) {
    status = host->binary_scalar(ctx, ALLOY_BINARY_DIV, sum, sum, weight_sum);
    if (status == ALLOY_OK) status = host->output_put(ctx, name, sum);
    if (status != ALLOY_OK) status = fail_with(ctx, status);
  }
  host->tensor_release(sum);
  return status;
}

static const alloy_plugin plugin = {
    ALLOY_ABI_MAJOR,
    ALLOY_ABI_MINOR,
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    PLUGIN_ID,
    "1.0.0",
    "weighted mean of all models (C99 example)",
    params,
    1,
    ALLOY_PLUGIN_THREAD_SAFE,
    NULL,
    merge,
    NULL,
    NULL,
};

ALLOY_PLUGIN_EXPORT const alloy_plugin* alloy_plugin_entry(const alloy_host* h) {
  if (h->abi_major != ALLOY_ABI_MAJOR) return NULL;
  host = h;
  return &plugin;
}
