/* A plugin that misbehaves on purpose, as its `mode` parameter says, so the tests can check
 * the host reports each case clearly and leaves no output behind. */
#include <alloy/alloy.h>

#include <string.h>

static const alloy_host* host;

static const alloy_param_spec params[] = {
    {"mode", ALLOY_PARAM_STRING, ALLOY_SCOPE_GLOBAL, "ok", "how to misbehave",
     "ok|fail|wrong_shape|wrong_name|no_put|put_twice"},
};

static alloy_status merge(alloy_context* ctx, void* state, const char* name) {
  const char* mode = NULL;
  alloy_tensor* x = NULL;
  alloy_status status;
  (void)state;
  status = host->param_string(ctx, "mode", ALLOY_GLOBAL, &mode);
  if (status != ALLOY_OK) return status;
  if (strcmp(mode, "fail") == 0) {
    return host->set_error(ctx, ALLOY_ERR_PLUGIN, "deliberate failure for the test");
  }
  if (strcmp(mode, "no_put") == 0) return ALLOY_OK;
  if (strcmp(mode, "wrong_shape") == 0) {
    const int64_t shape[1] = {3};
    status = host->tensor_alloc(ctx, ALLOY_F32, 1, shape, &x);
  } else {
    status = host->tensor_get(ctx, 0, name, ALLOY_F32, &x);
  }
  if (status == ALLOY_OK) {
    status = host->output_put(ctx, strcmp(mode, "wrong_name") == 0 ? "no.such.tensor" : name, x);
  }
  if (status == ALLOY_OK && strcmp(mode, "put_twice") == 0) status = host->output_put(ctx, name, x);
  host->tensor_release(x);
  return status;
}

static const alloy_plugin plugin = {
    ALLOY_ABI_MAJOR,
    ALLOY_ABI_MINOR,
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    "misbehaving",
    "1.0.0",
    "misbehaves on purpose (tests)",
    params,
    1,
    0,
    NULL,
    merge,
    NULL,
    NULL,
};

ALLOY_PLUGIN_EXPORT const alloy_plugin* alloy_plugin_entry(const alloy_host* h) {
  host = h;
  return &plugin;
}
