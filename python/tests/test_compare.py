"""alloy.compare() over the tiny fmnist8 zoo: a dict spec, its results, and the cache."""

import pytest

import alloy

TASKS = ["upright", "rot90", "rot180_inverted", "pixelated", "patch_shuffled", "noisy", "edges",
         "checker_coarse"]


def spec(zoo):
    return {
        "models": {"base": f"{zoo}/pretrained",
                   "experts": [f"{zoo}/finetuned/{t}" for t in TASKS],
                   "heads": f"{zoo}/heads.safetensors"},
        "data": {"suite": "fmnist8-tiny"},
        "runs": [{"baseline": "pretrained"},
                 {"name": "TA", "merge_method": "task_arithmetic", "parameters": {"lambda": 0.3}}],
    }


def test_a_comparison_from_a_dict_and_its_cache(zoo, tmp_path, caplog):
    out = tmp_path / "out"
    phases = []
    results = alloy.compare(spec(zoo), out, progress=lambda p: phases.append(p["phase"]))
    assert not [r for r in caplog.records if "plugin" in r.getMessage()]
    runs = {r["label"]: r for r in results["runs"]}
    assert set(runs) == {"pretrained", "TA"}
    assert all(r["status"] == "ok" for r in runs.values())
    assert sorted(results["tasks"]) == sorted(TASKS)
    assert sorted(results["individual"]) == sorted(TASKS)
    assert runs["TA"]["merge"]["tensors"] > 0 and runs["TA"]["normalized"] > 0
    assert "merge" in phases and phases.count("done") == 3  # individual, pretrained, TA
    for name in ("results.json", "results.csv", "results.md"):
        assert (out / name).is_file()

    # A run's figures are alloy.evaluate's on its merged model.
    ta = runs["TA"]
    evaluation = alloy.evaluate(f"{ta['dir']}/model", heads=f"{zoo}/heads.safetensors",
                                suite="fmnist8-tiny")
    assert ta["accuracy"]["test"] == evaluation["accuracy"]
    assert ta["average"]["test"] == pytest.approx(evaluation["average"])

    again = alloy.compare(spec(zoo), out)
    assert all(r["cached"] for r in again["runs"])
    assert [r["average"] for r in again["runs"]] == [r["average"] for r in results["runs"]]


def test_a_bad_spec_raises_alloy_error(zoo, tmp_path):
    bad = spec(zoo)
    bad["runs"].append({"name": "nothing"})
    with pytest.raises(alloy.Error, match="merge_method"):
        alloy.compare(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
