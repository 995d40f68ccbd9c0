#!/usr/bin/env bash
# alloy's vision transformer against Hugging Face transformers (forward and every gradient) on
# the same checkpoints: tests/model/compare_hf.py. Uses the virtual environment of
# mergekit_check.sh (mergekit brings torch and transformers), installing them if missing.
set -euo pipefail
build=${1:-build}
venv=${ALLOY_MERGEKIT_VENV:-$HOME/.cache/alloy/mergekit-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import torch, transformers, safetensors" 2>/dev/null; then
  echo "installing torch, transformers and safetensors into $venv (first run only)"
  "$venv/bin/pip" install -q torch transformers safetensors
fi
"$venv/bin/python" tests/model/compare_hf.py --alloy-vit-gradients "$build/bin/alloy-vit-gradients"
