#!/usr/bin/env bash
# The main job on the built-in example: generates a small model set (a base and three
# fine-tuned bf16 models), merges it with TIES, and prints where the merged model is.
set -euo pipefail
build=${1:-build}
work=${ALLOY_EXAMPLE_DIR:-example}
rm -rf "$work/models" "$work/merged"
"$build/bin/alloy-make-models" "$work/models" --models 3 --gb-per-model 0.05 >/dev/null
cat >"$work/ties.yaml" <<YAML
# TIES-Merging of three fine-tuned models (mergekit's config format).
merge_method: ties
base_model: models/base
models:
  - model: models/task_1
    parameters: {weight: 1.0, density: 0.2}
  - model: models/task_2
    parameters: {weight: 1.0, density: 0.2}
  - model: models/task_3
    parameters: {weight: 1.0, density: 0.2}
parameters: {lambda: 1.0}
dtype: bfloat16
YAML
"$build/bin/alloy" plugins | grep -E '^[a-z_]+ [0-9]' | sed 's/^/strategy: /'
"$build/bin/alloy" merge "$work/ties.yaml" -o "$work/merged"
"$build/bin/alloy" inspect "$work/merged" | tail -n 3
echo "merged model: $(cd "$work/merged" && pwd)"
