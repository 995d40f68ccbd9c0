"""Shared fixtures: safetensors files written by hand with NumPy, a small model set to merge, and
the tiny fmnist8 model zoo (built by the `alloy` executable, when Fashion-MNIST is installed).

Run by ctest (python/CMakeLists.txt) with PYTHONPATH=<build>/python and ALLOY_TEST_CLI set to
the built `alloy`.
"""

import json
import os
import subprocess

import numpy as np
import pytest

# The safetensors spelling of each NumPy dtype these tests write.
_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64"}


def bf16_bits(values):
    """float32 values rounded to bfloat16 (to nearest even), as uint16 bits."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` ({name: array}, or {name: ("BF16", uint16 bits)}) as a safetensors file:
    an 8-byte little-endian header length, the JSON header padded to 8 bytes, the data."""
    header, chunks, offset = {}, [], 0
    for name, value in tensors.items():
        dtype, array = value if isinstance(value, tuple) else (_DTYPES[value.dtype], value)
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(chunks))


def read_safetensors(path):
    """{name: float32 array} of an F32 safetensors file, read without alloy."""
    raw = open(path, "rb").read()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", name
        begin, end = entry["data_offsets"]
        start = 8 + size
        data = raw[start + begin:start + end]
        out[name] = np.frombuffer(data, np.float32).reshape(entry["shape"])
    return out


def write_model(folder, tensors):
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
    return str(folder)


@pytest.fixture
def model_set(tmp_path):
    """A base model and three fine-tuned ones (float32 folders) with their tensors."""
    rng = np.random.default_rng(7)
    shapes = {"embed.weight": (16, 8), "layer.0.weight": (8, 8), "layer.0.bias": (8,)}
    base = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    experts = [{n: (t + 0.1 * rng.standard_normal(t.shape)).astype(np.float32)
                for n, t in base.items()} for _ in range(3)]
    return {
        "base": write_model(tmp_path / "base", base),
        "experts": [write_model(tmp_path / f"expert{i}", e) for i, e in enumerate(experts)],
        "base_tensors": base,
        "expert_tensors": experts,
        "dir": tmp_path,
    }


def alloy_cli():
    cli = os.environ.get("ALLOY_TEST_CLI")
    if not cli or not os.access(cli, os.X_OK):
        pytest.skip("ALLOY_TEST_CLI does not name the built alloy executable (ctest sets it)")
    return cli


def fashion_mnist_installed():
    folder = os.environ.get("ALLOY_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
    return all(os.path.exists(os.path.join(folder, s)) or
               os.path.exists(os.path.join(folder, s + ".gz")) for s in stems)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """The fmnist8-tiny zoo (pretrained, eight fine-tuned experts, heads), fine-tuned for one
    epoch only: a few seconds."""
    cli = alloy_cli()
    if not fashion_mnist_installed():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    folder = str(tmp_path_factory.mktemp("zoo") / "zoo")
    subprocess.run([cli, "zoo", "build", "fmnist8-tiny", "-o", folder, "-q", "--finetune-epochs",
                    "1"], check=True, stdout=subprocess.DEVNULL)
    return folder
