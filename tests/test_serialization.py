"""minigrad.save / load / to_torch_state_dict."""

import math
import os
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler
from minigrad.serialization import CheckpointError

try:
    from minigrad import nn
except ImportError:  # pragma: no cover - nn is written separately
    nn = None

needs_nn = pytest.mark.skipif(nn is None, reason="minigrad.nn not available")


def test_round_trip_nested_structures(tmp_path):
    t64 = mg.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    shared = mg.tensor([1.0, 2.0], dtype=mg.float32)
    obj = {
        "tensor": t64,
        "int_tensor": mg.tensor([1, 2, 3]),
        "bool_tensor": mg.tensor([True, False]),
        "scalar_tensor": mg.tensor(3.5, dtype=mg.float64),
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "npscalar": np.float32(1.25),
        "numbers": [1, 2.5, -0.0, math.inf, -math.inf, 10**30, True, False, None],
        "nan": math.nan,
        "text": "hello \u00e9 \"quoted\"",
        "bytes": b"\x00\xff",
        "tuple": (1, ("a", None), []),
        3: "int key",
        (1, "x"): "tuple key",
        None: "none key",
        2.5: "float key",
        "tied": [shared, shared],
        "odict": OrderedDict([("b", 1), ("a", 2)]),
        "counter": Counter([2, 5, 5]),
        "empty": {},
        "requires_grad": mg.tensor([1.0], requires_grad=True),
    }
    path = tmp_path / "ckpt.pt"
    mg.save(obj, path)
    assert path.exists() and list(tmp_path.iterdir()) == [path]  # exact name, no temp files
    out = mg.load(path)
    assert set(out) == set(obj)
    for key in ("tensor", "int_tensor", "bool_tensor", "scalar_tensor"):
        assert isinstance(out[key], mg.Tensor)
        assert out[key].dtype == obj[key].dtype and out[key].shape == obj[key].shape
        np.testing.assert_array_equal(out[key].numpy(), obj[key].numpy())
    assert isinstance(out["array"], np.ndarray) and out["array"].dtype == np.int16
    np.testing.assert_array_equal(out["array"], obj["array"])
    assert type(out["npscalar"]) is np.float32 and out["npscalar"] == np.float32(1.25)
    assert out["numbers"] == obj["numbers"]
    assert [type(v) for v in out["numbers"]] == [type(v) for v in obj["numbers"]]
    assert math.copysign(1, out["numbers"][2]) == -1
    assert math.isnan(out["nan"])
    assert out["text"] == obj["text"] and out["bytes"] == obj["bytes"]
    assert out["tuple"] == (1, ("a", None), [])
    assert out[3] == "int key" and out[(1, "x")] == "tuple key" and out[None] == "none key"
    assert out[2.5] == "float key"
    assert out["tied"][0] is out["tied"][1]
    assert isinstance(out["odict"], OrderedDict) and list(out["odict"]) == ["b", "a"]
    assert isinstance(out["counter"], Counter) and out["counter"] == Counter([2, 5, 5])
    assert out["empty"] == {}
    assert out["requires_grad"].requires_grad and out["requires_grad"].is_leaf
    assert not out["tensor"].requires_grad


def test_saved_file_has_default_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    mg.save({"a": 1}, tmp_path / "c")
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o666 & ~umask


def test_file_objects(tmp_path):
    with open(tmp_path / "f.npz", "wb") as f:
        mg.save({"x": mg.ones(2)}, f)
    with open(tmp_path / "f.npz", "rb") as f:
        assert mg.load(f)["x"].tolist() == [1.0, 1.0]


def test_file_is_plain_npz_without_pickles(tmp_path):
    mg.save({"w": mg.ones(2, 2), "epoch": 7}, tmp_path / "c")
    with np.load(tmp_path / "c", allow_pickle=False) as npz:
        assert "__minigrad_manifest__" in npz.files
        assert any(npz[k].shape == (2, 2) for k in npz.files)


