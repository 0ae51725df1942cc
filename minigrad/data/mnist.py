"""MNIST and Fashion-MNIST readers (official IDX files, gzipped or raw, and the classic
``mnist.pkl.gz``), with verified downloading.

Layout: ``dataset.data`` is a float32 tensor ``(N, 1, 28, 28)`` (``(N, 784)`` with
``flat=True``) holding ``pixel / 255`` in [0, 1]; ``dataset.targets`` is an int64 tensor
``(N,)``. ``dataset[i]`` is ``(image, label)`` with ``image`` a ``(1, 28, 28)`` tensor and
``label`` an int, after ``transform`` / ``target_transform``.
"""

from __future__ import annotations

import gzip
import os
import pickle
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..tensor import Tensor
from .dataset import Dataset
from .download import download_file

# IDX type codes -> dtypes (big-endian in the file).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataFileError(ValueError):
    """A data file is truncated, corrupted or not what it claims to be."""


def default_root() -> Path:
    """``$MINIGRAD_DATA`` if set, else ``~/.cache/minigrad``."""
    env = os.environ.get("MINIGRAD_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "minigrad"


def _gunzip(raw: bytes) -> bytes:
    """Decompress gzip data; zlib checks the CRC while inflating (one pass, unlike
    ``gzip.decompress``). Multi-member files fall back to ``gzip.decompress``."""
    d = zlib.decompressobj(wbits=31)
    out = d.decompress(raw)
    if not d.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")
    if d.unused_data.strip(b"\0"):
        return gzip.decompress(raw)
    return out


def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the name ends in ``.gz``; errors name the file."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            return _gunzip(raw)
        return raw
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise DataFileError(f"{path}: cannot decompress ({type(e).__name__}: {e}); the file is "
                            "truncated or corrupted, delete it and download it again") from None


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) into a native-endian array.

    Validates the magic number (two zero bytes, a known type code, the number of dims),
    ``ndim`` if given, and that the file holds exactly the data its header announces.
    """
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise DataFileError(f"{path}: {len(buf)} bytes is too short for an IDX header")
    if buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES:
        hint = " (it is gzipped: name it *.gz)" if buf[:2] == b"\x1f\x8b" else ""
        raise DataFileError(f"{path}: bad IDX magic number 0x{buf[:4].hex()}; not an IDX file{hint}")
    dims = buf[3]
    if ndim is not None and dims != ndim:
        raise DataFileError(f"{path}: IDX file has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(buf) < header:
        raise DataFileError(f"{path}: truncated IDX header ({len(buf)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(buf, ">u4", count=dims, offset=4))
    dtype = np.dtype(_IDX_DTYPES[buf[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(buf) != expected:
        raise DataFileError(
            f"{path}: IDX header announces shape {shape} ({expected} bytes) but the file has "
            f"{len(buf)} bytes; it is truncated or corrupted"
        )
    arr = np.frombuffer(buf, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else (no arbitrary code on load)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 protocol-2 pickles spell bytes (text -> bytes only)
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays allowed")


_pickle_cache: dict[tuple, dict] = {}


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$MINIGRAD_CACHE``, else ``~/.cache/minigrad``."""
    return Path(os.environ.get("MINIGRAD_CACHE", "~/.cache/minigrad")).expanduser() / "processed"


