# alloy_add_plugin(NAME src...): a strategy plugin built the way the ABI asks: a MODULE
# library against alloy::sdk only, hidden visibility (only alloy_plugin_entry is exported),
# and --no-undefined so it can never depend on symbols of the host.
function(alloy_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE alloy::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
  target_link_libraries(${name} PRIVATE m)
endfunction()