def test_unsupported_objects_fail_before_writing(tmp_path):
    path = tmp_path / "ckpt"
    mg.save({"ok": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"obj\['bad'\]\[1\]: cannot save an object of type object"):
        mg.save({"bad": [1, object()]}, path)
    with pytest.raises(TypeError, match="dict key"):
        mg.save({frozenset(): 1}, path)
    with pytest.raises(TypeError, match="dtype object"):
        mg.save(np.array([None]), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt"]


def test_failure_midway_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    mg.save({"epoch": 1}, path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        mg.save({"epoch": 2}, path)
    monkeypatch.undo()
    assert mg.load(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["ckpt"]  # the temporary file is gone


@pytest.mark.parametrize("cut", [0, 10, 100, -30, -1])
def test_truncated_file_raises_naming_it(tmp_path, cut):
    path = tmp_path / "ckpt.pt"
    mg.save({"w": mg.tensor(np.arange(1000.0)), "epoch": 3}, path)
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut > 0 else data[:len(data) + cut] if cut else b"")
    with pytest.raises(CheckpointError) as e:
        mg.load(path)
    assert str(path) in str(e.value)


def test_corrupted_bytes_raise_naming_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    mg.save({"w": mg.tensor(np.arange(1000.0))}, path)
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside the stored array: the CRC check catches it
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="ckpt.pt"):
        mg.load(path)


def test_foreign_files_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(CheckpointError, match="not a file written by minigrad.save"):
        mg.load(tmp_path / "plain.npz")
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("__minigrad_manifest__.npy", b"junk")
    with pytest.raises(CheckpointError, match="z.npz"):
        mg.load(tmp_path / "z.npz")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(CheckpointError, match="text"):
        mg.load(tmp_path / "text")
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing")


def _loss(ps):
    return sum(((p * p) * (1.0 + i) + mg.sin(p)).sum() for i, p in enumerate(ps))


@pytest.mark.parametrize("name,kw", [("Adam", dict(lr=0.05, amsgrad=True)),
                                     ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                     ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
                                     ("AdamW", dict(lr=0.05))])
def test_optimizer_checkpoint_resume(tmp_path, name, kw):
    """Stop mid-training, save to disk, load into fresh objects: same parameters as not stopping."""
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 4)), rng.standard_normal(5)]

    def make(arrays):
        ps = [mg.tensor(a.copy(), requires_grad=True) for a in arrays]
        opt = getattr(optim, name)(ps, **kw)
        return ps, opt, lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

    def train(ps, opt, sched, steps):
        for _ in range(steps):
            opt.zero_grad()
            _loss(ps).backward()
            opt.step()
            sched.step()

    ps, opt, sched = make(init)
    train(ps, opt, sched, 5)
    path = tmp_path / "ckpt"
    mg.save({"params": [p.detach() for p in ps], "optim": opt.state_dict(),
             "sched": sched.state_dict(), "epoch": 5}, path)
    train(ps, opt, sched, 5)

    ck = mg.load(path)
    assert ck["epoch"] == 5
    ps2, opt2, sched2 = make([p.numpy() for p in ck["params"]])
    opt2.load_state_dict(ck["optim"])
    sched2.load_state_dict(ck["sched"])
    train(ps2, opt2, sched2, 5)
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


@needs_nn
def test_model_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    path = tmp_path / "model.npz"
    mg.save(model.state_dict(), path)
    sd = mg.load(path)
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    fresh = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    fresh.load_state_dict(sd)
    x = mg.randn(5, 4)
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())


def test_torch_weights_into_minigrad_and_back(tmp_path):
    torch = pytest.importorskip("torch")
    if nn is None:
        pytest.skip("minigrad.nn not available")
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 6 * 6, 5))
    mmodel = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    mmodel.load_state_dict(tmodel.state_dict())
    path = tmp_path / "w.npz"
    mg.save(mmodel.state_dict(), path)
    back = mg.to_torch_state_dict(mg.load(path))
    tmodel2 = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                  torch.nn.Linear(4 * 6 * 6, 5))
    tmodel2.load_state_dict(back)
    for (k, a), (k2, b) in zip(tmodel.state_dict().items(), tmodel2.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        assert torch.equal(a, b)
    # a module is accepted directly; results are copies, not views of minigrad's arrays
    direct = mg.to_torch_state_dict(mmodel)
    direct["0.weight"].zero_()
    assert not np.all(mmodel.state_dict()["0.weight"].numpy() == 0)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        np.testing.assert_allclose(tmodel2(x).numpy(), mmodel(mg.tensor(x.numpy())).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_to_torch_state_dict_without_nn():
    torch = pytest.importorskip("torch")
    sd = mg.to_torch_state_dict({"w": mg.tensor(np.ones((2, 3))), "n": np.arange(3)})
    assert sd["w"].dtype == torch.float64 and sd["n"].dtype == torch.int64
    with pytest.raises(TypeError, match="not a tensor"):
        mg.to_torch_state_dict({"epoch": 3})


@pytest.mark.parametrize("name,kw", [
    ("StepLR", dict(step_size=2)), ("MultiStepLR", dict(milestones=[2, 4, 4])),
    ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=4)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.5 ** e)), ("OneCycleLR", dict(max_lr=1.0, total_steps=12)),
])
def test_scheduler_state_through_save_load(tmp_path, name, kw):
    def make():
        p = mg.tensor([1.0, -2.0], requires_grad=True)
        opt = optim.SGD([p], lr=0.1, momentum=0.9)
        return opt, getattr(lr_scheduler, name)(opt, **kw)

    opt, sched = make()
    for _ in range(5):
        opt.step()
        sched.step()
    mg.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s")
    expected = []
    for _ in range(5):
        opt.step()
        sched.step()
        expected.append((sched.get_last_lr(), opt.param_groups[0]["momentum"]))
    ck = mg.load(tmp_path / "s")
    opt2, sched2 = make()
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    got = []
    for _ in range(5):
        opt2.step()
        sched2.step()
        got.append((sched2.get_last_lr(), opt2.param_groups[0]["momentum"]))
    assert got == expected


def test_reduce_on_plateau_state_with_infinities(tmp_path):
    p = mg.tensor([1.0], requires_grad=True)
    sched = lr_scheduler.ReduceLROnPlateau(optim.SGD([p], lr=0.1), patience=0)
    mg.save(sched.state_dict(), tmp_path / "r")
    sd = mg.load(tmp_path / "r")
    assert sd["best"] == math.inf and sd["mode_worse"] == math.inf
    sched.load_state_dict(sd)
    sched.step(1.0)
    sched.step(2.0)
    assert sched.get_last_lr() == [pytest.approx(0.01)]
