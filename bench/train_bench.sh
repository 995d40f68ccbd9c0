#!/usr/bin/env bash
# Training throughput of alloy's model runtime against PyTorch on the same model, in one run
# (the machines are shared and noisy: compare the ratio, not the figures across runs).
#   bench/train_bench.sh [build-dir] [steps] [batch]
set -euo pipefail
build=${1:-build}
steps=${2:-30}
batch=${3:-128}
venv=${ALLOY_MERGEKIT_VENV:-$HOME/.cache/alloy/mergekit-venv}
scripts/hf_model_check.sh "$build" >/dev/null 2>&1  # makes sure the venv has torch and transformers
alloy=$("$build/bin/alloy-train-bench" "$steps" "$batch")
torch=$("$venv/bin/python" bench/train_throughput_torch.py "$steps" "$batch")
echo "$alloy"
echo "$torch"
a=$(sed -E 's/.*: ([0-9]+) images\/s/\1/' <<<"$alloy")
t=$(sed -E 's/.*: ([0-9]+) images\/s/\1/' <<<"$torch")
echo "alloy / pytorch: $(python3 -c "print(f'{$a / $t:.2f}x')")"
