"""The fused optimizer kernels (csrc/optim.pyx) against the NumPy update math and torch.optim.

The compiled kernel must give the same bits as the NumPy version (same operations in the
same order) in float32 and float64, on the serial and the multi-threaded (large) path, and
both must follow torch.optim step for step.
"""

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.optim import functional as F

pytestmark = pytest.mark.skipif(
    F._optim is None or "cython" not in backend.available(), reason="compiled kernels not built"
)

# Sizes: tiny, odd, and above the kernel's parallel threshold (65536 elements: chunks of
# 16384 across threads, the last one partial).
SHAPES = [(1,), (7, 3), (33, 65), (300, 233)]


@pytest.fixture(params=["default", "parallel"])
def parallel_min(request):
    """Run each kernel test as built, and with every array going through the parallel path."""
    if request.param == "default":
        yield
        return
    old = F._optim.set_parallel_min(1)
    try:
        yield
    finally:
        F._optim.set_parallel_min(old)

ADAM_CONFIGS = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(weight_decay=0.1),
    dict(weight_decay=0.1, maximize=True),
    dict(amsgrad=True),
    dict(amsgrad=True, weight_decay=0.05),
    dict(betas=(0.3, 0.9)),  # 1 - beta1 >= 0.5: the other branch of torch's lerp
    dict(decoupled_weight_decay=True, weight_decay=0.1),
]

SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(lr=0.1, weight_decay=0.1, maximize=True),
    dict(lr=0.1, momentum=0.5, maximize=True),
]


