/* A plugin built for an ABI major version this host does not speak. */
#include <alloy/alloy.h>

static alloy_status merge(alloy_context* ctx, void* state, const char* name) {
  (void)ctx;
  (void)state;
  (void)name;
  return ALLOY_OK;
}

static const alloy_plugin plugin = {
    ALLOY_ABI_MAJOR + 1,
    0,
    sizeof(alloy_plugin),
    sizeof(alloy_param_spec),
    "future",
    "9.0.0",
    "from the future",
    NULL,
    0,
    0,
    NULL,
    merge,
    NULL,
    NULL,
};

ALLOY_PLUGIN_EXPORT const alloy_plugin* alloy_plugin_entry(const alloy_host* h) {
  (void)h;
  return &plugin;
}
