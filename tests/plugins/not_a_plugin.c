/* A valid shared library that is not an alloy plugin (no alloy_plugin_entry). */
__attribute__((visibility("default"))) int some_function(int x) { return x + 1; }
