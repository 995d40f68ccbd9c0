"""alloy from Python: list strategies, merge, evaluate, compare, read model tensors.

    import alloy
    results = alloy.compare("spec.yaml", "out")      # or a dict in the spec's form
    for run in results["runs"]:
        print(run["label"], run["status"], run.get("average"))

Merges and evaluations run in a child process (the compute thread pools must never start in
this process, so that it can fork again), so a crash in a strategy raises alloy.Error here
instead of ending Python. Failures raise alloy.Error (a RuntimeError) whose message names the
file, tensor or key at fault, and whose ``status`` says what kind of failure it was. Ctrl-C
stops the work and raises KeyboardInterrupt. Log messages go to the logger "alloy".

See docs/python.md.
"""

import json as _json
import logging as _logging
import os as _os
from collections.abc import Mapping as _Mapping

from . import _alloy, _layout
from ._alloy import Error, TensorView

__all__ = ["Error", "Model", "TensorView", "compare", "evaluate", "merge", "open_model",
           "plugin_search_path", "plugins"]
__version__ = _alloy.version

Error.__module__ = __name__
TensorView.__module__ = __name__

_alloy.set_lib_dir(_os.path.normpath(_os.path.join(_os.path.dirname(__file__), _layout.LIB_DIR)))
_logger = _logging.getLogger(__name__)
_LEVELS = {"debug": _logging.DEBUG, "info": _logging.INFO, "warning": _logging.WARNING,
           "error": _logging.ERROR}


def _log(level, message):
    _logger.log(_LEVELS.get(level, _logging.INFO), message)


def _dirs(plugin_dirs):
    if plugin_dirs is None:
        return []
    if isinstance(plugin_dirs, (str, _os.PathLike)):
        return [_os.fspath(plugin_dirs)]
    return [_os.fspath(d) for d in plugin_dirs]


def _json_value(value):
    if isinstance(value, _os.PathLike):
        return _os.fspath(value)
    if hasattr(value, "item"):  # a NumPy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a value a config can hold")


def _text_or_path(document, name):
    """(text, source): a dict as JSON text (YAML is a superset of JSON) named `name` in
    messages, or a file path to read."""
    if isinstance(document, _Mapping):
        return _json.dumps(document, default=_json_value), name
    return None, _os.fspath(document)


def plugin_search_path(plugin_dirs=None):
    """The folders searched for strategy plugins, in order: `plugin_dirs`, then the folders of
    ALLOY_PLUGIN_PATH, then alloy's built-in strategies."""
    return _alloy.plugin_search_path(_dirs(plugin_dirs))


def plugins(plugin_dirs=None, *, allow_insecure_plugins=False):
    """The strategy plugins found, as `alloy plugins` lists them: one dict per plugin with
    id, version, description, file, abi ("1.3") and parameters (name, type, scope, default --
    None when required --, doc, choices). A plugin file that could not be loaded is skipped
    with a RuntimeWarning saying why."""
    return _alloy.plugins(_dirs(plugin_dirs), allow_insecure_plugins)


def merge(config, output, *, device="cpu", plugin_dirs=None, overwrite=False, threads=0,
          shard_size=None, progress=None, allow_insecure_plugins=False):
    """Runs a merge and returns its summary.

    config: a dict in mergekit's YAML form (docs/config.md), relative paths resolved against
        the current directory; or the path of a YAML config file (its paths resolved against
        the current directory, then the file's folder).
    output: the folder to write (it must not exist unless overwrite=True); it appears only
        when the merge succeeded.
    device: "cpu", "cuda" or "cuda:N". threads: worker threads, 0 for every core.
    shard_size: the largest output shard in bytes (default 5 GB).
    progress: called with a dict (phase, done, total, bytes_read, seconds) as tensors are
        merged. An exception it raises stops the merge and is raised here.
    plugin_dirs: strategy folders searched first (see plugin_search_path);
        allow_insecure_plugins loads them even where other users could write
        (docs/security.md).

    Returns {"output_dir", "strategy", "tensors", "bytes_read", "bytes_written", "seconds"}.
    Raises alloy.Error naming the key, file, tensor or parameter at fault; no output is left.
    """
    text, source = _text_or_path(config, "config")
    return _alloy.merge(text, source, _os.fspath(output), device, _dirs(plugin_dirs),
                        allow_insecure_plugins, overwrite, threads, shard_size or 0, progress,
                        _log)


