#!/usr/bin/env bash
# Fuzz every parser alloy exposes to untrusted input (tests/fuzz) for a bounded time.
#
#   scripts/fuzz.sh [build-dir] [seconds-per-target]      (defaults: build-fuzz, 60)
#
# Builds the libFuzzer targets with clang (ASan + UBSan), replays each target's regression
# inputs (tests/fuzz/regressions/<target>/), then fuzzes each target for the given time on a copy
# of its seed corpus kept in the build folder (it grows from run to run; tests/ is never written).
# Fails on any crash, leak, timeout, out-of-memory or sanitizer report; the inputs that caused
# them are left in <build-dir>/fuzz/<target>/artifacts/.
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-60}
cd "$(dirname "$0")/.."
root=$PWD

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DALLOY_FUZZ=ON \
  -DALLOY_BUILD_TESTS=OFF -DALLOY_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target alloy_fuzzers -j"$(nproc)"
build=$(cd "$build" && pwd)

# Longest input per target: 64 KiB holds a header or an index of some hundred tensors; configs
# are short (16 KiB still reaches past yaml-cpp's nesting limit). Longer inputs slow the search.
declare -A max_len=(
  [fuzz_safetensors_header]=65536
  [fuzz_shard_index]=65536
  [fuzz_merge_config]=16384
)
targets=(fuzz_safetensors_header fuzz_shard_index fuzz_merge_config)
# -timeout: one input may take 30 s before it counts as a hang. Every input runs in well under a
# second; 10 s once flagged a 0.3 s input on a machine at load 9 (2 cores, other jobs running).
common=(-timeout=30 -rss_limit_mb=2048)
failed=()
summary=()

# True when a libFuzzer log shows a problem even though the process exited 0.
reported() { grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$1"; }

for target in "${targets[@]}"; do
  binary=$build/bin/$target
  work=$build/fuzz/$target
  corpus=$work/corpus
  artifacts=$work/artifacts
  mkdir -p "$corpus" "$artifacts"
  cp -r tests/fuzz/corpus/"$target"/. "$corpus"/

  # Inputs that once crashed stay fixed: run each once (no fuzzing).
  regressions=()
  if [[ -d tests/fuzz/regressions/$target ]]; then
    mapfile -t regressions < <(find "$root/tests/fuzz/regressions/$target" -type f | sort)
  fi
  if ((${#regressions[@]})); then
    log=$work/regressions.log
    if (cd "$work" && "$binary" "${common[@]}" -artifact_prefix="$artifacts/" \
      "${regressions[@]}") >"$log" 2>&1 &&
      ! reported "$log"; then
      echo "$target: ${#regressions[@]} regression inputs pass"
    else
      echo "$target: a regression input fails; see $log" >&2
      tail -n 30 "$log" >&2
      failed+=("$target (regressions)")
    fi
  fi

  log=$work/fuzz.log
  before=$(find "$artifacts" -type f | sort)
  echo "$target: fuzzing for ${seconds}s (log: $log)"
  status=0
  (cd "$work" && "$binary" "${common[@]}" -max_total_time="$seconds" \
    -max_len="${max_len[$target]}" -dict="$root/tests/fuzz/$target.dict" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus") >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  coverage=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/coverage: \1 edges, \2 features/p' \
    <<<"$done_line")
  units=$(sed -n 's|.* corp: \([0-9]*/[0-9]*[a-zA-Z]*\).*|\1|p' <<<"$done_line")
  files=$(find "$corpus" -type f | wc -l)
  line="$target: ${runs:-?} executions in ${seconds}s, corpus ${units:+$units in use, }"
  line+="$files files on disk${coverage:+, $coverage}"
  new=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort))
  if ((status != 0)) || [[ -n $new ]] || reported "$log"; then
    line+=" FAILED (exit $status)"
    failed+=("$target")
    echo "$target: failure; log $log, new artifacts:" >&2
    echo "${new:-  (none)}" >&2
    grep -m 1 -A 30 -E 'ERROR: |runtime error:|==[0-9]+== ' "$log" >&2 || tail -n 30 "$log" >&2
  fi
  summary+=("$line")
done

echo
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzzing failed: ${failed[*]}; crash inputs are in $build/fuzz/<target>/artifacts/" >&2
  exit 1
fi
echo "fuzzing passed"
