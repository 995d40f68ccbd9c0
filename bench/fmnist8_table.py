#!/usr/bin/env python3
"""The fmnist8 table of docs/zoo.md: pretrained, individual fine-tuned models, Task Arithmetic,
TIES and CAT Merging over the eight encoders of a zoo, each merge at the lambda chosen on the validation
split from a grid, plus the papers' lambda 0.3 and the whole validation curve; then the dynamic
strategies (WEMoE, Twin-Merging) at Task Arithmetic's chosen lambda and at the paper's settings,
with the time each merge took. With several zoos (one per seed), the per-zoo tables and then the mean and
spread over zoos.

    bench/fmnist8_table.py --alloy build/bin/alloy --zoo ZOO [--zoo ZOO2 ...] [--work DIR]

Prints Markdown. Only the alloy binary is used (merge and eval); nothing is hard-coded. Each
zoo's figures are kept in WORK/<zoo name>/results.json and reused when the zoo is unchanged."""
import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

GRID = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
# name: (strategy, parameters with the swept scale as {lam}, extra config lines)
METHODS = {
    "Task Arithmetic": ("task_arithmetic", "{{lambda: {lam}}}", []),
    "TIES": ("ties", "{{lambda: {lam}, density: 0.2, trim_scope: model, disjoint: sum}}", []),
    # The paper's c, lambda, c_ln, lambda_ln, c_b (the plugin's defaults); exemplars from train.
    "CAT Merging": ("cat", "{{alpha: {lam}}}", ["data: {{suite: {suite}, split: train}}"]),
}
# Dynamic strategies: label -> (strategy, parameters; {lam} is Task Arithmetic's chosen lambda).
# They train, so each runs once per zoo; their data line names the heads.
DATA_WITH_HEADS = ["data: {{suite: {suite}, heads: {heads}}}"]
DYNAMIC = {
    "WEMoE, init lambda = TA's, adapted on test": (
        "wemoe", "{{init_lambda: {lam}, split: test}}"),
    "WEMoE, init lambda 0.3 (paper), adapted on test": (
        "wemoe", "{{init_lambda: 0.3, split: test}}"),
    "WEMoE, init lambda = TA's, adapted on validation": (
        "wemoe", "{{init_lambda: {lam}, split: validation}}"),
    # Twin-Merging: the shared expert is Task Arithmetic; the router learns the tasks from their
    # validation inputs (never the test split).
    "Twin-Merging, shared expert TA 0.3, density 0.1 (paper)": (
        "twin", "{{shared_parameters: '{{lambda: 0.3}}', density: 0.1}}"),
    "Twin-Merging, shared expert = TA's, density 0.1": (
        "twin", "{{shared_parameters: '{{lambda: {lam}}}', density: 0.1}}"),
}


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def evaluate(args, zoo, model, split, tasks=()):
    out = run([args.alloy, "eval", str(model), "--suite", args.suite, "--heads",
               str(zoo / "heads.safetensors"), "--split", split, "--json"]
              + [a for t in tasks for a in ("--task", t)])
    return json.loads(out)


def merge(args, zoo, method, params, tasks, out, extra=()):
    config = out.parent / (out.name + ".yaml")
    lines = [f"merge_method: {method}", f"base_model: {zoo / 'pretrained'}", "models:"]
    lines += [f"  - model: {zoo / 'finetuned' / t}" for t in tasks]
    lines += [f"parameters: {params}", "dtype: float32"]
    lines += [line.format(suite=args.suite, heads=zoo / "heads.safetensors") for line in extra]
    config.write_text("\n".join(lines) + "\n")
    run([args.alloy, "merge", str(config), "-o", str(out), "--force", "--quiet"])
    return out


def measure_dynamic(args, zoo, work, results):
    """The dynamic rows a cached result lacks (each is a training run), with merge seconds."""
    lam = results["chosen"]["Task Arithmetic"]
    seconds = results.setdefault("seconds", {})
    for label, (method, template) in DYNAMIC.items():
        if label in results["rows"] or label not in args.dynamic:
            continue
        started = time.monotonic()
        out = merge(args, zoo, method, template.format(lam=lam), results["tasks"],
                    work / f"{method}_{len(seconds)}", DATA_WITH_HEADS)
        seconds[label] = time.monotonic() - started
        results["rows"][label] = evaluate(args, zoo, out, "test")["accuracy"]
        (work / "results.json").write_text(json.dumps(results, indent=1))
    return results


