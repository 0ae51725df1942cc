"""No lost work: checkpoints are written atomically (temp file, fsync, rename), loading checks
keys, shapes and dtypes against the model and the optimizer and changes nothing when it
refuses, and damaged checkpoint or dataset files raise an error naming the file instead of
returning garbage. (Atomic downloads are tested in tests/test_mnist.py.)"""

import gzip
import os
import pickle

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.data import MNIST, DataFileError, read_idx
from minigrad.serialization import CheckpointError


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def _trained():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        model(mg.randn(5, 3)).pow(2).mean().backward()
        opt.step()
    return model, opt


def _checkpoint(model, opt, epoch):
    return {"model": model.state_dict(), "optim": opt.state_dict(), "epoch": epoch}


def _same_state(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k].numpy()), np.asarray(b[k].numpy()), err_msg=k)


# --------------------------------------------------------------------------- atomic save


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("exc", [OSError("No space left on device"), KeyboardInterrupt()])
def test_failure_after_partial_write_keeps_previous_checkpoint(tmp_path, monkeypatch, exc):
    model, opt = _trained()
    path = tmp_path / "ckpt.pt"
    mg.save(_checkpoint(model, opt, 1), path)
    before = path.read_bytes()
    written = []
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half of what it is given to the real file, then fails."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            data = bytes(data)
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            written.append(len(data) // 2)
            raise exc

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return self.f.__exit__(*a)

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    with pytest.raises(type(exc)):
        mg.save(_checkpoint(model, opt, 2), path)
    monkeypatch.undo()
    assert written and written[0] > 100  # the failure really came after a partial write
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind
    assert mg.load(path)["epoch"] == 1


def test_save_writes_temp_fsyncs_then_renames(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", fd))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(src), os.fspath(dst)))
        assert os.path.getsize(src) > 0
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "ckpt.pt"
    mg.save({"w": mg.ones(3)}, path)
    kinds = [e[0] for e in events]
    assert "replace" in kinds and "fsync" in kinds[: kinds.index("replace")], events
    src, dst = next(e[1:] for e in events if e[0] == "replace")
    assert os.path.dirname(src) == str(tmp_path) and dst == str(path)  # same directory
    assert mg.load(path)["w"].tolist() == [1.0, 1.0, 1.0]


def test_overwriting_replaces_the_whole_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    mg.save({"big": mg.zeros(10000)}, path)
    mg.save({"small": 1}, path)
    assert mg.load(path) == {"small": 1}


def test_checkpoint_round_trip_resumes_identically(tmp_path):
    model, opt = _trained()
    mg.save(_checkpoint(model, opt, 3), tmp_path / "c.pt")
    ckpt = mg.load(tmp_path / "c.pt")
    model2 = _model()
    opt2 = optim.Adam(model2.parameters(), lr=1e-2)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    x = mg.randn(5, 3)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    _same_state(model.state_dict(), model2.state_dict())


# --------------------------------------------------------------------------- load checks


def test_load_state_dict_names_missing_unexpected_and_mismatched(tmp_path):
    model = _model()
    sd = dict(model.state_dict())
    sd["3.weight"] = mg.zeros(2, 5)
    del sd["1.running_var"]
    sd["extra.bias"] = mg.zeros(2)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(sd)
    msg = str(info.value)
    assert "Sequential" in msg
    assert '"1.running_var"' in msg and "Missing" in msg
    assert '"extra.bias"' in msg and "Unexpected" in msg
    assert "size mismatch for 3.weight" in msg and "(2, 5)" in msg and "(2, 4)" in msg
    for k, v in model.state_dict().items():  # nothing was copied
        np.testing.assert_array_equal(v.numpy(), before[k])
    with pytest.raises(RuntimeError, match="size mismatch for 3.weight"):
        model.load_state_dict(sd, strict=False)  # shapes are checked even when not strict


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("0.weight", np.ones((4, 3), np.complex128), "complex"),
        ("0.weight", np.array([["a"] * 3] * 4), "not a numeric array"),
        ("1.num_batches_tracked", np.array(2.5), "whole numbers"),
        ("1.num_batches_tracked", np.array(np.nan), "whole numbers"),
    ],
)
def test_load_state_dict_refuses_lossy_dtypes(key, value, fragment):
    model = _model()
    sd = dict(model.state_dict())
    sd[key] = value
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match=f"dtype mismatch for {key}.*{fragment}"):
        model.load_state_dict(sd)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_load_state_dict_accepts_safe_casts():
    model = _model()
    sd = {k: np.asarray(v.numpy(), np.float64) if v.dtype.kind == "f" else np.asarray(v.numpy())
          for k, v in model.state_dict().items()}
    sd["0.weight"] = np.arange(12, dtype=np.int64).reshape(4, 3)
    sd["1.num_batches_tracked"] = np.array(7.0)
    model.load_state_dict(sd)
    assert model.state_dict()["0.weight"].dtype == mg.float32
    assert model.state_dict()["0.weight"].numpy()[3, 2] == 11.0
    assert int(model.state_dict()["1.num_batches_tracked"].item()) == 7