def _cached_mnist_pickle(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``read_mnist_pickle``, memoised in the process and on disk.

    Un-gzipping and unpickling the 220 MB of floats takes about a second, so the decoded bytes
    (55 MB, uncompressed ``.npz``) are cached under ``cache_dir()``, keyed by the SHA-256 of the
    pickle; a cache that fails to load is rebuilt. Caching is skipped if the directory is not
    writable.
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _pickle_cache:
        return _pickle_cache[key]
    from .download import sha256sum

    cached = cache_dir() / f"mnist-pkl-{sha256sum(path)[:32]}.npz"
    splits = None
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as z:
                splits = {n: (z[n + "_x"], z[n + "_y"]) for n in ("train", "val", "test")}
            for x, y in splits.values():
                if x.dtype != np.uint8 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
                    splits = None
                    break
        except Exception:  # noqa: BLE001 -- a damaged cache is rebuilt from the source
            splits = None
    if splits is None:
        splits = read_mnist_pickle(path)
        _write_cache(cached, {f"{n}_{k}": a for n, (x, y) in splits.items() for k, a in (("x", x), ("y", y))})
    _pickle_cache.clear()  # keep at most one decoded file in memory
    _pickle_cache[key] = splits
    return splits


def _write_cache(dest: Path, arrays: dict[str, np.ndarray]) -> None:
    import tempfile

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if not isinstance(sys.exc_info()[1], OSError):
            raise


def read_mnist_pickle(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the classic ``mnist.pkl.gz``: ``{"train"|"val"|"test": (uint8 (N, 28, 28), int64 (N,))}``.

    Pixels are stored there as ``byte / 256``; they are turned back into the exact bytes
    (checked), so this source gives the same images as the official IDX files.
    """
    path = Path(path)
    try:
        # Streaming decompression: no 220 MB intermediate buffer to allocate and fault in.
        with gzip.open(path, "rb") as f:
            splits = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise DataFileError(f"{path}: cannot read ({type(e).__name__}: {e}); the file is truncated "
                            "or corrupted") from None
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise DataFileError(f"{path}: expected a (train, val, test) tuple")
    out = {}
    for name, (x, y) in zip(("train", "val", "test"), splits):
        x = np.asarray(x)
        y = np.asarray(y)
        if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],) or x.dtype.kind != "f":
            raise DataFileError(f"{path}: unexpected {name} split: {x.dtype} {x.shape}, {y.shape}")
        # x was just unpickled and is ours: scale in place (no 150 MB temporary).
        scaled = np.multiply(x, 256.0, out=x) if x.dtype == np.float32 and x.flags.writeable \
            else np.multiply(x, 256.0, out=np.empty(x.shape, np.float32))
        if not (scaled.min() >= 0 and scaled.max() <= 255):
            raise DataFileError(f"{path}: {name} pixels outside [0, 1)")
        u8 = scaled.astype(np.uint8)
        if not np.array_equal(u8, scaled):
            raise DataFileError(f"{path}: {name} pixels are not bytes / 256")
        out[name] = (u8.reshape(-1, 28, 28), y.astype(np.int64))
    return out


class MNIST(Dataset):
    """The MNIST handwritten digits (``torchvision.datasets.MNIST``'s arguments).

    Args:
        root: data directory (default ``$MINIGRAD_DATA``, else ``~/.cache/minigrad``). IDX
            files (``train-images-idx3-ubyte[.gz]`` etc.) are looked up in ``root/MNIST/raw``,
            ``root/MNIST`` and ``root``; for MNIST the classic ``mnist.pkl.gz`` in the same
            places is used when the IDX files are absent.
        train: the 60,000 training images (True) or the 10,000 test images (False).
        download: fetch missing IDX files into ``root/MNIST/raw`` (HTTPS, SHA-256 checked).
        transform: applied to each image tensor in ``dataset[i]``.
        target_transform: applied to each int label in ``dataset[i]``.
        split: overrides ``train``: ``"train"`` = the first 50,000 training images (the
            classic training split), ``"val"`` = the last 10,000 training images,
            ``"test"``, or ``"trainval"`` = all 60,000.
        flat: images as ``(784,)`` rows instead of ``(1, 28, 28)``.

    Attributes:
        data: float32 tensor ``(N, 1, 28, 28)`` (or ``(N, 784)``), ``pixel / 255``.
        targets: int64 tensor ``(N,)``.
    """

    folder = "MNIST"
    mirrors = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    # (file, size in bytes, SHA-256) of the official gzipped files.
    resources = (
        ("train-images-idx3-ubyte.gz", 9912422,
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        ("train-labels-idx1-ubyte.gz", 28881,
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ("t10k-images-idx3-ubyte.gz", 1648877,
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        ("t10k-labels-idx1-ubyte.gz", 4542,
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    )
    pickle_name: str | None = "mnist.pkl.gz"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    _SPLITS = ("train", "val", "test", "trainval")

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        download: bool = False,
        transform: Callable[[Tensor], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        *,
        split: str | None = None,
        flat: bool = False,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        if split is None:
            split = "trainval" if train else "test"
        if split not in self._SPLITS:
            raise ValueError(f"{type(self).__name__}: split must be one of {self._SPLITS}, got {split!r}")
        self.split = split
        self.train = split != "test"
        self.transform = transform
        self.target_transform = target_transform
        self.flat = flat

        images, labels = self._load(download)
        n_classes = len(self.classes)
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise DataFileError(f"{type(self).__name__}: labels outside 0..{n_classes - 1}")
        x = images.reshape(len(images), -1) if flat else images.reshape(len(images), 1, 28, 28)
        data = np.empty(x.shape, np.float32)
        np.divide(x, np.float32(255.0), out=data, casting="unsafe")  # as torchvision's ToTensor
        self.data = Tensor._make(data, False, None)
        self.targets = Tensor._make(np.ascontiguousarray(labels, dtype=np.int64), False, None)

    # ------------------------------------------------------------------ files
    def _search_dirs(self) -> list[Path]:
        return [self.root / self.folder / "raw", self.root / self.folder, self.root]

    @property
    def raw_folder(self) -> Path:
        """Where ``download=True`` puts the files."""
        return self.root / self.folder / "raw"

    def _find(self, gz_name: str) -> Path | None:
        raw_name = gz_name[:-3]
        for d in self._search_dirs():
            for name in (raw_name, gz_name):
                if (d / name).is_file():
                    return d / name
        return None

    def _idx_files(self) -> list[str]:
        names = [r[0] for r in self.resources]
        return names[:2] if self.split != "test" else names[2:]

    def _load(self, download: bool) -> tuple[np.ndarray, np.ndarray]:
        wanted = self._idx_files()
        found = {name: self._find(name) for name in wanted}
        if any(p is None for p in found.values()):
            pkl = self._find_pickle()
            if pkl is not None:  # the data is here already, in the classic form
                return self._from_pickle(pkl)
            if download:
                self.download()
                found = {name: self._find(name) for name in wanted}
            else:
                raise RuntimeError(self._missing_message([n for n, p in found.items() if p is None]))
        images = read_idx(found[wanted[0]], ndim=3)
        labels = read_idx(found[wanted[1]], ndim=1)
        if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise DataFileError(f"{found[wanted[0]]}: expected uint8 28x28 images, got "
                                f"{images.dtype} {images.shape[1:]}")
        if labels.shape[0] != images.shape[0]:
            raise DataFileError(
                f"{found[wanted[1]]}: {labels.shape[0]} labels for {images.shape[0]} images in "
                f"{found[wanted[0]]}"
            )
        return self._select(images, labels.astype(np.int64))

    def _select(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.split == "train":
            return images[:50000], labels[:50000]
        if self.split == "val":
            return images[50000:], labels[50000:]
        return images, labels

    def _find_pickle(self) -> Path | None:
        if self.pickle_name is None:
            return None
        for d in self._search_dirs():
            if (d / self.pickle_name).is_file():
                return d / self.pickle_name
        return None

    def _from_pickle(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        splits = _cached_mnist_pickle(path)
        if self.split == "trainval":
            return (np.concatenate([splits["train"][0], splits["val"][0]]),
                    np.concatenate([splits["train"][1], splits["val"][1]]))
        return splits[self.split]

    def _missing_message(self, missing: list[str]) -> str:
        lines = [f"{type(self).__name__}: dataset files not found under {self.root}."]
        lines.append(f"Place these files (gzipped or not) in {self.raw_folder}:")
        for name in missing:
            lines.append(f"  {name}: " + " or ".join(m + name for m in self.mirrors))
        if self.pickle_name:
            lines.append(f"(or the classic {self.pickle_name} in {self.root}),")
        lines.append("or pass download=True to fetch them.")
        return "\n".join(lines)

    def download(self) -> None:
        """Fetch every missing official file into ``raw_folder`` (SHA-256 verified)."""
        for name, size, sha in self.resources:
            if self._find(name) is not None:
                continue
            download_file([m + name for m in self.mirrors], self.raw_folder / name, sha, size)

    # ------------------------------------------------------------------ samples
    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img: Any = Tensor._make(self.data.data[index], False, None)
        target: Any = int(self.targets.data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __getattr__(self, name: str) -> Any:
        # The batched fast path exists only without per-sample transforms.
        if name == "_get_batch" and self.__dict__.get("transform") is None \
                and self.__dict__.get("target_transform") is None and "data" in self.__dict__:
            return self._batch
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _batch(self, indices: np.ndarray) -> list:
        return [Tensor._make(np.take(self.data.data, indices, axis=0), False, None),
                Tensor._make(np.take(self.targets.data, indices), False, None)]

    def __repr__(self) -> str:
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Split: {self.split}")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: same format and arguments as ``MNIST`` (no pickle source)."""

    folder = "FashionMNIST"
    mirrors = (
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    )
    resources = (
        ("train-images-idx3-ubyte.gz", 26421880,
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        ("train-labels-idx1-ubyte.gz", 29515,
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        ("t10k-images-idx3-ubyte.gz", 4422102,
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        ("t10k-labels-idx1-ubyte.gz", 5148,
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    )
    pickle_name = None
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
