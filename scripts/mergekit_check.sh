#!/usr/bin/env bash
# alloy against mergekit (from PyPI, in a virtual environment kept under ~/.cache so later runs
# reuse it) on the same model set and config files: tests/mergekit/compare.py.
set -euo pipefail
build=${1:-build}
venv=${ALLOY_MERGEKIT_VENV:-$HOME/.cache/alloy/mergekit-venv}
if [ ! -x "$venv/bin/mergekit-yaml" ]; then
  echo "installing mergekit into $venv (first run only)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q mergekit safetensors numpy
fi
"$venv/bin/python" tests/mergekit/compare.py --alloy "$build/bin/alloy" \
  --mergekit "$venv/bin/mergekit-yaml" --hidden 256 --layers 4
