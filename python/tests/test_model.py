"""alloy.open_model(): tensors as zero-copy read-only NumPy arrays over the mapped file, dtypes,
sharded folders, and DLPack."""

import gc
import json
import os

import numpy as np
import pytest

import alloy
from conftest import bf16_bits, write_safetensors


@pytest.fixture
def tensors():
    rng = np.random.default_rng(3)
    return {
        "w32": rng.standard_normal((4, 6)).astype(np.float32),
        "w16": rng.standard_normal((3, 5)).astype(np.float16),
        "wbf": rng.standard_normal((2, 7)).astype(np.float32),
        "ids": np.arange(5, dtype=np.int64),
        "scalar": np.array(2.5, dtype=np.float32),
    }


@pytest.fixture
def model_file(tmp_path, tensors):
    stored = dict(tensors)
    stored["wbf"] = ("BF16", bf16_bits(tensors["wbf"]))
    path = tmp_path / "model.safetensors"
    write_safetensors(path, stored, metadata={"origin": "test"})
    return path


def test_names_shapes_dtypes_and_values(model_file, tensors):
    model = alloy.open_model(model_file)
    assert model.names() == list(tensors)
    assert len(model) == 5 and "w32" in model and "nope" not in model
    assert model.shape("w32") == (4, 6) and model.shape("scalar") == ()
    assert [model.dtype(n) for n in model] == ["F32", "F16", "BF16", "I64", "F32"]
    assert model.metadata()["origin"] == "test"
    assert model.files() == [str(model_file)]
    for name in ("w32", "w16", "ids", "scalar"):
        array = model[name]
        assert array.dtype == tensors[name].dtype
        np.testing.assert_array_equal(array, tensors[name])


def test_arrays_view_the_mapping_read_only_and_outlive_the_model(model_file, tensors):
    model = alloy.open_model(model_file)
    first, second = model["w32"], model["w32"]
    assert np.shares_memory(first, second)  # both views of the same mapped bytes
    assert not first.flags.owndata and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0] = 1.0
    del model, second
    gc.collect()
    np.testing.assert_array_equal(first, tensors["w32"])


def test_bf16_is_its_bits_or_converted_on_request(model_file, tensors):
    model = alloy.open_model(model_file)
    bits = model["wbf"]
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(bits, bf16_bits(tensors["wbf"]))
    converted = model.tensor("wbf", dtype="float32")
    assert converted.dtype == np.float32 and converted.flags.writeable
    np.testing.assert_allclose(converted, tensors["wbf"], rtol=2 ** -8)
    np.testing.assert_array_equal(model.tensor("w16", dtype=np.float32),
                                  tensors["w16"].astype(np.float32))


def test_a_sharded_folder_reads_through_its_index(tmp_path, tensors):
    folder = tmp_path / "sharded"
    folder.mkdir()
    shards = {"model-00001-of-00002.safetensors": ["w32", "ids"],
              "model-00002-of-00002.safetensors": ["w16", "scalar"]}
    weight_map = {}
    for shard, names in shards.items():
        write_safetensors(folder / shard, {n: tensors[n] for n in names})
        weight_map.update({n: shard for n in names})
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))
    model = alloy.open_model(folder)
    assert sorted(model) == sorted(weight_map)
    assert len(model.files()) == 2
    for name in weight_map:
        np.testing.assert_array_equal(model[name], tensors[name])


def test_dlpack_hands_over_the_same_bytes(model_file, tensors):
    model = alloy.open_model(model_file)
    view = model.dlpack("w32")
    assert view.__dlpack_device__() == (1, 0)
    assert view.shape == (4, 6) and view.dtype == "F32" and view.nbytes == 96
    imported = np.from_dlpack(view)
    np.testing.assert_array_equal(imported, tensors["w32"])
    assert np.shares_memory(imported, model["w32"])
    # The versioned capsule (DLPack 1.0, with its read-only flag) for consumers that take it.
    assert '"dltensor"' in repr(view.__dlpack__())
    assert '"dltensor_versioned"' in repr(view.__dlpack__(max_version=(1, 0)))
    assert '"dltensor"' in repr(view.__dlpack__(copy=True))
    with pytest.raises(BufferError):
        view.__dlpack__(dl_device=(2, 0))


def test_torch_reads_bf16_through_dlpack(model_file, tensors):
    torch = pytest.importorskip("torch")
    model = alloy.open_model(model_file)
    t = torch.from_dlpack(model.dlpack("wbf"))
    assert t.dtype == torch.bfloat16 and tuple(t.shape) == (2, 7)
    np.testing.assert_array_equal(t.float().numpy(), model.tensor("wbf", dtype="float32"))


def test_missing_tensor_is_a_key_error_and_a_bad_file_an_alloy_error(model_file, tmp_path):
    model = alloy.open_model(model_file)
    with pytest.raises(KeyError):
        model["nope"]
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(os.urandom(4))
    with pytest.raises(alloy.Error, match="broken.safetensors"):
        alloy.open_model(broken)
    with pytest.raises(alloy.Error, match="no/such/place"):
        alloy.open_model("no/such/place")
