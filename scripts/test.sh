#!/usr/bin/env bash
# The whole test suite: unit and end-to-end tests (ctest), an out-of-tree plugin built from
# docs/ with only the SDK header, and alloy's results against mergekit's.
set -euo pipefail
build=${1:-build}
scripts/check_out_of_tree_plugin.sh "$build"
scripts/mergekit_check.sh "$build"
ctest --test-dir "$build" --output-on-failure -j2
