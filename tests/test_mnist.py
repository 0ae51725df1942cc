"""MNIST / FashionMNIST: IDX fixtures (gzipped and raw), the classic pickle, corrupted files,
and downloading through a fake URL handler."""

import gzip
import hashlib
import io
import os
import urllib.error
import urllib.request
import urllib.response
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import MNIST, DataFileError, DataLoader, DownloadError, FashionMNIST, read_idx
from minigrad.data import download as dl

N_TRAIN, N_TEST = 12, 5


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Decoded-dataset caches go to a temporary folder, never the user's home."""
    monkeypatch.setenv("MINIGRAD_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return header + arr.astype(">u1" if code == 0x08 else arr.dtype.newbyteorder(">")).tobytes()


def fixture_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST).astype(np.uint8),
    }


def write_fixture(directory: Path, gz: bool, arrays=None) -> dict:
    arrays = arrays or fixture_arrays()
    directory.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("where", ["MNIST/raw", "MNIST", "."])
def test_reads_idx_fixture(tmp_path, gz, where):
    arrays = write_fixture(tmp_path / where, gz)
    train = MNIST(tmp_path, train=True)
    test = MNIST(tmp_path, train=False)
    assert len(train) == N_TRAIN and len(test) == N_TEST
    assert train.data.shape == (N_TRAIN, 1, 28, 28) and train.data.dtype == mg.float32
    assert train.targets.dtype == mg.int64
    np.testing.assert_array_equal(train.data.numpy()[:, 0],
                                  arrays["train-images-idx3-ubyte"].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(train.targets.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(test.targets.numpy(), arrays["t10k-labels-idx1-ubyte"])
    img, label = train[3]
    assert img.shape == (1, 28, 28) and isinstance(label, int)
    assert label == arrays["train-labels-idx1-ubyte"][3]
    assert 0.0 <= train.data.numpy().min() and train.data.numpy().max() <= 1.0


def test_flat_transforms_and_loader(tmp_path):
    arrays = write_fixture(tmp_path, gz=True)
    flat = MNIST(tmp_path, flat=True)
    assert flat.data.shape == (N_TRAIN, 784) and flat[0][0].shape == (784,)
    tr = MNIST(tmp_path, transform=lambda x: x.reshape(-1) * 2, target_transform=lambda y: y + 100)
    img, label = tr[1]
    assert img.shape == (784,) and label == arrays["train-labels-idx1-ubyte"][1] + 100
    np.testing.assert_allclose(img.numpy(), 2 * flat.data.numpy()[1])
    # with transforms the loader collates samples; without, it takes the batched path
    xb, yb = next(iter(DataLoader(tr, batch_size=4)))
    assert xb.shape == (4, 784) and yb.dtype == mg.int64
    plain = MNIST(tmp_path)
    assert hasattr(plain, "_get_batch") and not hasattr(tr, "_get_batch")
    xb, yb = next(iter(DataLoader(plain, batch_size=5, shuffle=True, generator=mg.Generator(1))))
    for x, y in zip(xb.numpy(), yb.numpy()):  # pairs preserved
        i = int(np.flatnonzero((plain.data.numpy() == x).all(axis=(1, 2, 3)))[0])
        assert plain.targets.numpy()[i] == y


def test_splits_from_idx(tmp_path):
    rng = np.random.default_rng(0)
    arrays = fixture_arrays()
    arrays["train-images-idx3-ubyte"] = np.zeros((50003, 28, 28), np.uint8)
    arrays["train-labels-idx1-ubyte"] = rng.integers(0, 10, 50003).astype(np.uint8)
    write_fixture(tmp_path, gz=False, arrays=arrays)
    assert len(MNIST(tmp_path, split="train")) == 50000
    val = MNIST(tmp_path, split="val")
    assert len(val) == 3
    np.testing.assert_array_equal(val.targets.numpy(), arrays["train-labels-idx1-ubyte"][50000:])
    assert len(MNIST(tmp_path, split="trainval")) == 50003
    with pytest.raises(ValueError, match="split must be one of"):
        MNIST(tmp_path, split="training")


def test_fashion_mnist_folder(tmp_path):
    arrays = write_fixture(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = FashionMNIST(tmp_path, train=False)
    np.testing.assert_array_equal(ds.targets.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert ds.classes[9] == "Ankle boot"
    with pytest.raises(RuntimeError, match="not found"):
        MNIST(tmp_path)  # MNIST files are elsewhere


# ---------------------------------------------------------------------- corrupted files
def _corrupt_cases():
    good = idx_bytes(fixture_arrays()["train-images-idx3-ubyte"])
    return {
        "truncated": (good[:-100], "truncated"),
        "bad magic": (b"\x01\x02" + good[2:], "magic"),
        "wrong ndim": (bytes([0, 0, 8, 2]) + good[4:], "dimensions"),
        "too long": (good + b"\0", "truncated or corrupted"),
        "header only": (good[:10], "truncated IDX header"),
        "empty": (b"", "too short"),
    }


@pytest.mark.parametrize("case", list(_corrupt_cases()))
@pytest.mark.parametrize("gz", [True, False])
def test_corrupted_idx_raises_naming_file(tmp_path, case, gz):
    write_fixture(tmp_path, gz=gz)
    data, message = _corrupt_cases()[case]
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataFileError, match=message) as e:
        MNIST(tmp_path)
    assert str(path) in str(e.value)


def test_truncated_gzip_raises_naming_file(tmp_path):
    write_fixture(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataFileError, match="truncated or corrupted") as e:
        MNIST(tmp_path)
    assert str(path) in str(e.value)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataFileError, match=str(path).replace(".", r"\.")):
        MNIST(tmp_path)


def test_gzipped_file_without_gz_suffix(tmp_path):
    write_fixture(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataFileError, match="it is gzipped"):
        MNIST(tmp_path)


def test_download_flag_uses_a_present_pickle(tmp_path, monkeypatch):
    handler = _install(monkeypatch, {})
    splits = write_tiny_pickle(tmp_path)
    ds = MNIST(tmp_path, train=False, download=True)
    np.testing.assert_array_equal(ds.targets.numpy(), splits[2][1])
    assert handler.requests == []


def test_label_count_mismatch(tmp_path):
    arrays = fixture_arrays()
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:-1]
    write_fixture(tmp_path, gz=False, arrays=arrays)
    with pytest.raises(DataFileError, match="11 labels for 12 images"):
        MNIST(tmp_path)


def test_read_idx_other_dtypes(tmp_path):
    arr = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    (tmp_path / "a.idx").write_bytes(idx_bytes(arr, 0x0C))
    out = read_idx(tmp_path / "a.idx")
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == np.int32


# ---------------------------------------------------------------------- the classic pickle
def _shared_pickle():
    root = os.environ.get("MINIGRAD_DATA")
    if not root or not (Path(root) / "mnist.pkl.gz").is_file():
        pytest.skip("no mnist.pkl.gz under $MINIGRAD_DATA")
    return Path(root)


def test_classic_pickle_splits():
    root = _shared_pickle()
    full = MNIST(root, train=True)
    assert full.data.shape == (60000, 1, 28, 28) and full.data.dtype == mg.float32
    assert full.targets.shape == (60000,) and full.targets.dtype == mg.int64
    assert full.targets.numpy()[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels
    test = MNIST(root, train=False)
    assert len(test) == 10000 and test.targets.numpy()[:3].tolist() == [7, 2, 1]
    train = MNIST(root, split="train", flat=True)
    val = MNIST(root, split="val")
    assert train.data.shape == (50000, 784) and len(val) == 10000
    np.testing.assert_array_equal(val.targets.numpy(), full.targets.numpy()[50000:])
    np.testing.assert_array_equal(train.data.numpy()[7], full.data.numpy()[7].reshape(-1))
    x = full.data.numpy()
    assert x.min() == 0.0 and x.max() == 1.0  # pixel / 255 as from the IDX files
    np.testing.assert_array_equal(np.rint(x[:100] * 255) / np.float32(255), x[:100])
    counts = np.bincount(full.targets.numpy(), minlength=10)
    assert counts.sum() == 60000 and counts.min() > 5000


def write_tiny_pickle(directory: Path, sizes=(6, 3, 4)) -> list:
    """A small file in the classic layout: ((x, y), (x, y), (x, y)), pixels byte / 256."""
    import pickle

    rng = np.random.default_rng(5)
    splits = [(rng.integers(0, 256, (n, 784)).astype(np.float32) / np.float32(256),
               rng.integers(0, 10, n).astype(np.int64)) for n in sizes]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps(tuple(splits), protocol=2)))
    return splits


