#!/usr/bin/env bash
# The main job on the built-in example: builds the small fmnist8 zoo (a pretrained ViT, eight
# fine-tuned ones and their heads, about half a minute), compares every shipped strategy on it
# with `alloy compare` (examples/small_compare.yaml: baselines, Task Arithmetic, TIES and CAT
# each chosen on validation, WEMoE, Twin-Merging) and prints the table; results.md, results.csv and the charts
# are left in example/compare/.
set -euo pipefail
build=${1:-build}
work=${ALLOY_EXAMPLE_DIR:-example}
mkdir -p "$work"
"$build/bin/alloy" zoo build fmnist8-small -o "$work/zoo" --quiet >/dev/null
cp examples/small_compare.yaml "$work/compare.yaml"  # its zoo/ paths resolve beside it
"$build/bin/alloy" compare "$work/compare.yaml" -o "$work/compare"
