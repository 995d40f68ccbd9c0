#!/usr/bin/env bash
# Packs what the CUDA checks need on a GPU machine that has the CUDA driver and toolkit but
# none of alloy's Debian libraries: the stripped binaries of BUILD (default build/), its
# plugins and CUDA module, and the shared libraries they load that such a machine lacks, into
# .device/bundle.tar.xz (small enough to travel with the working tree). On the GPU machine,
# scripts/cuda_device_run.sh unpacks it and runs the CUDA tests and benchmark.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib/alloy/plugins" "$stage/deps"
# The layout of the build tree: the test binaries find alloy and the test plugins by the
# absolute paths they were built with, so the bundle unpacks to the same folder there.
for exe in alloy alloy_unit_tests alloy_e2e_tests alloy-cuda-merge-bench alloy-svd-bench alloy-make-models alloy-read-bytes; do
  [ -x "$root/$build/bin/$exe" ] && strip -o "$stage/bin/$exe" "$root/$build/bin/$exe"
done
strip -o "$stage/lib/alloy/liballoy_cuda.so" "$root/$build/lib/alloy/liballoy_cuda.so"
for so in "$root/$build/lib/alloy/plugins/"*.so; do strip -o "$stage/lib/alloy/plugins/$(basename "$so")" "$so"; done
# The test plugins the e2e suite loads from their own folder.
mkdir -p "$stage/tests"
cp -r "$root/$build/tests/plugin-dirs" "$stage/tests/"
# Every library the binaries load, except glibc's and the compiler runtime's (the GPU machine
# has newer ones) and CUDA's (it has its own toolkit).
ldd "$stage/bin/"* "$stage/lib/alloy/liballoy_cuda.so" 2>/dev/null | awk '/=> \//{print $3}' |
  sort -u | grep -Ev '/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so|/usr/local/cuda' |
  while read -r lib; do cp -L "$lib" "$stage/deps/"; done
echo "$root/$build" > "$stage/build_path"
mkdir -p "$root/.device"
tar -C "$stage" -cJf "$root/.device/bundle.tar.xz" .
ls -la "$root/.device/bundle.tar.xz"