def test_tiny_pickle_splits(tmp_path):
    splits = write_tiny_pickle(tmp_path)
    full = MNIST(tmp_path)
    assert full.data.shape == (9, 1, 28, 28)
    expected = np.concatenate([splits[0][0], splits[1][0]]) * np.float32(256) / np.float32(255)
    np.testing.assert_array_equal(full.data.numpy().reshape(9, -1), expected.astype(np.float32))
    np.testing.assert_array_equal(full.targets.numpy(), np.concatenate([splits[0][1], splits[1][1]]))
    assert len(MNIST(tmp_path, split="train")) == 6 and len(MNIST(tmp_path, split="val")) == 3
    np.testing.assert_array_equal(MNIST(tmp_path, train=False).targets.numpy(), splits[2][1])


def test_pickle_not_bytes_over_256_is_refused(tmp_path):
    import pickle

    x = np.full((2, 784), 0.3, np.float32)
    y = np.zeros(2, np.int64)
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps(((x, y),) * 3, protocol=2)))
    with pytest.raises(DataFileError, match="not bytes / 256"):
        MNIST(tmp_path)


def test_pickle_decode_is_cached_on_disk(tmp_path, monkeypatch):
    from minigrad.data import mnist

    write_tiny_pickle(tmp_path / "data")
    monkeypatch.setenv("MINIGRAD_CACHE", str(tmp_path / "c"))
    a = MNIST(tmp_path / "data", train=False)
    (cached,) = (tmp_path / "c" / "processed").iterdir()
    assert cached.name.startswith("mnist-pkl-") and cached.suffix == ".npz"
    real_reader = mnist.read_mnist_pickle
    calls = []
    monkeypatch.setattr(mnist, "read_mnist_pickle", lambda p: calls.append(p) or real_reader(p))
    monkeypatch.setattr(mnist, "_pickle_cache", {})
    b = MNIST(tmp_path / "data", train=False)  # from the disk cache: the pickle is not decoded
    assert calls == []
    np.testing.assert_array_equal(a.data.numpy(), b.data.numpy())
    cached.write_bytes(cached.read_bytes()[:1000])  # a damaged cache is rebuilt from the source
    monkeypatch.setattr(mnist, "_pickle_cache", {})
    c = MNIST(tmp_path / "data", train=False)
    assert len(calls) == 1
    np.testing.assert_array_equal(a.targets.numpy(), c.targets.numpy())
    with np.load(cached) as z:
        assert z["test_x"].shape == (4, 28, 28)


