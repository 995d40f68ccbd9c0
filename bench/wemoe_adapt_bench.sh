#!/usr/bin/env bash
# WEMoE's test-time adaptation speed on an fmnist8 zoo: the same merge with 0 and with STEPS
# adaptation steps, in one run; the difference over STEPS is the time of one step (8 tasks x
# batch 16 images: forward through the upscaled model, entropy, backward into the routers, Adam).
#   bench/wemoe_adapt_bench.sh [build-dir] ZOO [STEPS]
set -euo pipefail
build=${1:-build}
zoo=${2:?usage: bench/wemoe_adapt_bench.sh [build-dir] ZOO [STEPS]}
steps=${3:-50}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tasks=(upright rot90 rot180_inverted pixelated patch_shuffled noisy edges checker_coarse)
suite=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['spec']['suite'])" "$zoo/zoo.json" 2>/dev/null || echo fmnist8)
config() {
  echo "merge_method: wemoe"
  echo "base_model: $zoo/pretrained"
  echo "models:"
  for t in "${tasks[@]}"; do echo "  - $zoo/finetuned/$t"; done
  echo "parameters: {init_lambda: 0.1, steps: $1}"
  echo "data: {suite: $suite, heads: $zoo/heads.safetensors}"
}
seconds() {  # wall seconds and peak RSS (MB) of one merge
  config "$1" >"$work/c$1.yaml"
  /usr/bin/time -f "%e %M" -o "$work/t$1" "$build/bin/alloy" merge "$work/c$1.yaml" -o "$work/o$1" -q >/dev/null
  cat "$work/t$1"
}
read -r t0 m0 < <(seconds 0)
read -r tn mn < <(seconds "$steps")
python3 - "$t0" "$tn" "$steps" "$m0" "$mn" <<'PY'
import sys
t0, tn, steps, m0, mn = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
per = (tn - t0) / steps
print(f"upscaling only (0 steps): {t0:.2f} s, peak {m0/1024:.0f} MB")
print(f"{steps} steps: {tn:.2f} s, peak {mn/1024:.0f} MB")
print(f"adaptation: {per*1000:.0f} ms/step, {1/per:.2f} steps/s, {128/per:.0f} images/s (fwd+bwd)")
print(f"the paper's 1000 steps: about {1000*per/60:.1f} min")
PY