def test_optimizer_load_refuses_state_of_another_model():
    model, opt = _trained()
    other = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    opt2 = optim.Adam(other.parameters(), lr=1e-2)
    with pytest.raises(ValueError, match=r"exp_avg.*\(4, 3\).*\(5, 3\)"):
        opt2.load_state_dict(opt.state_dict())
    assert not opt2.state  # nothing half-loaded
    small = optim.Adam(nn.Linear(3, 4).parameters())
    with pytest.raises(ValueError, match="parameter group"):
        small.load_state_dict(opt.state_dict())


# --------------------------------------------------------------------------- damaged checkpoints


def test_every_single_byte_corruption_is_detected_or_harmless(tmp_path):
    """Flip bytes all over a checkpoint: each load raises CheckpointError naming the file or
    returns exactly the saved values (a flip in an unused zip field), never other numbers."""
    model, opt = _trained()
    path = tmp_path / "ckpt.pt"
    mg.save(_checkpoint(model, opt, 5), path)
    good = path.read_bytes()
    expected = mg.load(path)
    bad = tmp_path / "bad.pt"
    outcomes = {"error": 0, "identical": 0}
    for pos in range(0, len(good), max(1, len(good) // 300)):
        data = bytearray(good)
        data[pos] ^= 0x5A
        bad.write_bytes(bytes(data))
        try:
            got = mg.load(bad)
        except CheckpointError as e:
            assert str(bad) in str(e)
            outcomes["error"] += 1
            continue
        assert got["epoch"] == 5, pos
        _same_state(got["model"], expected["model"])
        for pid, st in expected["optim"]["state"].items():
            for k, v in st.items():
                np.testing.assert_array_equal(got["optim"]["state"][pid][k].numpy(), v.numpy())
        outcomes["identical"] += 1
    assert outcomes["error"] > 250, outcomes


@pytest.mark.parametrize("keep", [0.0, 0.25, 0.5, 0.9, 0.999])
def test_truncated_checkpoint_names_the_file(tmp_path, keep):
    model, opt = _trained()
    path = tmp_path / "ckpt.pt"
    mg.save(_checkpoint(model, opt, 1), path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="ckpt.pt"):
        mg.load(path)


# --------------------------------------------------------------------------- damaged datasets


def _idx(arr):
    return bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, ">u4").tobytes() + arr.tobytes()


@pytest.fixture
def mnist_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir()
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 6).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3).astype(np.uint8),
    }
    for name, arr in arrays.items():
        (d / (name + ".gz")).write_bytes(gzip.compress(_idx(arr)))
    return d, arrays


def test_every_corruption_of_a_gzipped_idx_file_is_detected_or_harmless(mnist_dir):
    d, arrays = mnist_dir
    path = d / "train-images-idx3-ubyte.gz"
    good = path.read_bytes()
    errors = 0
    for pos in range(0, len(good), max(1, len(good) // 200)):
        data = bytearray(good)
        data[pos] ^= 0xA5
        path.write_bytes(bytes(data))
        try:
            got = read_idx(path)
        except DataFileError as e:
            assert str(path) in str(e)
            errors += 1
            continue
        np.testing.assert_array_equal(got, arrays["train-images-idx3-ubyte"])  # e.g. a header flag
    assert errors > 150
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte.gz"):
        MNIST(d)


@pytest.mark.parametrize("cut", [3, 10, 20, -1, -784])
def test_truncated_raw_idx_is_refused(tmp_path, cut):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = tmp_path / "train-images-idx3-ubyte"
    data = _idx(arr)
    path.write_bytes(data[:cut])
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte"):
        read_idx(path)


def test_every_corruption_of_mnist_pkl_gz_is_detected_or_harmless(tmp_path, monkeypatch):
    from minigrad.data import mnist

    monkeypatch.setenv("MINIGRAD_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(2)
    splits = tuple((rng.integers(0, 256, (n, 784)).astype(np.float32) / np.float32(256),
                    rng.integers(0, 10, n).astype(np.int64)) for n in (3, 2, 2))
    good = gzip.compress(pickle.dumps(splits, protocol=2))
    path = tmp_path / "mnist.pkl.gz"
    errors = 0
    for pos in range(0, len(good), max(1, len(good) // 120)):
        data = bytearray(good)
        data[pos] ^= 0xA5
        path.write_bytes(bytes(data))
        monkeypatch.setattr(mnist, "_pickle_cache", {})
        try:
            got = mnist.read_mnist_pickle(path)
        except DataFileError as e:
            assert str(path) in str(e)
            errors += 1
            continue
        for (x, y), name in zip(splits, ("train", "val", "test")):
            np.testing.assert_array_equal(got[name][0].reshape(-1, 784), (x * 256).astype(np.uint8))
            np.testing.assert_array_equal(got[name][1], y)
    assert errors > 100
