"""Learning-rate schedulers against torch.optim.lr_scheduler, value for value."""

import copy

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler as mls

torch = pytest.importorskip("torch")
tls = torch.optim.lr_scheduler


def _params(lib, seed=0):
    rng = np.random.default_rng(seed)
    return [lib.tensor(rng.standard_normal((3, 2)), requires_grad=True),
            lib.tensor(rng.standard_normal(4), requires_grad=True)]


def _loss(ps, lib):
    return sum(((p * p) + lib.sin(p)).sum() for p in ps)


def _groups(ps):
    return [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.3}]


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),  # 30 steps: several cycles
    ("CosineAnnealingLR", dict(T_max=10)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e) + 0.1 * (e % 3))),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=30)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=30, anneal_strategy="linear", pct_start=0.4,
                        div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=0.4, epochs=3, steps_per_epoch=10, three_phase=True,
                        base_momentum=0.7, max_momentum=0.9)),
    ("OneCycleLR", dict(max_lr=0.4, total_steps=30, cycle_momentum=False)),
]


def _drive(name, kw, opt_name="SGD", opt_kw=None, steps=30, check_lr=True):
    opt_kw = dict(lr=0.1, momentum=0.9) if opt_kw is None else opt_kw
    mps, tps = _params(mg), _params(torch)
    mopt = getattr(optim, opt_name)(_groups(mps), **opt_kw)
    topt = getattr(torch.optim, opt_name)(_groups(tps), **opt_kw)
    msch, tsch = getattr(mls, name)(mopt, **kw), getattr(tls, name)(topt, **kw)
    lrs = []
    for _ in range(steps):
        for opt, ps, lib in ((mopt, mps, mg), (topt, tps, torch)):
            opt.zero_grad()
            _loss(ps, lib).backward()
            opt.step()
        msch.step()
        tsch.step()
        assert msch.get_last_lr() == tsch.get_last_lr()  # exactly equal
        for mg_group, t_group in zip(mopt.param_groups, topt.param_groups):
            assert mg_group["lr"] == t_group["lr"]
            for key in ("momentum", "betas"):
                if key in t_group:
                    assert mg_group[key] == t_group[key], key
        lrs.append(msch.get_last_lr()[0])
    for m, t in zip(mps, tps):
        np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    if check_lr:
        assert len(set(lrs)) > 1  # the schedule actually changed the lr
    return msch, mopt


@pytest.mark.parametrize("name,kw", SCHEDULERS)
def test_schedule_parity_sgd(name, kw):
    _drive(name, kw)


def test_one_cycle_cycles_adam_beta1():
    _drive("OneCycleLR", dict(max_lr=0.05, total_steps=30), opt_name="Adam", opt_kw=dict(lr=0.01))


def test_one_cycle_too_many_steps():
    p = mg.tensor([1.0], requires_grad=True)
    sched = mls.OneCycleLR(optim.SGD([p], lr=0.1, momentum=0.9), max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


@pytest.mark.parametrize("kw", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(factor=0.5, patience=1, cooldown=1, min_lr=[0.02, 0.05]),
    dict(mode="max", factor=0.3, patience=0, threshold_mode="rel", eps=0.05),
])
def test_reduce_on_plateau_parity(kw):
    rng = np.random.default_rng(1)
    metrics = np.concatenate([np.linspace(1, 0.5, 5), 0.5 + 0.05 * rng.standard_normal(35)])
    mps, tps = _params(mg), _params(torch)
    mopt, topt = optim.SGD(_groups(mps), lr=0.1), torch.optim.SGD(_groups(tps), lr=0.1)
    msch, tsch = mls.ReduceLROnPlateau(mopt, **kw), tls.ReduceLROnPlateau(topt, **kw)
    seen = set()
    for i, metric in enumerate(metrics):
        msch.step(float(metric))
        tsch.step(float(metric))
        assert msch.get_last_lr() == tsch.get_last_lr(), i
        assert msch.num_bad_epochs == tsch.num_bad_epochs and msch.best == tsch.best
        seen.add(msch.get_last_lr()[0])
    assert len(seen) > 1
    msch.step(mg.tensor(0.1))  # a one-element tensor is accepted as the metric


@pytest.mark.parametrize("name,kw", SCHEDULERS[:7])
def test_state_dict_resume(name, kw):
    """Stop mid-schedule, rebuild optimizer + scheduler from state dicts, continue identically."""
    mps = _params(mg)
    mopt = optim.SGD(_groups(mps), lr=0.1, momentum=0.9)
    msch = getattr(mls, name)(mopt, **kw)
    for _ in range(9):
        mopt.step()
        msch.step()
    osd, ssd = copy.deepcopy(mopt.state_dict()), copy.deepcopy(msch.state_dict())
    expected = []
    for _ in range(9):
        mopt.step()
        msch.step()
        expected.append(msch.get_last_lr())

    mopt2 = optim.SGD(_groups(_params(mg)), lr=0.1, momentum=0.9)
    msch2 = getattr(mls, name)(mopt2, **kw)
    mopt2.load_state_dict(osd)
    msch2.load_state_dict(ssd)
    assert msch2.last_epoch == 9
    got = []
    for _ in range(9):
        mopt2.step()
        msch2.step()
        got.append(msch2.get_last_lr())
    assert got == expected


def test_closed_form_epoch_argument():
    for name, kw in SCHEDULERS[:5]:
        mopt = optim.SGD(_groups(_params(mg)), lr=0.1)
        topt = torch.optim.SGD(_groups(_params(torch)), lr=0.1)
        msch, tsch = getattr(mls, name)(mopt, **kw), getattr(tls, name)(topt, **kw)
        with pytest.warns(UserWarning):
            tsch.step(6)
        msch.step(6)
        assert msch.get_last_lr() == pytest.approx(tsch.get_last_lr(), rel=1e-15)


def test_errors():
    p = mg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        mls.StepLR(object(), 2)
    with pytest.raises(KeyError, match="initial_lr"):
        mls.StepLR(opt, 2, last_epoch=3)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        mls.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="total_steps OR"):
        mls.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="momentum or beta1"):
        mls.OneCycleLR(optim.Optimizer([p], {"lr": 0.1}), max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        mls.OneCycleLR(opt, max_lr=1.0, total_steps=5, anneal_strategy="exp")
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas"):
        mls.LambdaLR(opt, [lambda e: 1, lambda e: 2])


@pytest.mark.parametrize("name,kw", [
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)), ("ExponentialLR", dict(gamma=0.97)),
    ("StepLR", dict(step_size=7, gamma=0.7)), ("OneCycleLR", dict(max_lr=0.3, total_steps=200)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=200, three_phase=True, anneal_strategy="linear")),
])
def test_long_runs_identical(name, kw):
    """200 steps of the recursive forms stay bit-identical to torch's."""
    mopt = optim.SGD([mg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    msch, tsch = getattr(mls, name)(mopt, **kw), getattr(tls, name)(topt, **kw)
    for _ in range(200 if name != "OneCycleLR" else 199):
        mopt.step()
        topt.step()
        msch.step()
        tsch.step()
        assert msch.get_last_lr() == tsch.get_last_lr()
        assert mopt.param_groups[0]["momentum"] == topt.param_groups[0]["momentum"]
