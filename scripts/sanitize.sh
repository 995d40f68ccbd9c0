#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer, in a build of its own.
# Any report fails: in a test binary through its exit code (86), in an `alloy` a test runs
# through run_alloy, which finds the report in the child's stderr.
# Debug, not RelWithDebInfo: on 2 cores, instrumented -O2 took 10 minutes to build and -O0
# about one; the slower -O0 suite (a few minutes) still ends far sooner.
set -euo pipefail
build=${1:-build-asan}
cmake -S . -B "$build" -DALLOY_SANITIZE=ON -DALLOY_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j2
report=halt_on_error=1:exitcode=86:print_stacktrace=1
# handle_sigbus=0: alloy handles SIGBUS itself (core/io/sigbus_guard) and hands one that is not
# its own to the default action, as the tests check; ASan's handler would report it instead.
export ASAN_OPTIONS=$report:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:handle_sigbus=0
export UBSAN_OPTIONS=$report
ctest --test-dir "$build" --output-on-failure -j2
