#!/usr/bin/env bash
# Merge throughput: alloy's Task Arithmetic and TIES over a generated model set, next to a
# plain read(2) of the same bytes, with peak memory from /usr/bin/time -v.
#
#   bench/merge_bench.sh [BUILD_DIR] [GB_PER_MODEL] [FINE_TUNED_MODELS]
#
# Defaults: build, 1.5 GB per model (bf16), 3 fine-tuned models + base = 6 GB of input.
# ALLOY_DEVICES="cpu cuda" merges on each device named (default: cpu).
# The set is generated once under ${ALLOY_BENCH_DIR:-/tmp/alloy-bench} and reused.
set -euo pipefail
build=${1:-build}
gb=${2:-1.5}
models=${3:-3}
dir=${ALLOY_BENCH_DIR:-/tmp/alloy-bench}/set-${gb}gb-${models}
bin=$build/bin

if [ ! -d "$dir/task_$models" ]; then
  echo "generating $models fine-tuned models + base of $gb GB each in $dir"
  "$bin/alloy-make-models" "$dir" --models "$models" --gb-per-model "$gb" --hidden 1024 >/dev/null
fi
files=$(find "$dir" -name '*.safetensors' | sort)
input_bytes=$(du -cb $files | tail -1 | cut -f1)

cat >"$dir/ta.yaml" <<YAML
merge_method: task_arithmetic
base_model: $dir/base
models:
$(for m in $(seq 1 "$models"); do echo "  - model: $dir/task_$m"; done)
parameters: {lambda: 0.3}
YAML
sed 's/task_arithmetic/ties/; s/lambda: 0.3/lambda: 1.0, density: 0.2/' "$dir/ta.yaml" >"$dir/ties.yaml"

measure() {  # name, command...: prints seconds and peak RSS
  local name=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  rm -f "$log"
  echo "$name $wall $rss"
}

"$bin/alloy-read-bytes" $files >/dev/null  # warm the page cache for every contender alike
results=()
results+=("$(measure read "$bin/alloy-read-bytes" $files)")
for device in ${ALLOY_DEVICES:-cpu}; do
  for method in ta ties; do
    rm -rf "$dir/out-$method"
    results+=("$(measure "$method@$device" "$bin/alloy" merge "$dir/$method.yaml" -o "$dir/out-$method" --quiet --device "$device")")
    rm -rf "$dir/out-$method"
  done
done

echo
echo "input: $(awk -v b="$input_bytes" 'BEGIN {printf "%.2f GB", b/1e9}') in $(echo $files | wc -w) files, $(nproc) cores"
printf '%-28s %10s %10s %12s %14s\n' "what" "seconds" "GB/s" "vs read" "peak RSS MB"
read_rate=""
for r in "${results[@]}"; do
  set -- $r
  rate=$(awk -v b="$input_bytes" -v s="$2" 'BEGIN {printf "%.2f", b/1e9/s}')
  [ -z "$read_rate" ] && read_rate=$rate
  ratio=$(awk -v a="$rate" -v b="$read_rate" 'BEGIN {printf "%.2f", a/b}')
  label=$1; [ "$1" = read ] && label="plain read(2)"
  case $1 in ta@*) label="alloy task_arithmetic ${1#ta@}" ;; ties@*) label="alloy ties ${1#ties@}" ;; esac
  printf '%-28s %10.2f %10s %12s %14d\n' "$label" "$2" "$rate" "${ratio}x" $(( $3 / 1024 ))
done
