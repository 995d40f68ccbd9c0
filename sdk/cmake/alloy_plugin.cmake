# alloy_add_plugin(NAME src...): a strategy plugin built the way the ABI asks: a MODULE
# library against alloy::sdk only, hidden visibility (only alloy_plugin_entry is exported),
# and --no-undefined so it can never depend on symbols of the host.
# Only alloy_plugin_entry leaves the library: hidden visibility alone still exports the weak
# template instantiations C++ standard headers mark visible, hence the version script. C++ runtime
# libraries are linked statically, so a plugin needs nothing at run time but libc and libm.
set(ALLOY_PLUGIN_VERSION_SCRIPT ${CMAKE_CURRENT_BINARY_DIR}/alloy_plugin.map CACHE INTERNAL "")
file(WRITE ${ALLOY_PLUGIN_VERSION_SCRIPT} "{ global: alloy_plugin_entry; local: *; };\n")

function(alloy_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE alloy::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${name} PRIVATE -Wl,--no-undefined
    -Wl,--version-script=${ALLOY_PLUGIN_VERSION_SCRIPT} -static-libstdc++ -static-libgcc)
  target_link_libraries(${name} PRIVATE m)
endfunction()
