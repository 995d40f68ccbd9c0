#!/usr/bin/env bash
# Runs a merge inside a memory cgroup (page cache included) smaller than its input, to show
# alloy's memory is bounded by the tensors in flight, not by model size. Needs root and the
# cgroup v1 memory controller (as on these machines).
#
#   bench/memory_cap.sh CONFIG.yaml [LIMIT_BYTES] [BUILD_DIR]
set -euo pipefail
config=$1
limit=${2:-$((1024 * 1024 * 1024))}
build=${3:-build}
group=/sys/fs/cgroup/memory/alloy-memory-cap-$$
mkdir "$group"
trap 'rmdir "$group" 2>/dev/null || true' EXIT
echo "$limit" >"$group/memory.limit_in_bytes"
out=$(mktemp -d)/merged
sh -c "echo \$\$ > $group/cgroup.procs; exec /usr/bin/time -f '%e s, peak RSS %M KB' \
  $build/bin/alloy merge '$config' -o '$out' --quiet" >/dev/null
echo "memory limit $(awk -v b="$limit" 'BEGIN {printf "%.2f GiB", b/2^30}'), cgroup peak $(awk '{printf "%.2f GiB", $1/2^30}' "$group/memory.max_usage_in_bytes"), limit hit $(cat "$group/memory.failcnt") times"
echo "output: $(du -sh "$out" | cut -f1)"
rm -rf "$(dirname "$out")"
