"""Optimizers against torch.optim: N steps from identical init on identical gradients."""

import copy

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import functional as F

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _init(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _loss(ps, lib):
    """A smooth, non-quadratic loss whose gradients depend on the parameters."""
    total = 0
    for i, p in enumerate(ps):
        total = total + ((p * p) * (0.5 + i)).sum() + lib.sin(p * (1.0 + 0.3 * i)).sum()
    return total


def _make(init, requires_grad=True):
    mps = [mg.tensor(a.copy(), requires_grad=requires_grad) for a in init]
    tps = [torch.tensor(a.copy(), requires_grad=requires_grad) for a in init]
    return mps, tps


def _groups(ps, grouped):
    if not grouped:
        return ps
    return [{"params": ps[:1], "lr": 0.05}, {"params": ps[1:]}]


def _run(mopt, topt, mps, tps, steps=20, skip_last_grad=False):
    for _ in range(steps):
        mopt.zero_grad()
        topt.zero_grad()
        m_used = mps[:-1] if skip_last_grad else mps
        t_used = tps[:-1] if skip_last_grad else tps
        _loss(m_used, mg).backward()
        _loss(t_used, torch).backward()
        mopt.step()
        topt.step()


def _assert_params(mps, tps, rtol=1e-10, atol=1e-12):
    for m, t in zip(mps, tps):
        np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, maximize=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.2))),  # beta1 < 0.5: the other branch of lerp
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True, weight_decay=0.1, alpha=0.3)),
]


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("name,kw", CASES)
def test_parity_with_torch(name, kw, grouped):
    mps, tps = _make(_init())
    mopt = getattr(optim, name)(_groups(mps, grouped), **kw)
    topt = getattr(torch.optim, name)(_groups(tps, grouped), **kw)
    _run(mopt, topt, mps, tps, skip_last_grad=grouped)
    _assert_params(mps, tps)
    # parameters actually moved (a test that cannot fail is a defect)
    assert not np.allclose(mps[0].detach().numpy(), _init()[0])
    if grouped:  # the parameter without a gradient is untouched and has no state
        np.testing.assert_array_equal(mps[-1].detach().numpy(), _init()[-1])
        assert mps[-1] not in mopt.state


STATEFUL = [c for c in CASES if c[0] != "SGD" or "momentum" in c[1]]


@pytest.mark.parametrize("name,kw", STATEFUL[::2])
def test_state_dict_round_trip_mid_training(name, kw):
    mps, tps = _make(_init(1))
    mopt = getattr(optim, name)(mps, **kw)
    topt = getattr(torch.optim, name)(tps, **kw)
    _run(mopt, topt, mps, tps, steps=7)
    sd = mopt.state_dict()
    # torch's layout: integer ids, every option, state per id
    tsd = topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2]
    assert sorted(sd["state"][0]) == sorted(tsd["state"][0])
    for key, val in sd["state"][0].items():
        np.testing.assert_allclose(np.asarray(val.data), tsd["state"][0][key].numpy(), rtol=1e-10)
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    for key in kw:
        assert sd["param_groups"][0][key] == tsd["param_groups"][0][key]

    # a fresh optimizer on copies of the parameters continues identically
    mps2 = [mg.tensor(p.detach().numpy().copy(), requires_grad=True) for p in mps]
    mopt2 = getattr(optim, name)(mps2, lr=123.0)
    mopt2.load_state_dict(copy.deepcopy(sd))
    assert mopt2.param_groups[0]["lr"] == sd["param_groups"][0]["lr"]
    _run(mopt, topt, mps, tps, steps=6)
    for _ in range(6):
        mopt2.zero_grad()
        _loss(mps2, mg).backward()
        mopt2.step()
    _assert_params(mps2, tps)
    _assert_params(mps, tps)


def test_load_torch_optimizer_state_dict():
    mps, tps = _make(_init(2))
    mopt = optim.Adam(mps, lr=0.02, amsgrad=True)
    topt = torch.optim.Adam(tps, lr=0.02, amsgrad=True)
    for _ in range(5):
        topt.zero_grad()
        _loss(tps, torch).backward()
        topt.step()
    for m, t in zip(mps, tps):
        m.data[...] = t.detach().numpy()
    mopt.load_state_dict(topt.state_dict())
    assert mopt.state[mps[0]]["exp_avg"].dtype == mg.float64
    _run(mopt, topt, mps, tps, steps=5)
    _assert_params(mps, tps)


def test_plain_number_step_is_accepted():
    mps, tps = _make(_init(5))
    mopt, topt = optim.Adam(mps, lr=0.05), torch.optim.Adam(tps, lr=0.05)
    _run(mopt, topt, mps, tps, steps=3)
    sd = mopt.state_dict()
    for st in sd["state"].values():
        st["step"] = int(st["step"].item())
    mopt.load_state_dict(sd)
    _run(mopt, topt, mps, tps, steps=3)
    _assert_params(mps, tps)


