# find_package(alloy) for out-of-tree plugins: gives alloy::sdk and alloy_add_plugin().
include(${CMAKE_CURRENT_LIST_DIR}/alloyTargets.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/alloy_plugin.cmake)