def evaluate(model, *, heads, suite=None, data=None, split="test", tasks=None, device="cpu"):
    """Top-1 accuracy of a model folder on the tasks of a built-in suite ("fmnist8",
    "fmnist8-tiny") or of a task file (`data`, docs/data.md), each through its own head from
    `heads`, as `alloy eval` measures it.

    split: "train", "validation" or "test". tasks: names of the tasks to evaluate (default:
    all). Returns {"accuracy": {task: top-1 in [0, 1]}, "average": mean over the tasks}, and for
    a Twin-Merging model "routing": {task: share of its inputs routed to its own expert}.
    """
    tasks = [tasks] if isinstance(tasks, str) else list(tasks or [])
    return _alloy.evaluate(_os.fspath(model), _os.fspath(heads), suite or "",
                           _os.fspath(data) if data is not None else "", split, tasks, device)


def compare(spec, output_dir, *, rerun=False, plugin_dirs=None, progress=None,
            allow_insecure_plugins=False):
    """Runs a comparison (docs/compare.md) as `alloy compare` does and returns results.json's
    content: {"spec", "split", "tasks", "individual", "runs": [...]}, each run with its label,
    status, accuracy per split, average, normalized accuracy, merge time and memory.

    spec: a dict in the spec's YAML form, relative paths resolved against the current
        directory; or the path of a spec file.
    output_dir: created if needed; results.json, results.csv, results.md and charts go there,
        and a comparison already there is resumed: runs whose inputs did not change are taken
        from it (rerun=True runs everything again).
    plugin_dirs: strategy folders searched after the spec's plugin_dirs.
    progress: called with a dict (run, runs, label, phase, done, total, seconds); phase is
        "merge", "eval <split>", "cached", "done" or "failed".

    A failing run is recorded as failed (its "error" says why) and the others go on; alloy.Error
    is raised only for what stops every run (a bad spec, an unwritable folder).
    """
    text, source = _text_or_path(spec, "spec")
    return _alloy.compare(text, source, _os.fspath(output_dir), rerun, _dirs(plugin_dirs),
                          allow_insecure_plugins, progress, _log)


def open_model(path):
    """Opens a safetensors model (a file, or a folder with model.safetensors or shards listed by
    model.safetensors.index.json) for reading; see Model."""
    return Model(path)


def _bf16_to_float32(bits):
    import numpy as np
    return (bits.astype(np.uint32) << 16).view(np.float32)


class Model(_Mapping):
    """The tensors of a safetensors model, by name, read without copies.

    ``model[name]`` is a read-only NumPy array over the file's mapped bytes: float32 for F32,
    float16 for F16, and for BF16 (which NumPy has no type for) a uint16 array of the raw bits;
    ``model.tensor(name, dtype="float32")`` converts (a copy). Arrays keep the file mapped after
    the Model is gone. ``model.dlpack(name)`` hands a tensor to torch.from_dlpack or
    numpy.from_dlpack, BF16 included, also without a copy.

    Do not write through such views (they would crash on the read-only mapping); copy first.
    A Model is a Mapping: len(), iteration over names, ``in``, keys(), items().
    """

    def __init__(self, path):
        self._model = _alloy._Model(_os.fspath(path))

    @property
    def path(self):
        return self._model.path

    def files(self):
        """The model's safetensors files, shard by shard."""
        return self._model.files()

    def names(self):
        """Tensor names, in file order."""
        return self._model.names()

    def shape(self, name):
        return self._model.shape(name)

    def dtype(self, name):
        """The stored dtype's safetensors name: "F32", "F16", "BF16", "I64", ..."""
        return self._model.dtype(name)

    def metadata(self):
        """The files' __metadata__ (strings)."""
        return self._model.metadata()

    def view(self, name):
        """The tensor as a TensorView (buffer protocol and DLPack, zero-copy)."""
        return self._model.view(name)

    def dlpack(self, name):
        """An object with __dlpack__ for torch.from_dlpack / numpy.from_dlpack (zero-copy)."""
        return self._model.view(name)

    def tensor(self, name, dtype=None):
        """The tensor as a NumPy array: with dtype None, a read-only view of the file (BF16 as
        uint16 bits); otherwise converted to `dtype` (a copy; BF16 through float32)."""
        import numpy as np
        array = np.asarray(self._model.view(name))
        if dtype is None:
            return array
        if self._model.dtype(name) == "BF16":
            return _bf16_to_float32(array).astype(dtype, copy=False)
        return array.astype(dtype)

    def __getitem__(self, name):
        return self.tensor(name)

    def __iter__(self):
        return iter(self._model.names())

    def __len__(self):
        return len(self._model)

    def __contains__(self, name):
        return isinstance(name, str) and name in self._model

    def __repr__(self):
        return f"<alloy.Model {self.path!r}: {len(self)} tensors>"
