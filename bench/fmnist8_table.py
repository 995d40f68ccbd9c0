#!/usr/bin/env python3
"""The fmnist8 table of docs/zoo.md: pretrained, individual fine-tuned models, Task Arithmetic
and TIES over the eight encoders of a zoo, each merge at the lambda chosen on the validation
split from a grid, plus the papers' lambda 0.3 and the whole validation curve.

    bench/fmnist8_table.py --alloy build/bin/alloy --zoo ZOO [--suite fmnist8] [--work DIR]

Prints Markdown. Only the alloy binary is used (merge and eval); nothing is hard-coded."""
import argparse
import json
import subprocess
import tempfile
from pathlib import Path

GRID = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
METHODS = {
    "Task Arithmetic": ("task_arithmetic", "{{lambda: {lam}}}"),
    "TIES": ("ties", "{{lambda: {lam}, density: 0.2, trim_scope: model, disjoint: sum}}"),
}


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def evaluate(args, model, split):
    out = run([args.alloy, "eval", str(model), "--suite", args.suite, "--heads",
               str(args.zoo / "heads.safetensors"), "--split", split, "--json"])
    return json.loads(out)


def merge(args, method, params, tasks, out):
    config = out.with_suffix(".yaml")
    lines = [f"merge_method: {method}", f"base_model: {args.zoo / 'pretrained'}", "models:"]
    lines += [f"  - model: {args.zoo / 'finetuned' / t}" for t in tasks]
    lines += [f"parameters: {params}", "dtype: float32"]
    config.write_text("\n".join(lines) + "\n")
    run([args.alloy, "merge", str(config), "-o", str(out), "--force", "--quiet"])
    return out


def row(name, result, tasks):
    cells = " | ".join(f"{100 * result['accuracy'][t]:.1f}" for t in tasks)
    return f"| {name} | {cells} | **{100 * result['average']:.1f}** |"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alloy", required=True)
    parser.add_argument("--zoo", required=True, type=Path)
    parser.add_argument("--suite", default="fmnist8")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    tasks = json.loads((args.zoo / "zoo.json").read_text())["tasks"]
    work = args.work or Path(tempfile.mkdtemp(prefix="alloy-fmnist8-"))
    work.mkdir(parents=True, exist_ok=True)

    rows = [row("pretrained", evaluate(args, args.zoo / "pretrained", "test"), tasks)]
    individual = {"accuracy": {}, "average": 0.0}
    for t in tasks:  # each fine-tuned model on its own task
        individual["accuracy"][t] = evaluate(args, args.zoo / "finetuned" / t, "test")["accuracy"][t]
    individual["average"] = sum(individual["accuracy"].values()) / len(tasks)
    rows.append(row("individual", individual, tasks))

    curves = []
    for name, (method, template) in METHODS.items():
        curve = {}
        for lam in GRID:
            out = merge(args, method, template.format(lam=lam), tasks, work / f"{method}_{lam}")
            curve[lam] = evaluate(args, out, "validation")["average"]
        best = max(curve, key=curve.get)
        for lam, label in [(best, f"{name}, lambda {best} (best on validation)"),
                           (0.3, f"{name}, lambda 0.3 (the papers')")]:
            out = merge(args, method, template.format(lam=lam), tasks, work / f"{method}_{lam}")
            rows.append(row(label, evaluate(args, out, "test"), tasks))
        curves.append(f"| {name} | " + " | ".join(f"{100 * curve[l]:.1f}" for l in GRID) + " |")

    print("Test top-1 accuracy (%):\n")
    print("| model | " + " | ".join(tasks) + " | average |")
    print("|---" * (len(tasks) + 2) + "|")
    print("\n".join(rows))
    print("\nValidation average accuracy (%) against lambda:\n")
    print("| method | " + " | ".join(str(l) for l in GRID) + " |")
    print("|---" * (len(GRID) + 1) + "|")
    print("\n".join(curves))


if __name__ == "__main__":
    main()
