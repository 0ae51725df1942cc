"""``save`` / ``load`` for checkpoints, and ``to_torch_state_dict``.

A checkpoint is a NumPy ``.npz`` archive (a zip) holding every array of the saved object and
a JSON manifest describing its structure. Loading uses ``allow_pickle=False`` and JSON, so it
never executes code from the file. Supported values: nested dicts (any of str/int/float/bool/
None/tuple keys), lists and tuples of Tensors (and Parameters), NumPy arrays and scalars,
Python numbers, strings, bytes, None and bools. A tensor that appears several times
(tied weights) is stored once and loads back as one object.

Writes are atomic: the archive goes to a temporary file in the same directory, is fsync'ed
and renamed over the target, so a failure midway leaves any previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile
import zlib
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .data.download import default_file_mode
from .tensor import Tensor

_MANIFEST = "__minigrad_manifest__"
_FORMAT = "minigrad.save"
_VERSION = 1


class CheckpointError(ValueError):
    """A file is not a readable minigrad checkpoint (truncated, corrupted or foreign)."""


# ---------------------------------------------------------------------- encoding
class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._memo: dict[int, str] = {}
        self._keep: list[Any] = []  # keep memoised objects alive so ids stay unique

    def _store(self, obj: Any, arr: np.ndarray, where: str) -> str:
        key = self._memo.get(id(obj))
        if key is None:
            if arr.dtype.kind not in "biufc":
                raise TypeError(f"save: {where}: cannot save an array of dtype {arr.dtype}")
            key = f"a{len(self.arrays)}"
            self.arrays[key] = arr
            self._memo[id(obj)] = key
            self._keep.append(obj)
        return key

    def key(self, k: Any, where: str) -> Any:
        if k is None or isinstance(k, (bool, int, float, str)):
            return {"t": type(k).__name__ if k is not None else "none", "v": k}
        if isinstance(k, tuple):
            return {"t": "tuple", "v": [self.key(x, where) for x in k]}
        raise TypeError(f"save: {where}: cannot save a dict key of type {type(k).__name__}")

    def encode(self, obj: Any, where: str) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            if obj != obj or obj in (float("inf"), float("-inf")):
                return {"t": "float", "v": repr(obj)}
            return obj
        if isinstance(obj, Tensor):
            from .nn.parameter import Parameter

            return {"t": "tensor", "key": self._store(obj, obj.data, where),
                    "requires_grad": bool(obj.requires_grad), "param": isinstance(obj, Parameter)}
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "key": self._store(obj, obj, where)}
        if isinstance(obj, np.generic):
            return {"t": "npscalar", "key": self._store(obj, np.asarray(obj), where)}
        if isinstance(obj, bytes):
            return {"t": "bytes", "v": obj.hex()}
        if isinstance(obj, dict):
            tag = ("counter" if isinstance(obj, Counter)
                   else "odict" if isinstance(obj, OrderedDict) else "dict")
            return {"t": tag, "items": [[self.key(k, where), self.encode(v, f"{where}[{k!r}]")]
                                        for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            return {"t": "list" if isinstance(obj, list) else "tuple",
                    "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        hint = ""
        if hasattr(obj, "state_dict"):
            hint = " (save its state_dict() instead)"
        elif hasattr(obj, "detach") and hasattr(obj, "numpy"):
            hint = " (convert torch tensors with .numpy() first)"
        raise TypeError(f"save: {where}: cannot save an object of type {type(obj).__name__}{hint}")


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self._memo: dict[str, Any] = {}

    def key(self, k: Any) -> Any:
        t, v = k["t"], k["v"]
        if t == "tuple":
            return tuple(self.key(x) for x in v)
        return v

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or "t" not in node:
            raise CheckpointError(f"unexpected manifest entry {node!r:.80}")
        t = node["t"]
        if t in ("tensor", "ndarray", "npscalar"):
            key = node["key"]
            memo_key = (t, key)
            if memo_key in self._memo:
                return self._memo[memo_key]
            arr = self.arrays[key]
            if t == "ndarray":
                out: Any = arr
            elif t == "npscalar":
                out = arr[()]
            elif node.get("param"):
                from .nn.parameter import Parameter

                out = Parameter(arr, requires_grad=node.get("requires_grad", True))
            else:
                out = Tensor._make(arr, False, None)
                if node.get("requires_grad"):
                    out.requires_grad_(True)
            self._memo[memo_key] = out
            return out
        if t == "float":
            return float(node["v"])
        if t == "bytes":
            return bytes.fromhex(node["v"])
        if t in ("dict", "odict", "counter"):
            pairs = [(self.key(k), self.decode(v)) for k, v in node["items"]]
            if t == "counter":
                return Counter(dict(pairs))
            return OrderedDict(pairs) if t == "odict" else dict(pairs)
        if t == "list":
            return [self.decode(v) for v in node["items"]]
        if t == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        raise CheckpointError(f"unknown manifest entry type {t!r}")


# ---------------------------------------------------------------------- public API
def _write(f: BinaryIO, obj: Any) -> None:
    enc = _Encoder()
    root = enc.encode(obj, "obj")
    manifest = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root})
    arrays = dict(enc.arrays)
    arrays[_MANIFEST] = np.frombuffer(manifest.encode("utf-8"), np.uint8)
    np.savez(f, **arrays)


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Save ``obj`` (e.g. ``{"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}``).

    Args:
        obj: nested dicts/lists/tuples of Tensors, arrays, numbers, strings, None, bools.
        f: a path (written atomically; the file name is used as given) or a binary file object.
    """
    if hasattr(f, "write"):
        _write(f, obj)  # type: ignore[arg-type]
        return
    path = Path(f)
    # Encode first so unsupported objects fail before anything touches the disk.
    buf = io.BytesIO()
    _write(buf, obj)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(buf.getbuffer())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, default_file_mode())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, weights_only: Any = None) -> Any:
    """Load an object written by ``save``. Executes no code from the file.

    ``map_location`` and ``weights_only`` are accepted for compatibility (minigrad is CPU-only
    and only ever loads data).

    Raises:
        CheckpointError: the file is truncated, corrupted or not a minigrad checkpoint; the
            message names the file.
    """
    name = getattr(f, "name", None) if hasattr(f, "read") else os.fspath(f)
    label = f"{name}" if name is not None else "<file object>"
    try:
        with np.load(f, allow_pickle=False) as npz:
            if _MANIFEST not in npz.files:
                raise CheckpointError("no manifest: not a file written by minigrad.save")
            arrays = {k: npz[k] for k in npz.files}  # reads (and CRC-checks) every member
        bad = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)]
        if bad:
            raise CheckpointError(f"member {bad[0]!r} is not a NumPy array")
        manifest = json.loads(arrays.pop(_MANIFEST).tobytes().decode("utf-8"))
        if manifest.get("format") != _FORMAT:
            raise CheckpointError("not a file written by minigrad.save")
        if manifest.get("version", 0) > _VERSION:
            raise CheckpointError(f"written by a newer minigrad (format version {manifest['version']})")
        return _Decoder(arrays).decode(manifest["root"])
    except FileNotFoundError:
        raise
    except CheckpointError as e:
        raise CheckpointError(f"{label}: {e}") from None
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError, UnicodeDecodeError,
            TypeError, NotImplementedError, OverflowError, MemoryError, IndexError,
            AttributeError, zlib.error, struct.error) as e:  # what a damaged zip/npy can raise
        raise CheckpointError(
            f"{label}: cannot read checkpoint ({type(e).__name__}: {e}); the file is truncated, "
            "corrupted or not written by minigrad.save"
        ) from None


def to_torch_state_dict(module_or_state_dict: Any) -> dict:
    """A ``{name: torch.Tensor}`` copy of a minigrad module's ``state_dict()`` (or of a state
    dict) that a torch model with the same structure can ``load_state_dict``.

    Raises:
        ImportError: PyTorch is not installed.
    """
    try:
        import torch
    except ImportError:
        raise ImportError("to_torch_state_dict needs PyTorch: pip install torch") from None
    sd = module_or_state_dict
    if hasattr(sd, "state_dict") and callable(sd.state_dict):
        sd = sd.state_dict()
    if not hasattr(sd, "items"):
        raise TypeError(f"to_torch_state_dict: expected a Module or a dict, got {type(sd).__name__}")
    out = OrderedDict()
    for k, v in sd.items():
        if isinstance(v, Tensor):
            arr = v.data
        elif isinstance(v, np.ndarray):
            arr = v
        else:
            raise TypeError(f"to_torch_state_dict: {k!r} is a {type(v).__name__}, not a tensor")
        out[k] = torch.from_numpy(np.array(arr, copy=True))
    return out