def test_corrupted_pickle(tmp_path):
    write_tiny_pickle(tmp_path)
    data = (tmp_path / "mnist.pkl.gz").read_bytes()
    (tmp_path / "mnist.pkl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match="truncated or corrupted") as e:
        MNIST(tmp_path)
    assert str(tmp_path / "mnist.pkl.gz") in str(e.value)


def test_pickle_that_runs_code_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps(Evil())))
    with pytest.raises(DataFileError, match="refusing to load"):
        MNIST(tmp_path)


# ---------------------------------------------------------------------- downloading
class FakeHTTPS(urllib.request.BaseHandler):
    """Serves ``routes[url]``: bytes, or an exception class to raise after half the bytes."""

    handler_order = 100  # before the real HTTPS handler

    def __init__(self, routes):
        self.routes = routes
        self.requests = []

    def https_open(self, req):
        url = req.get_full_url()
        self.requests.append(url)
        route = self.routes.get(url)
        if route is None:
            raise urllib.error.URLError("no route to host (offline)")
        if isinstance(route, tuple):  # (data, exception): connection dies mid-transfer
            data, exc = route
            body = _Dying(data[: len(data) // 2], exc)
        else:
            body = io.BytesIO(route)
        response = urllib.response.addinfourl(body, {}, url, 200)
        response.msg = "OK"
        return response


class _Dying(io.BytesIO):
    def __init__(self, data, exc):
        super().__init__(data)
        self.exc = exc

    def read(self, n=-1):
        block = super().read(n)
        if not block:
            raise self.exc("connection reset by peer")
        return block


def _tiny_class(arrays):
    blobs = {name + ".gz": gzip.compress(idx_bytes(a)) for name, a in arrays.items()}

    class TinyMNIST(MNIST):
        folder = "TinyMNIST"
        pickle_name = None
        mirrors = ("https://mirror-a.test/mnist/", "https://mirror-b.test/mnist/")
        resources = tuple((name, len(blob), hashlib.sha256(blob).hexdigest())
                          for name, blob in blobs.items())

    return TinyMNIST, blobs


def _install(monkeypatch, routes):
    handler = FakeHTTPS(routes)
    opener = urllib.request.build_opener(handler)
    monkeypatch.setattr(dl, "_urlopen", lambda url, timeout: opener.open(url, timeout=timeout))
    return handler


def test_download_from_second_mirror_after_hash_mismatch(tmp_path, monkeypatch):
    arrays = fixture_arrays()
    Tiny, blobs = _tiny_class(arrays)
    routes = {}
    for name, blob in blobs.items():
        routes["https://mirror-a.test/mnist/" + name] = blob[:-1] + bytes([blob[-1] ^ 1])  # corrupt
        routes["https://mirror-b.test/mnist/" + name] = blob
    handler = _install(monkeypatch, routes)
    ds = Tiny(tmp_path, download=True)
    np.testing.assert_array_equal(ds.targets.numpy(), arrays["train-labels-idx1-ubyte"])
    raw = tmp_path / "TinyMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(blobs)  # all four, no temp files
    umask = os.umask(0o022)
    os.umask(umask)
    for name, blob in blobs.items():
        assert (raw / name).read_bytes() == blob
        assert (raw / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert len(handler.requests) == 8
    # a second construction finds the files and does not download again
    Tiny(tmp_path, train=False, download=True)
    assert len(handler.requests) == 8


def test_download_hash_mismatch_everywhere_leaves_no_file(tmp_path, monkeypatch):
    Tiny, blobs = _tiny_class(fixture_arrays())
    routes = {m + name: b"\x1f\x8b garbage" for name in blobs for m in Tiny.mirrors}
    _install(monkeypatch, routes)
    with pytest.raises(DownloadError, match="SHA-256 mismatch|bytes, expected") as e:
        Tiny(tmp_path, download=True)
    assert "https://mirror-a.test/mnist/train-images-idx3-ubyte.gz" in str(e.value)
    assert str(tmp_path / "TinyMNIST" / "raw") in str(e.value)
    assert list((tmp_path / "TinyMNIST" / "raw").iterdir()) == []


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    Tiny, blobs = _tiny_class(fixture_arrays())
    routes = {m + name: (blob, ConnectionResetError) for name, blob in blobs.items() for m in Tiny.mirrors}
    _install(monkeypatch, routes)
    with pytest.raises(DownloadError, match="ConnectionResetError"):
        Tiny(tmp_path, download=True)
    assert list((tmp_path / "TinyMNIST" / "raw").iterdir()) == []
    # an earlier complete file is kept intact when a later one fails
    name = "train-images-idx3-ubyte.gz"
    routes["https://mirror-b.test/mnist/" + name] = blobs[name]
    with pytest.raises(DownloadError):
        Tiny(tmp_path, download=True)
    assert [p.name for p in (tmp_path / "TinyMNIST" / "raw").iterdir()] == [name]


def test_keyboard_interrupt_leaves_no_partial_file(tmp_path, monkeypatch):
    Tiny, blobs = _tiny_class(fixture_arrays())
    routes = {m + name: (blob, KeyboardInterrupt) for name, blob in blobs.items() for m in Tiny.mirrors}
    _install(monkeypatch, routes)
    with pytest.raises(KeyboardInterrupt):
        Tiny(tmp_path, download=True)
    assert list((tmp_path / "TinyMNIST" / "raw").iterdir()) == []


def test_offline_error_says_what_to_place_where(tmp_path, monkeypatch):
    _install(monkeypatch, {})
    with pytest.raises(RuntimeError) as e:
        MNIST(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in msg
    assert "train-labels-idx1-ubyte.gz" in msg and "download=True" in msg
    with pytest.raises(DownloadError) as e:
        FashionMNIST(tmp_path, download=True)
    msg = str(e.value)
    assert "URLError" in msg and str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "https://" in msg


def test_official_hashes_are_sha256():
    for cls in (MNIST, FashionMNIST):
        assert len(cls.resources) == 4
        for name, size, sha in cls.resources:
            assert name.endswith(".gz") and size > 4000 and len(sha) == 64
            int(sha, 16)
        assert all(m.startswith("https://") for m in cls.mirrors)
