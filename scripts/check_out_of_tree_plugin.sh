#!/usr/bin/env bash
# A third party's view: copy the C example strategy from docs/ to a folder of its own, build it
# against the SDK header alone (gcc -std=c99, -Wl,--no-undefined), drop it into a plugin
# directory and merge with it.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r docs/examples/c_plugin "$work/src"
make -s -C "$work/src" ALLOY_SDK="$repo/sdk/include"
mkdir "$work/plugins"
cp "$work/src/linear.so" "$work/plugins/"
# Captured first: `alloy ... | grep -q` would fail under pipefail when grep exits early and
# alloy's later writes hit a closed pipe.
listing=$("$build/bin/alloy" plugins --plugin-dir "$work/plugins")
grep -q '^linear ' <<<"$listing" ||
  { echo "out-of-tree plugin not listed"; exit 1; }
"$build/bin/alloy-make-models" "$work/models" --models 2 --gb-per-model 0.002 --dtype float32 >/dev/null
cat >"$work/linear.yaml" <<YAML
merge_method: linear
models:
  - model: $work/models/task_1
    parameters: {weight: 1.0}
  - model: $work/models/task_2
    parameters: {weight: 3.0}
YAML
"$build/bin/alloy" merge "$work/linear.yaml" -o "$work/out" --plugin-dir "$work/plugins" --quiet >/dev/null
inspected=$("$build/bin/alloy" inspect "$work/out")
grep -q 'merge_method = linear' <<<"$inspected" ||
  { echo "out-of-tree plugin did not produce a merged model"; exit 1; }
echo "out-of-tree C plugin: built against sdk/include only, loaded and merged: ok"
