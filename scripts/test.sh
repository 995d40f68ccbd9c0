#!/usr/bin/env bash
# The whole test suite: unit and end-to-end tests and the Python bindings' pytest suite (ctest), an
# out-of-tree plugin built from
# docs/ with only the SDK header, alloy's results against mergekit's, its vision transformer
# against Hugging Face transformers, then the same ctest suite built with AddressSanitizer +
# UndefinedBehaviorSanitizer, then each libFuzzer target for a bounded time (FUZZ_SECONDS,
# default 60). Any failure or sanitizer report fails it.
set -euo pipefail
build=${1:-build}
scripts/check_out_of_tree_plugin.sh "$build"
scripts/mergekit_check.sh "$build"
scripts/hf_model_check.sh "$build"
ctest --test-dir "$build" --output-on-failure -j2
scripts/sanitize.sh "$build-asan"
scripts/fuzz.sh "$build-fuzz" "${FUZZ_SECONDS:-60}"
