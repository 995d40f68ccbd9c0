"""alloy.merge(): the result against NumPy's own computation, configs as dicts and files,
errors, and stopping a merge from a callback."""

import os
import signal

import numpy as np
import pytest

import alloy
from conftest import read_safetensors


def task_arithmetic(base, experts, lam, weights):
    return {name: base[name] + lam * sum(w * (e[name] - base[name]) for w, e in
                                         zip(weights, experts)) for name in base}


def assert_model_equals(folder, expected):
    merged = read_safetensors(os.path.join(folder, "model.safetensors"))
    assert set(merged) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(merged[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def ta_config(model_set, lam=0.3, weights=(1.0, 2.0, 0.5)):
    return {
        "merge_method": "task_arithmetic",
        "base_model": model_set["base"],
        "models": [{"model": e, "parameters": {"weight": w}}
                   for e, w in zip(model_set["experts"], weights)],
        "parameters": {"lambda": lam},
    }


def test_task_arithmetic_matches_numpy(model_set):
    out = model_set["dir"] / "merged"
    progress = []
    threads = len(os.listdir("/proc/self/task"))
    summary = alloy.merge(ta_config(model_set), out, progress=progress.append)
    # The work ran in a child: no compute thread pool started here, so this process can fork.
    assert len(os.listdir("/proc/self/task")) == threads

    assert summary["output_dir"] == str(out)
    assert summary["strategy"] == "task_arithmetic"
    assert summary["tensors"] == 3
    tensor_bytes = sum(t.nbytes for t in model_set["base_tensors"].values())
    assert summary["bytes_read"] == 4 * tensor_bytes  # the base and three experts
    assert summary["bytes_written"] == tensor_bytes
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 3
    expected = task_arithmetic(model_set["base_tensors"], model_set["expert_tensors"], 0.3,
                               [1.0, 2.0, 0.5])
    assert_model_equals(out, expected)


def test_small_shards_and_reading_them_back(model_set):
    out = model_set["dir"] / "merged"
    summary = alloy.merge(ta_config(model_set), out, shard_size=300, threads=1)
    assert summary["tensors"] == 3
    assert (out / "model.safetensors.index.json").is_file()
    merged = alloy.open_model(out)
    assert len(merged.files()) > 1
    expected = task_arithmetic(model_set["base_tensors"], model_set["expert_tensors"], 0.3,
                               [1.0, 2.0, 0.5])
    for name, value in expected.items():
        np.testing.assert_allclose(merged[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_config_file_paths_resolve_beside_it(model_set, monkeypatch, tmp_path):
    folder = model_set["dir"]
    (folder / "merge.yaml").write_text(
        "merge_method: task_arithmetic\nbase_model: base\nmodels:\n"
        "  - model: expert0\n  - model: expert1\nparameters: {lambda: 0.5}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    alloy.merge(folder / "merge.yaml", "out")
    expected = task_arithmetic(model_set["base_tensors"], model_set["expert_tensors"][:2], 0.5,
                               [1.0, 1.0])
    assert_model_equals(elsewhere / "out", expected)


@pytest.mark.parametrize("change, status, words", [
    (lambda c: c.update(frobnicate=1), "invalid argument", ["config", "frobnicate"]),
    (lambda c: c["models"][1].update(model="no/such/model"), None, ["no/such/model"]),
    (lambda c: c.update(merge_method="no_such_strategy"), "not found",
     ["no_such_strategy", "task_arithmetic"]),
    (lambda c: c["parameters"].update({"lambda": "lots"}), "invalid argument", ["lambda", "lots"]),
])
def test_a_bad_config_raises_alloy_error_and_leaves_nothing(model_set, change, status, words):
    config = ta_config(model_set)
    change(config)
    before = set(os.listdir(model_set["dir"]))
    with pytest.raises(alloy.Error) as raised:
        alloy.merge(config, model_set["dir"] / "merged")
    assert isinstance(raised.value, RuntimeError)
    for word in words:
        assert word in str(raised.value)
    if status:
        assert raised.value.status == status
    assert set(os.listdir(model_set["dir"])) == before


def test_an_existing_output_is_replaced_only_when_asked(model_set):
    out = model_set["dir"] / "merged"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(alloy.Error, match="merged"):
        alloy.merge(ta_config(model_set), out)
    assert (out / "keep.txt").read_text() == "mine"
    alloy.merge(ta_config(model_set), out, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert (out / "model.safetensors").is_file()


def test_an_exception_in_progress_stops_the_merge_and_is_raised(model_set):
    class Stop(Exception):
        pass

    def stop(progress):
        raise Stop(progress["done"])

    with pytest.raises(Stop):
        alloy.merge(ta_config(model_set), model_set["dir"] / "merged", progress=stop)
    # The child may have finished before it was stopped, but never leaves a partial output.
    assert not [n for n in os.listdir(model_set["dir"]) if ".tmp-" in n]
    # The process can fork and merge again.
    alloy.merge(ta_config(model_set), model_set["dir"] / "merged", overwrite=True)
    assert (model_set["dir"] / "merged" / "model.safetensors").is_file()


def test_ctrl_c_stops_the_merge_with_keyboard_interrupt(model_set):
    returned = []

    def interrupt(progress):
        os.kill(os.getpid(), signal.SIGINT)
        returned.append(progress)  # while alloy works, SIGINT stops it, not this callback

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            alloy.merge(ta_config(model_set), model_set["dir"] / "merged", progress=interrupt)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert returned
    assert not [n for n in os.listdir(model_set["dir"]) if ".tmp-" in n]
