"""Numerics at the edges: softmax, log_softmax, cross_entropy, binary_cross_entropy_with_logits,
sigmoid and logsumexp stay finite and match torch (values and gradients, float32 and
float64) for logits of +-1e4 and with -inf logits."""

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

INF = np.inf
# Rows: huge opposite logits, huge equal logits (ties at the top), moderate values next to huge
# ones, -inf entries (masked classes), one finite class among -inf.
LOGITS = np.array(
    [
        [1e4, -1e4, 0.0, 5.0, -3.0],
        [1e4, 1e4, 1e4 - 1.0, -1e4, 0.5],
        [-1e4, -1e4 + 2.0, -1e4, -1e4, -1e4 + 0.5],
        [-INF, 3.0, -INF, 1.0, 0.0],
        [2.0, -INF, -INF, -INF, -INF],
        [1e4, -INF, -1e4, 0.0, -INF],
    ]
)
TARGETS = np.array([0, 2, 1, 1, 0, 3])  # never a -inf class: the loss stays finite
TOL = {
    "float64": dict(rtol=1e-7, atol=1e-9),
    "float32": dict(rtol=1e-5, atol=1e-6),
}


def _both(fn_mg, fn_torch, x, dtype, seed=0):
    """Value and gradient (random cotangent) of the same function in minigrad and torch."""
    a = mg.tensor(x.astype(dtype), requires_grad=True)
    b = torch.tensor(x.astype(dtype), requires_grad=True)
    oa, ob = fn_mg(a), fn_torch(b)
    c = np.random.default_rng(seed).standard_normal(tuple(oa.shape)).astype(dtype)
    (oa * mg.tensor(c)).sum().backward()
    (ob * torch.tensor(c)).sum().backward()
    return (oa.detach().numpy(), a.grad.numpy()), (ob.detach().numpy(), b.grad.numpy())


def _check(ours, theirs, dtype, finite=True):
    for name, m, t in zip(("value", "gradient"), ours, theirs):
        assert m.shape == t.shape and m.dtype == t.dtype, (name, m.shape, t.shape, m.dtype, t.dtype)
        if finite:
            assert np.isfinite(t).all(), f"torch's {name} is not finite: the case is wrong"
            assert np.isfinite(m).all(), f"{name} is not finite: {m}"
        else:
            np.testing.assert_array_equal(np.isnan(m), np.isnan(t), err_msg=f"{name}: NaN positions")
            np.testing.assert_array_equal(np.isposinf(m), np.isposinf(t), err_msg=f"{name}: +inf")
            np.testing.assert_array_equal(np.isneginf(m), np.isneginf(t), err_msg=f"{name}: -inf")
        ok = np.isfinite(t)
        np.testing.assert_allclose(m[ok], t[ok], **TOL[dtype], err_msg=name)