def test_float32_stays_float32_and_in_place():
    init = [a.astype(np.float32) for a in _init()]
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)),
                     ("Adam", dict(weight_decay=0.1, amsgrad=True)), ("AdamW", {}),
                     ("RMSprop", dict(centered=True, momentum=0.9))]:
        mps = [mg.tensor(a.copy(), requires_grad=True) for a in init]
        arrays = [p.data for p in mps]
        opt = getattr(optim, name)(mps, **kw)
        for _ in range(3):
            opt.zero_grad()
            _loss(mps, mg).backward()
            grads = [p.grad.data.copy() for p in mps]
            opt.step()
            for p, g in zip(mps, grads):  # gradients are read, never written
                np.testing.assert_array_equal(p.grad.data, g)
        for p, a, a0 in zip(mps, arrays, init):
            assert p.data is a and p.dtype == mg.float32
            assert not np.array_equal(a, a0)
        for st in opt.state.values():
            for k, v in st.items():
                if k != "step":
                    assert v.dtype == mg.float32, (name, k)


def test_float32_close_to_torch():
    init = [a.astype(np.float32) for a in _init()]
    mps, tps = _make(init)
    mopt, topt = optim.Adam(mps, lr=0.01), torch.optim.Adam(tps, lr=0.01)
    _run(mopt, topt, mps, tps, steps=10)
    _assert_params(mps, tps, rtol=1e-5, atol=1e-6)


def test_step_bumps_version_and_runs_under_no_grad():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    v0 = p._version[0]
    opt.step()
    assert p._version[0] > v0
    assert p.grad_fn is None and p.requires_grad
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)


def test_zero_grad():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_closure():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(5.0)
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)


def test_param_groups_defaults_and_add_param_group():
    a, b, c = (mg.tensor([1.0], requires_grad=True) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["params"] == [b]
    opt.add_param_group({"params": [c], "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}]})
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1]}, {"params": []},
                                                            {"params": [2]}]})


def test_errors_like_torch():
    p = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        optim.SGD([p])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid momentum"):
        optim.SGD([p], lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid epsilon"):
        optim.Adam([p], eps=-1)
    with pytest.raises(ValueError, match="Invalid alpha"):
        optim.RMSprop([p], alpha=-1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)


def test_functional_matches_torch_functional():
    """The plain update functions, driven by hand, match torch.optim step for step."""
    rng = np.random.default_rng(3)
    p = rng.standard_normal((4, 3))
    m, v, vmax, step = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), np.zeros((), np.float32)
    tp = torch.tensor(p.copy(), requires_grad=True)
    topt = torch.optim.Adam([tp], lr=0.1, amsgrad=True, weight_decay=0.1)
    for _ in range(10):
        g = rng.standard_normal(p.shape)
        tp.grad = torch.tensor(g.copy())
        topt.step()
        F.adam([p], [g], [m], [v], [vmax], [step], lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=0.1, amsgrad=True)
    assert float(step) == 10.0
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,kw", CASES[2::2])
def test_blocked_and_non_contiguous_paths_match_torch(name, kw, monkeypatch):
    """Tiny blocks (7 elements: partial last blocks) and a non-contiguous parameter array."""
    monkeypatch.setattr(F, "BLOCK", 7)
    init = _init(4)
    mps, tps = _make(init)
    mps[0].data = np.asfortranarray(mps[0].data)  # same values, not C-contiguous
    mopt = getattr(optim, name)(mps, **kw)
    topt = getattr(torch.optim, name)(tps, **kw)
    _run(mopt, topt, mps, tps, steps=8)
    _assert_params(mps, tps)
    assert mps[0].data.flags.f_contiguous and not mps[0].data.flags.c_contiguous


def test_with_nn_module_parameters():
    nn = pytest.importorskip("minigrad.nn")
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()
    mmodel = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    mmodel.load_state_dict(tmodel.state_dict())
    for p in mmodel.parameters():
        p.data = p.data.astype(np.float64)
    mopt = optim.Adam(mmodel.parameters(), lr=0.01, weight_decay=0.01)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.01, weight_decay=0.01)
    x = np.random.default_rng(0).standard_normal((8, 5))
    for _ in range(5):
        mopt.zero_grad()
        topt.zero_grad()
        (mmodel(mg.tensor(x)) ** 2).mean().backward()
        (tmodel(torch.tensor(x)) ** 2).mean().backward()
        mopt.step()
        topt.step()
    for m, t in zip(mmodel.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
