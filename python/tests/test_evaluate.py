"""alloy.evaluate() on the tiny fmnist8 zoo, against `alloy eval`."""

import json
import subprocess

import pytest

import alloy
from conftest import alloy_cli

TASKS = ["upright", "rot90", "rot180_inverted", "pixelated", "patch_shuffled", "noisy", "edges",
         "checker_coarse"]


def test_accuracy_per_task_is_alloy_evals(zoo):
    heads = f"{zoo}/heads.safetensors"
    result = alloy.evaluate(f"{zoo}/finetuned/rot90", heads=heads, suite="fmnist8-tiny",
                            split="validation")
    assert sorted(result["accuracy"]) == sorted(TASKS)
    assert all(0 <= a <= 1 for a in result["accuracy"].values())
    assert result["average"] == pytest.approx(sum(result["accuracy"].values()) / len(TASKS))
    cli = subprocess.run([alloy_cli(), "eval", f"{zoo}/finetuned/rot90", "--suite",
                          "fmnist8-tiny", "--heads", heads, "--split", "validation", "--json"],
                         check=True, capture_output=True, text=True)
    assert result["accuracy"] == json.loads(cli.stdout)["accuracy"]


def test_chosen_tasks_and_errors(zoo):
    heads = f"{zoo}/heads.safetensors"
    result = alloy.evaluate(f"{zoo}/pretrained", heads=heads, suite="fmnist8-tiny",
                            tasks=["edges", "noisy"])
    assert sorted(result["accuracy"]) == ["edges", "noisy"]
    with pytest.raises(alloy.Error, match="'sideways'.*upright"):
        alloy.evaluate(f"{zoo}/pretrained", heads=heads, suite="fmnist8-tiny",
                       tasks=["sideways"])
    with pytest.raises(alloy.Error, match="either suite or data"):
        alloy.evaluate(f"{zoo}/pretrained", heads=heads)
    with pytest.raises(alloy.Error, match="no/such/model"):
        alloy.evaluate("no/such/model", heads=heads, suite="fmnist8-tiny")