DTYPES = ["float64", "float32"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_softmax(dtype, dim):
    x = LOGITS if dim != 0 else LOGITS[[0, 1, 2, 3, 5]]  # (column 0 of LOGITS[4:] is fine too)
    _check(*_both(lambda t: F.softmax(t, dim), lambda t: TF.softmax(t, dim), x, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_finite_entries(dtype):
    # log_softmax of a -inf logit is -inf (its gradient entry is finite): compare everything.
    ours, theirs = _both(lambda t: F.log_softmax(t, 1), lambda t: TF.log_softmax(t, 1), LOGITS, dtype)
    _check(ours, theirs, dtype, finite=False)
    assert np.isfinite(ours[1]).all()  # the gradient is finite everywhere
    assert np.isneginf(ours[0]).sum() == np.isneginf(LOGITS).sum()  # only the masked entries


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_without_inf(dtype):
    x = LOGITS[:3]
    _check(*_both(lambda t: F.log_softmax(t, 1), lambda t: TF.log_softmax(t, 1), x, dtype), dtype)
    _check(*_both(lambda t: t.log_softmax(0), lambda t: t.log_softmax(0), x, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(dtype, reduction):
    y_m, y_t = mg.tensor(TARGETS), torch.tensor(TARGETS)
    ours, theirs = _both(
        lambda t: F.cross_entropy(t, y_m, reduction=reduction),
        lambda t: TF.cross_entropy(t, y_t, reduction=reduction),
        LOGITS, dtype,
    )
    _check(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_large_batch_and_label_smoothing(dtype):
    # More rows than the fused kernel's small-input path, and the smoothing formula with
    # +-1e4 logits (no -inf: smoothing averages over every class, torch gives inf there).
    rng = np.random.default_rng(3)
    x = rng.choice([1e4, -1e4, 0.0, 3.0, -7.5], size=(1200, 10))
    y = rng.integers(0, 10, 1200)
    y_m, y_t = mg.tensor(y), torch.tensor(y)
    _check(*_both(lambda t: F.cross_entropy(t, y_m), lambda t: TF.cross_entropy(t, y_t), x, dtype), dtype)
    _check(*_both(lambda t: F.cross_entropy(t, y_m, label_smoothing=0.1),
                  lambda t: TF.cross_entropy(t, y_t, label_smoothing=0.1), x, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_target_at_minus_inf_is_inf_like_torch(dtype):
    x = np.array([[0.0, -INF, 1.0]])
    ours, theirs = _both(lambda t: F.cross_entropy(t, mg.tensor([1])),
                         lambda t: TF.cross_entropy(t, torch.tensor([1])), x, dtype)
    _check(ours, theirs, dtype, finite=False)
    assert np.isposinf(ours[0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
def test_binary_cross_entropy_with_logits(dtype, target):
    x = np.array([[1e4, -1e4, 0.0, 20.0, -20.0, 1e4 - 0.5, 88.0, -104.0]])
    t = np.full(x.shape, target, dtype=dtype)
    for kw in ({}, {"pos_weight": np.full(x.shape[1], 3.0, dtype=dtype)}, {"reduction": "sum"}):
        km = {k: mg.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        kt = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        ours, theirs = _both(
            lambda a, km=km: F.binary_cross_entropy_with_logits(a, mg.tensor(t), **km),
            lambda b, kt=kt: TF.binary_cross_entropy_with_logits(b, torch.tensor(t), **kt),
            x, dtype,
        )
        _check(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid(dtype):
    x = np.array([1e4, -1e4, 0.0, 30.0, -30.0, 88.7, -88.7, 745.0, -745.0, INF, -INF])
    ours, theirs = _both(lambda t: t.sigmoid(), lambda t: t.sigmoid(), x, dtype)
    _check(ours, theirs, dtype)
    assert ours[0][0] == 1.0 and ours[0][1] == 0.0 and ours[0][-1] == 0.0
    _check(*_both(lambda t: F.sigmoid(t), torch.sigmoid, x, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [1, -1, 0])
def test_logsumexp(dtype, dim):
    x = LOGITS if dim != 0 else LOGITS[:3]
    _check(*_both(lambda t: t.logsumexp(dim), lambda t: t.logsumexp(dim), x, dtype), dtype)
    _check(*_both(lambda t: mg.logsumexp(t, dim, keepdim=True),
                  lambda t: torch.logsumexp(t, dim, keepdim=True), x, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_minus_inf_row_matches_torch(dtype):
    # Fully masked rows: torch gives logsumexp -inf, softmax NaN; minigrad must agree, not crash.
    x = np.array([[-INF, -INF, -INF], [0.0, 1.0, -INF]])
    for fm, ft in [(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1)),
                   (lambda t: F.softmax(t, 1), lambda t: TF.softmax(t, 1)),
                   (lambda t: F.log_softmax(t, 1), lambda t: TF.log_softmax(t, 1))]:
        _check(*_both(fm, ft, x, dtype), dtype, finite=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_training_loss_from_extreme_logits_has_finite_gradient(dtype):
    # A classifier that is confidently wrong: huge loss, but the step it asks for is finite.
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    ours, theirs = _both(lambda t: F.cross_entropy(t, mg.tensor([1, 0])),
                         lambda t: TF.cross_entropy(t, torch.tensor([1, 0])), x, dtype)
    _check(ours, theirs, dtype)
    assert ours[0] > 1e3 and np.abs(ours[1]).max() <= 1.0
