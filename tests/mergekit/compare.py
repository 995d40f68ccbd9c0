#!/usr/bin/env python3
"""alloy vs mergekit on the same inputs and the same config files.

Generates a tiny Llama-shaped model set (a base and three fine-tuned models, float32,
safetensors + config.json), runs `mergekit-yaml` and `alloy merge` on each config below, and
compares every output tensor. Exits non-zero when any differs by more than float32 rounding.

    python3 tests/mergekit/compare.py --alloy build/bin/alloy [--work DIR] [--hidden 256]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from safetensors.numpy import load_file, save_file

CONFIGS = {
    "task_arithmetic": """
merge_method: task_arithmetic
base_model: {base}
models:
  - model: {m1}
    parameters: {{weight: 0.5}}
  - model: {m2}
    parameters: {{weight: 1.0}}
  - model: {m3}
    parameters: {{weight: 0.8}}
parameters: {{lambda: 0.3}}
dtype: float32
""",
    "ties": """
merge_method: ties
base_model: {base}
models:
  - model: {m1}
    parameters: {{weight: 1.0, density: 0.2}}
  - model: {m2}
    parameters: {{weight: 0.7, density: 0.5}}
  - model: {m3}
    parameters: {{weight: 1.3, density: 0.3}}
parameters: {{normalize: true, int8_mask: true}}
dtype: float32
""",
    "ties_sum_lambda": """
merge_method: ties
base_model: {base}
models:
  - model: {m1}
    parameters: {{weight: 1.0, density: 0.4}}
  - model: {m2}
    parameters: {{weight: 1.0, density: 0.4}}
  - model: {m3}
    parameters: {{weight: 1.0, density: 0.4}}
parameters: {{normalize: false, lambda: 0.6}}
dtype: float32
""",
}


def llama_model(path, hidden, layers, rng, base=None, scale=0.02):
    inter, vocab = 2 * hidden, 256
    shapes = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,),
              "lm_head.weight": (vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            shapes[p + f"self_attn.{proj}.weight"] = (hidden, hidden)
        shapes[p + "mlp.gate_proj.weight"] = (inter, hidden)
        shapes[p + "mlp.up_proj.weight"] = (inter, hidden)
        shapes[p + "mlp.down_proj.weight"] = (hidden, inter)
        shapes[p + "input_layernorm.weight"] = (hidden,)
        shapes[p + "post_attention_layernorm.weight"] = (hidden,)
    tensors = {}
    for name, shape in shapes.items():
        value = rng.standard_normal(shape).astype(np.float32) * scale
        tensors[name] = value if base is None else (base[name] + 0.1 * value).astype(np.float32)
    os.makedirs(path, exist_ok=True)
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
              "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": vocab,
              "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "torch_dtype": "float32",
              "tie_word_embeddings": False}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return tensors


def threshold_ties(name, template, paths, tensor):
    """Positions where a model's |task vector| equals its k-th largest magnitude and that value
    occurs more than once: which of the tied entries a top-k keeps is arbitrary (mergekit uses an
    unstable argsort, alloy keeps the lower index), so results may differ there and only there."""
    if "ties" not in name:
        return None
    import re
    densities = [float(d) for d in re.findall(r"density: ([0-9.]+)", template)]
    base = load_file(f"{paths['base']}/model.safetensors")[tensor]
    tied = np.zeros(base.shape, dtype=bool)
    for i, density in enumerate(densities, start=1):
        magnitude = np.abs(load_file(f"{paths[f'm{i}']}/model.safetensors")[tensor] - base)
        k = int(density * magnitude.size)
        if 0 < k < magnitude.size:
            kth = np.partition(magnitude.ravel(), magnitude.size - k)[magnitude.size - k]
            if np.count_nonzero(magnitude == kth) > 1:
                tied |= magnitude == kth
    return tied


def read_output(folder):
    out = {}
    for file in sorted(os.listdir(folder)):
        if file.endswith(".safetensors"):
            out.update(load_file(os.path.join(folder, file)))
    return out


def run(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alloy", required=True)
    parser.add_argument("--mergekit", default="mergekit-yaml")
    parser.add_argument("--work", default=None)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="alloy-vs-mergekit-")
    rng = np.random.default_rng(0)
    base = llama_model(f"{work}/base", args.hidden, args.layers, rng)
    paths = {"base": f"{work}/base"}
    for i in (1, 2, 3):
        llama_model(f"{work}/m{i}", args.hidden, args.layers, rng, base=base)
        paths[f"m{i}"] = f"{work}/m{i}"

    failures = 0
    for name, template in CONFIGS.items():
        config = f"{work}/{name}.yml"
        with open(config, "w") as f:
            f.write(template.format(**paths))
        t_mergekit = run([args.mergekit, config, f"{work}/{name}-mergekit", "--no-copy-tokenizer"])
        t_alloy = run([args.alloy, "merge", config, "-o", f"{work}/{name}-alloy", "--quiet"])
        ours, theirs = read_output(f"{work}/{name}-alloy"), read_output(f"{work}/{name}-mergekit")
        if set(ours) != set(theirs):
            print(f"{name}: tensor names differ: {sorted(set(ours) ^ set(theirs))}")
            failures += 1
            continue
        worst, worst_name, tie_breaks, elements = 0.0, "", 0, 0
        for tensor, expected in theirs.items():
            err = np.abs(ours[tensor].astype(np.float64) - expected) / np.maximum(1.0, np.abs(expected))
            elements += err.size
            differs = err > 1e-6
            if differs.any():
                tied = threshold_ties(name, template, paths, tensor)
                if tied is not None:
                    tie_breaks += int(np.count_nonzero(differs & tied))
                    err = np.where(tied, 0.0, err)
            if err.size and err.max() > worst:
                worst, worst_name = float(err.max()), tensor
        ok = worst <= 1e-6
        failures += not ok
        print(f"{name:16s} {'ok  ' if ok else 'FAIL'} max relative difference {worst:.2e} "
              f"({worst_name or 'all equal'}), {tie_breaks} of {elements} elements differ only "
              f"by top-k tie-breaking; mergekit {t_mergekit:.2f} s, alloy {t_alloy:.2f} s")
    print(f"{len(CONFIGS) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