def measure(args, zoo, work):
    """Every figure of one zoo: test accuracies per row, validation curves per method."""
    manifest = (zoo / "zoo.json").read_text()
    cache = work / "results.json"
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("manifest") == manifest:
            return measure_dynamic(args, zoo, work, saved)
    tasks = json.loads(manifest)["tasks"]
    rows = {"pretrained": evaluate(args, zoo, zoo / "pretrained", "test")["accuracy"]}
    rows["individual"] = {t: evaluate(args, zoo, zoo / "finetuned" / t, "test", [t])["accuracy"][t]
                          for t in tasks}  # each fine-tuned model on its own task
    curves, chosen = {}, {}
    for name, (method, template, extra) in METHODS.items():
        curve = {}
        for lam in GRID:
            out = merge(args, zoo, method, template.format(lam=lam), tasks, work / f"{method}_{lam}",
                        extra)
            curve[str(lam)] = evaluate(args, zoo, out, "validation")["average"]
        best = float(max(curve, key=curve.get))
        curves[name], chosen[name] = curve, best
        for lam, label in [(best, f"{name}, best on validation"), (0.3, f"{name}, lambda 0.3")]:
            out = merge(args, zoo, method, template.format(lam=lam), tasks, work / f"{method}_{lam}",
                        extra)
            rows[label] = evaluate(args, zoo, out, "test")["accuracy"]
    results = {"manifest": manifest, "tasks": tasks, "rows": rows, "curves": curves,
               "chosen": chosen}
    cache.write_text(json.dumps(results, indent=1))
    return measure_dynamic(args, zoo, work, results)


def average(accuracy):
    return 100 * sum(accuracy.values()) / len(accuracy)


def zoo_table(name, r):
    tasks = r["tasks"]
    print(f"### {name}\n\nTest top-1 accuracy (%):\n")
    print("| model | " + " | ".join(tasks) + " | average |")
    print("|---" * (len(tasks) + 2) + "|")
    for label, acc in r["rows"].items():
        if label.endswith("best on validation"):
            label = label.replace("best on validation",
                                  f"lambda {r['chosen'][label.split(',')[0]]} (best on validation)")
        cells = " | ".join(f"{100 * acc[t]:.1f}" for t in tasks)
        took = r.get("seconds", {}).get(label)
        label += f" ({took:.0f} s)" if took else ""
        print(f"| {label} | {cells} | **{average(acc):.1f}** |")
    print("\nValidation average accuracy (%) against lambda:\n")
    print("| method | " + " | ".join(str(l) for l in GRID) + " |")
    print("|---" * (len(GRID) + 1) + "|")
    for method, curve in r["curves"].items():
        print(f"| {method} | " + " | ".join(f"{100 * curve[str(l)]:.1f}" for l in GRID) + " |")
    print()


def spread(values):
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {sd:.1f}"


def summary(results):
    n = len(results)
    print(f"### Over {n} zoo{'s' if n > 1 else ''} (mean ± standard deviation of the "
          "test average)\n")
    print("| model | average (%) | gap closed | lambda chosen |")
    print("|---|---|---|---|")
    pre = [average(r["rows"]["pretrained"]) for r in results]
    ind = [average(r["rows"]["individual"]) for r in results]
    for label in results[0]["rows"]:
        if any(label not in r["rows"] for r in results):
            continue  # a dynamic row not run on every zoo
        values = [average(r["rows"][label]) for r in results]
        closed = [(v - p) / (i - p) for v, p, i in zip(values, pre, ind)]
        gap = "" if label in ("pretrained", "individual") else f"{100 * statistics.mean(closed):.0f}%"
        method = label.split(",")[0]
        lams = ", ".join(str(r["chosen"][method]) for r in results) if "best" in label else ""
        if "= TA's" in label:
            lams = ", ".join(str(r["chosen"]["Task Arithmetic"]) for r in results)
        print(f"| {label} | {spread(values)} | {gap} | {lams} |")
    best_ta = [average(r["rows"]["Task Arithmetic, best on validation"]) for r in results]
    lift = [i - p for i, p in zip(ind, pre)]
    shortfall = [i - t for i, t in zip(ind, best_ta)]
    print(f"\nRequired: individual at least 15 points above pretrained (measured "
          f"{min(lift):.1f} to {max(lift):.1f}: {'yes' if min(lift) >= 15 else 'NO'}); best Task "
          f"Arithmetic at least 10 points below individual (measured {min(shortfall):.1f} to "
          f"{max(shortfall):.1f}: {'yes' if min(shortfall) >= 10 else 'NO'}).")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alloy", required=True)
    parser.add_argument("--zoo", required=True, type=Path, action="append")
    parser.add_argument("--suite", default="fmnist8")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--dynamic", action="append", default=None,
                        help="a dynamic row to run (repeatable; default: every one)")
    args = parser.parse_args()
    if args.dynamic is None:
        args.dynamic = list(DYNAMIC)
    work = args.work or Path(tempfile.mkdtemp(prefix="alloy-fmnist8-"))
    results = []
    for zoo in args.zoo:
        zoo_work = work / zoo.resolve().name
        zoo_work.mkdir(parents=True, exist_ok=True)
        results.append(measure(args, zoo, zoo_work))
        seed = json.loads(results[-1]["manifest"]).get("spec", {}).get("seed", "?")
        zoo_table(f"{zoo.name} (seed {seed})", results[-1])
    summary(results)


if __name__ == "__main__":
    main()
