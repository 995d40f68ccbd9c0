#!/usr/bin/env bash
# On a GPU machine: unpacks .device/bundle.tar.xz (scripts/cuda_device_bundle.sh) where it was
# built from, checks that every library resolves, and runs the CUDA conformance suites, the
# CPU-vs-CUDA end-to-end merges and the CUDA merge benchmark. Results go to $OUT when set.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/alloy-device}
mkdir -p "$out"
build=$(tar -xJOf "$root/.device/bundle.tar.xz" ./build_path)
mkdir -p "$build" && tar -xJf "$root/.device/bundle.tar.xz" -C "$build"
export LD_LIBRARY_PATH="$build/deps:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
echo "--- unresolved libraries (none expected):"
ldd "$build"/bin/* "$build/lib/alloy/liballoy_cuda.so" "$build"/lib/alloy/plugins/*.so | grep "not found"
echo "--- providers:"
"$build/bin/alloy" providers
status=0
"$build/bin/alloy_unit_tests" --gtest_filter="${UNIT_FILTER:-Cuda/*:CreateProvider*}" \
  --gtest_output="xml:$out/unit.xml" 2>&1 | tee "$out/unit.log" | grep -E "^\[  (FAILED|PASSED|SKIPPED)|Failure|error" | head -150
[ "${PIPESTATUS[0]}" = 0 ] || status=1
"$build/bin/alloy_e2e_tests" --gtest_filter="${E2E_FILTER:-Cuda*}" 2>&1 | tee "$out/e2e.log" |
  grep -E "^\[  (FAILED|PASSED|SKIPPED)|Failure|error" | head -60
[ "${PIPESTATUS[0]}" = 0 ] || status=1
if [ -x "$build/bin/alloy-cuda-merge-bench" ] && [ -z "${NO_BENCH:-}" ]; then
  "$build/bin/alloy-cuda-merge-bench" 2>&1 | tee "$out/bench.log"
fi
if [ -n "${DISK_BENCH:-}" ]; then  # whole merges from disk, CPU and CUDA, next to a plain read
  ALLOY_DEVICES="cpu cuda" ALLOY_BENCH_DIR=/tmp/alloy-bench \
    "$root/bench/merge_bench.sh" "$build" "${DISK_BENCH}" 3 2>&1 | tee "$out/disk_bench.log"
fi
exit $status
