#!/usr/bin/env bash
# The whole test suite: unit and end-to-end tests (ctest), then an out-of-tree plugin built
# from docs/ with only the SDK header and loaded by the host.
set -euo pipefail
build=${1:-build}
ctest --test-dir "$build" --output-on-failure -j2
scripts/check_out_of_tree_plugin.sh "$build"