def _adam_run(shape, dtype, cfg, steps, impl):
    """Run ``steps`` Adam steps of the functional update; returns every intermediate state."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(shape).astype(dtype)
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    step = np.zeros((), np.float32)
    betas = cfg.get("betas", (0.9, 0.999))
    out = []
    with backend.use(impl):
        for _ in range(steps):
            g = rng.standard_normal(shape).astype(dtype)
            F.adam([p], [g], [m], [v], [vmax], [step], lr=cfg.get("lr", 1e-3), beta1=betas[0],
                   beta2=betas[1], eps=cfg.get("eps", 1e-8),
                   weight_decay=cfg.get("weight_decay", 0.0), amsgrad=cfg.get("amsgrad", False),
                   maximize=cfg.get("maximize", False),
                   decoupled_weight_decay=cfg.get("decoupled_weight_decay", False))
            out.append((p.copy(), m.copy(), v.copy(), vmax.copy()))
    return out


def _sgd_run(shape, dtype, cfg, steps, impl):
    rng = np.random.default_rng(1)
    p = rng.standard_normal(shape).astype(dtype)
    bufs = [None]
    out = []
    with backend.use(impl):
        for _ in range(steps):
            g = rng.standard_normal(shape).astype(dtype)
            F.sgd([p], [g], bufs, lr=cfg["lr"], momentum=cfg.get("momentum", 0.0),
                  dampening=cfg.get("dampening", 0.0), weight_decay=cfg.get("weight_decay", 0.0),
                  nesterov=cfg.get("nesterov", False), maximize=cfg.get("maximize", False))
            out.append((p.copy(), None if bufs[0] is None else bufs[0].copy()))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=str)
def test_adam_kernel_matches_numpy_bitwise(dtype, shape, cfg, parallel_min):
    compiled = _adam_run(shape, dtype, cfg, 4, "cython")
    reference = _adam_run(shape, dtype, cfg, 4, "numpy")
    for got, want in zip(compiled, reference):
        for a, b in zip(got, want):
            assert a.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=str)
def test_sgd_kernel_matches_numpy_bitwise(dtype, shape, cfg, parallel_min):
    compiled = _sgd_run(shape, dtype, cfg, 4, "cython")
    reference = _sgd_run(shape, dtype, cfg, 4, "numpy")
    for (p1, b1), (p2, b2) in zip(compiled, reference):
        assert p1.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(p1, p2)
        if b2 is None:
            assert b1 is None
        else:
            np.testing.assert_array_equal(b1, b2)


def test_kernel_is_used_for_plain_parameters():
    p = np.zeros((3, 4), np.float32)
    with backend.use("cython"):
        assert F._use_kernel(p, np.ones_like(p), np.zeros_like(p), None)
        # Mixed dtypes, non-contiguous or read-only state fall back to NumPy.
        assert not F._use_kernel(p, np.ones((3, 4), np.float64))
        assert not F._use_kernel(p, np.ones((4, 3), np.float32).T)
        ro = np.zeros_like(p)
        ro.flags.writeable = False
        assert not F._use_kernel(p, np.ones_like(p), ro)
        assert F._use_kernel(p, ro)  # the gradient is only read
    with backend.use("numpy"):
        assert not F._use_kernel(p, np.ones_like(p))


# ----------------------------------------------------------------- against torch.optim


def _torch_pair(shape, dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    init = rng.standard_normal(shape).astype(dtype)
    mp = mg.nn.Parameter(mg.tensor(init))
    tp = torch.nn.Parameter(torch.from_numpy(init.copy()))
    return torch, rng, mp, tp


def _tol(dtype):
    # float64: the same math order, so agreement to rounding; float32: torch's vector kernels
    # may fuse multiply-adds, so a few ulps of the O(1) operands over the steps.
    return dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=str)
def test_adam_kernel_follows_torch(dtype, cfg):
    torch, rng, mp, tp = _torch_pair((300, 233), dtype, 2)
    cfg = dict(cfg)
    if cfg.pop("decoupled_weight_decay", False):
        mopt, topt = mg.optim.AdamW([mp], **cfg), torch.optim.AdamW([tp], **cfg)
    else:
        mopt, topt = mg.optim.Adam([mp], **cfg), torch.optim.Adam([tp], **cfg)
    with backend.use("cython"):
        for _ in range(6):
            g = rng.standard_normal(mp.shape).astype(dtype)
            mp.grad = mg.tensor(g)
            tp.grad = torch.from_numpy(g.copy())
            mopt.step()
            topt.step()
            np.testing.assert_allclose(mp.data, tp.detach().numpy(), **_tol(dtype))
    st = mopt.state[mp]
    np.testing.assert_allclose(st["exp_avg"].data, topt.state[tp]["exp_avg"].numpy(), **_tol(dtype))
    np.testing.assert_allclose(st["exp_avg_sq"].data, topt.state[tp]["exp_avg_sq"].numpy(),
                               **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=str)
def test_sgd_kernel_follows_torch(dtype, cfg):
    torch, rng, mp, tp = _torch_pair((300, 233), dtype, 3)
    mopt, topt = mg.optim.SGD([mp], **cfg), torch.optim.SGD([tp], **cfg)
    with backend.use("cython"):
        for _ in range(6):
            g = rng.standard_normal(mp.shape).astype(dtype)
            mp.grad = mg.tensor(g)
            tp.grad = torch.from_numpy(g.copy())
            mopt.step()
            topt.step()
            np.testing.assert_allclose(mp.data, tp.detach().numpy(), **_tol(dtype))


def test_kernel_keeps_nan_semantics():
    """A NaN gradient poisons the parameter and the moments, as in torch (no fast-math)."""
    p = np.ones(5, np.float32)
    g = np.array([0.1, np.nan, 0.2, np.inf, -0.3], np.float32)
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    with backend.use("cython"):
        F.adam([p], [g], [m], [v], [vmax], [np.zeros((), np.float32)], lr=0.1, beta1=0.9,
               beta2=0.999, eps=1e-8, amsgrad=True)
    assert np.isnan(p[1]) and np.isnan(m[1]) and np.isnan(v[1]) and np.isnan(vmax[1])
    assert np.isfinite(p[[0, 2, 4]]).all()
