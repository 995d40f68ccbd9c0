"""alloy.plugins() and the plugin search path."""

import os
import warnings

import pytest

import alloy


def test_lists_the_built_in_strategies_with_their_parameters():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every default folder is there and loads
        found = {p["id"]: p for p in alloy.plugins()}
    assert {"task_arithmetic", "ties"} <= set(found)
    ta = found["task_arithmetic"]
    assert ta["description"] and ta["version"]
    assert os.path.isfile(ta["file"])
    major, minor = ta["abi"].split(".")
    assert int(major) == 1 and int(minor) >= 0
    params = {p["name"]: p for p in ta["parameters"]}
    assert params["lambda"]["type"] == "float"
    assert params["lambda"]["scope"] == "global"
    assert float(params["lambda"]["default"]) == 1.0
    assert params["lambda"]["doc"]
    assert params["weight"]["scope"] == "per model"
    assert "density" in {p["name"] for p in found["ties"]["parameters"]}


def test_search_path_puts_the_callers_folders_first_and_built_ins_last(tmp_path):
    path = alloy.plugin_search_path([tmp_path])
    assert path[0] == str(tmp_path)
    assert path[-1].endswith(os.path.join("lib", "alloy", "plugins"))
    assert os.path.isdir(path[-1])


def test_a_missing_plugin_folder_is_a_warning_not_an_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.warns(RuntimeWarning, match="nowhere"):
        found = alloy.plugins([missing])
    assert "ties" in {p["id"] for p in found}
