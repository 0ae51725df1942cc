"""nn.functional vs torch.nn.functional: forward and gradient parity in float64, and errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402
from minigrad.testing import compare_with_torch  # noqa: E402

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


def labels(n, c, shape=None):
    return rng.integers(0, c, size=shape if shape is not None else (n,))


def _t(a):
    return torch.tensor(a)


# --------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name,kwargs", [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("sigmoid", {}), ("tanh", {}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("elu", {"alpha": 0.7}),
    ("softplus", {"beta": 2.0}),
])
def test_activations(name, kwargs):
    x = randn(4, 7, 3)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks
    compare_with_torch(lambda a: getattr(F, name)(a, **kwargs),
                       lambda a: getattr(TF, name)(a, **kwargs), x)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_log_softmax(dim):
    x = randn(5, 6, 3)
    compare_with_torch(lambda a: F.softmax(a, dim), lambda a: TF.softmax(a, dim), x)
    compare_with_torch(lambda a: F.log_softmax(a, dim), lambda a: TF.log_softmax(a, dim), x)


def test_log_softmax_extreme_logits():
    x = np.array([[1e4, -1e4, 0.0], [-np.inf, 1.0, 2.0], [3.0, -np.inf, -np.inf]])
    compare_with_torch(lambda a: F.log_softmax(a, 1), lambda a: TF.log_softmax(a, 1), x)


def test_relu_inplace_matches_out_of_place():
    x = mg.tensor(randn(3, 4))
    y = x * 1.0
    out = F.relu(y, inplace=True)
    assert out is y
    np.testing.assert_array_equal(y.data, np.maximum(x.data, 0))


# --------------------------------------------------------------------------- cross entropy


CE_CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(label_smoothing=0.1),
    dict(label_smoothing=0.3, reduction="none"),
    dict(ignore_index=2),
    dict(ignore_index=2, label_smoothing=0.2),
    dict(weight=True),
    dict(weight=True, reduction="sum"),
    dict(weight=True, ignore_index=1),
    dict(weight=True, ignore_index=1, label_smoothing=0.15),
    dict(weight=True, ignore_index=1, label_smoothing=0.15, reduction="none"),
    dict(weight=True, label_smoothing=0.15, reduction="sum"),
]


def _ce_args(case, c):
    kw = dict(case)
    w = None
    if kw.pop("weight", False):
        w = rng.uniform(0.2, 2.0, c)
    return kw, w


@pytest.mark.parametrize("case", CE_CASES)
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3), (5,)])
def test_cross_entropy_class_indices(case, shape):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = randn(*shape)
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = rng.integers(0, c, size=tshape)
    if "ignore_index" in case and t.ndim:
        t.reshape(-1)[::3] = case["ignore_index"]
    kw, w = _ce_args(case, c)
    compare_with_torch(
        lambda a, tt: F.cross_entropy(a, tt, weight=None if w is None else mg.tensor(w), **kw),
        lambda a, tt: TF.cross_entropy(a, tt, weight=None if w is None else _t(w), **kw),
        x, t,
    )


@pytest.mark.parametrize("case", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                  dict(label_smoothing=0.2), dict(weight=True),
                                  dict(weight=True, label_smoothing=0.1, reduction="none")])
@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 3, 2), (5,)])
def test_cross_entropy_probabilities(case, shape):
    x = randn(*shape)
    c = shape[0] if len(shape) == 1 else shape[1]
    axis = 0 if len(shape) == 1 else 1
    p = rng.uniform(0.01, 1, shape)
    p = p / p.sum(axis=axis, keepdims=True)
    kw, w = _ce_args(case, c)
    # gradients flow to both logits and the probability target
    compare_with_torch(
        lambda a, tt: F.cross_entropy(a, tt, weight=None if w is None else mg.tensor(w), **kw),
        lambda a, tt: TF.cross_entropy(a, tt, weight=None if w is None else _t(w), **kw),
        x, p,
    )


def test_cross_entropy_float32_hot_path():
    x = randn(64, 10)
    t = labels(64, 10)
    compare_with_torch(F.cross_entropy, TF.cross_entropy, x, t, dtype=np.float32,
                       atol=1e-6, rtol=1e-5)


def test_cross_entropy_extreme_logits():
    x = np.array([[1e4, -1e4, 0.0, 5.0], [-1e4, 1e4, 1e4, 0.0], [-np.inf, 2.0, 1.0, 0.0],
                  [-np.inf, -np.inf, 3.0, -np.inf]])
    t = np.array([0, 2, 1, 2])
    for red in ("mean", "none"):
        compare_with_torch(F.cross_entropy, TF.cross_entropy, x, t, None, None, -100, None, red)
    out = F.cross_entropy(mg.tensor(x), mg.tensor(t))
    assert np.isfinite(out.item())


def test_cross_entropy_target_at_minus_inf_is_inf_like_torch():
    x = np.array([[-np.inf, 1.0, 2.0]])
    t = np.array([0])
    got = F.cross_entropy(mg.tensor(x), mg.tensor(t)).item()
    want = TF.cross_entropy(_t(x), _t(t)).item()
    assert got == want == np.inf


def test_cross_entropy_all_ignored_is_nan_with_zero_grad():
    x = mg.tensor(randn(3, 4), requires_grad=True)
    t = mg.tensor(np.full(3, -100))
    loss = F.cross_entropy(x, t)
    xt = _t(x.data.copy()).requires_grad_()
    tl = TF.cross_entropy(xt, _t(t.data))
    tl.backward()
    loss.backward()
    assert np.isnan(loss.item()) and np.isnan(tl.item())
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())


def test_cross_entropy_backward_twice_accumulates():
    x = mg.tensor(randn(4, 3), requires_grad=True)
    t = mg.tensor(labels(4, 3))
    loss = F.cross_entropy(x, t)
    loss.backward(retain_graph=True)
    g1 = x.grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * g1)


def test_cross_entropy_uint8_and_int32_targets_accepted():
    x = randn(5, 4)
    t = labels(5, 4)
    want = TF.cross_entropy(_t(x), _t(t)).item()
    for dt in (np.uint8, np.int32):
        assert F.cross_entropy(mg.tensor(x), mg.tensor(t.astype(dt))).item() == pytest.approx(want, rel=1e-12)


def test_cross_entropy_errors():
    x = mg.tensor(randn(64, 10))
    with pytest.raises(TypeError, match=r"cross_entropy.*float.*\(64,\).*\.long\(\)"):
        F.cross_entropy(x, mg.tensor(labels(64, 10).astype(np.float32)))
    with pytest.raises(IndexError, match=r"cross_entropy.*class index 10.*10 classes.*0\.\.9"):
        t = labels(64, 10)
        t[5] = 10
        F.cross_entropy(x, mg.tensor(t))
    with pytest.raises(IndexError, match=r"class index -1"):
        t = labels(64, 10)
        t[0] = -1
        F.cross_entropy(x, mg.tensor(t))
    with pytest.raises(ValueError, match=r"\(64, 10\).*\(64,\).*\(64, 1\).*squeeze"):
        F.cross_entropy(x, mg.tensor(labels(64, 10)[:, None]))
    with pytest.raises(ValueError, match=r"target of shape \(32,\)"):
        F.cross_entropy(x, mg.tensor(labels(32, 10)))
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(x, mg.tensor(labels(64, 10)), weight=mg.ones(9))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, mg.tensor(labels(64, 10)), reduction="avg")


# --------------------------------------------------------------------------- nll


@pytest.mark.parametrize("case", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                  dict(ignore_index=0), dict(weight=True),
                                  dict(weight=True, ignore_index=2, reduction="none")])
@pytest.mark.parametrize("shape", [(7, 4), (2, 4, 3, 3), (4,)])
def test_nll_loss(case, shape):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = randn(*shape)
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = rng.integers(0, c, size=tshape)
    kw, w = _ce_args(case, c)
    compare_with_torch(
        lambda a, tt: F.nll_loss(F.log_softmax(a, 0 if a.ndim == 1 else 1), tt,
                                 weight=None if w is None else mg.tensor(w), **kw),
        lambda a, tt: TF.nll_loss(TF.log_softmax(a, 0 if a.ndim == 1 else 1), tt,
                                  weight=None if w is None else _t(w), **kw),
        x, t,
    )


def test_nll_loss_errors():
    x = mg.tensor(randn(8, 3))
    with pytest.raises(IndexError, match=r"nll_loss.*class index 3.*0\.\.2"):
        F.nll_loss(x, mg.tensor(np.array([0, 1, 3, 0, 0, 0, 0, 0])))
    with pytest.raises(TypeError, match=r"nll_loss.*\.long\(\)"):
        F.nll_loss(x, mg.tensor(np.zeros(8)))


# --------------------------------------------------------------------------- regression / binary


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fname", ["mse_loss", "l1_loss"])
def test_mse_l1(fname, reduction):
    x, y = randn(5, 3), randn(5, 3)
    compare_with_torch(lambda a, b: getattr(F, fname)(a, b, reduction=reduction),
                       lambda a, b: getattr(TF, fname)(a, b, reduction=reduction), x, y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_weighted(reduction):
    x, y, w = randn(4, 3), randn(4, 3), rng.uniform(0.1, 1, (4, 3))
    compare_with_torch(lambda a, b: F.mse_loss(a, b, reduction=reduction, weight=mg.tensor(w)),
                       lambda a, b: TF.mse_loss(a, b, reduction=reduction, weight=_t(w)), x, y)


def test_mse_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"mse_loss.*\(8, 1\).*\(8,\)"):
        F.mse_loss(mg.tensor(randn(8)), mg.tensor(randn(8, 1)))
    with pytest.raises(ValueError, match=r"l1_loss.*\(3,\).*\(3, 2\)"):
        F.l1_loss(mg.tensor(randn(3, 2)), mg.tensor(randn(3)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted):
    p = rng.uniform(0.02, 0.98, (6, 4))
    t = rng.uniform(0, 1, (6, 4))
    w = rng.uniform(0.5, 2, (4,)) if weighted else None
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy(a, b, None if w is None else mg.tensor(w), reduction=reduction),
        lambda a, b: TF.binary_cross_entropy(a, b, None if w is None else _t(w), reduction=reduction),
        p, t,
    )


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = np.array([0.0, 1.0, 0.5, 1e-50])
    t = np.array([1.0, 0.0, 1.0, 1.0])
    compare_with_torch(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
                       lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"), p, t,
                       requires_grad=False)
    x = mg.tensor(p, requires_grad=True)
    F.binary_cross_entropy(x, mg.tensor(t)).backward()
    xt = _t(p).requires_grad_()
    TF.binary_cross_entropy(xt, _t(t)).backward()
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-12)


def test_binary_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"between 0 and 1.*with_logits"):
        F.binary_cross_entropy(mg.tensor([0.5, 1.5]), mg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        F.binary_cross_entropy(mg.tensor(np.full(4, 0.5)), mg.tensor(np.ones((4, 1))))
    with pytest.raises(TypeError, match=r"\.float\(\)"):
        F.binary_cross_entropy(mg.tensor(np.full(4, 0.5)), mg.tensor(np.ones(4, np.int64)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,pos", [(False, False), (True, False), (False, True), (True, True)])
def test_bce_with_logits(reduction, weighted, pos):
    x = randn(5, 3) * 4
    x[0, 0], x[1, 1] = 60.0, -60.0  # saturated logits stay finite and exact
    t = rng.uniform(0, 1, (5, 3))
    w = rng.uniform(0.5, 2, (5, 1)) if weighted else None
    pw = rng.uniform(0.5, 3, (3,)) if pos else None
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, None if w is None else mg.tensor(w), reduction=reduction,
            pos_weight=None if pw is None else mg.tensor(pw)),
        lambda a, b: TF.binary_cross_entropy_with_logits(
            a, b, None if w is None else _t(w), reduction=reduction,
            pos_weight=None if pw is None else _t(pw)),
        x, t,
    )


# --------------------------------------------------------------------------- layers as functions


def test_linear_functional():
    x, w, b = randn(3, 2, 5), randn(4, 5), randn(4)
    compare_with_torch(F.linear, TF.linear, x, w, b)
    compare_with_torch(lambda a, ww: F.linear(a, ww), lambda a, ww: TF.linear(a, ww), x, w)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same"),
                                dict(padding="same", dilation=2), dict(padding="valid"),
                                dict(groups=2, padding=(1, 0))])
def test_conv2d_functional(kw):
    x, w, b = randn(2, 4, 7, 6), randn(6, 4 // kw.get("groups", 1), 3, 2), randn(6)
    compare_with_torch(lambda a, ww, bb: F.conv2d(a, ww, bb, **kw),
                       lambda a, ww, bb: TF.conv2d(a, ww, bb, **kw), x, w, b)


def test_conv2d_nhwc_error():
    x = mg.tensor(randn(2, 28, 28, 1))
    w = mg.tensor(randn(8, 1, 3, 3))
    with pytest.raises(RuntimeError, match=r"NCHW.*permute\(0, 3, 1, 2\)"):
        F.conv2d(x, w)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), ceil_mode=True)])
def test_pooling_functional(kw):
    x = randn(2, 3, 7, 8)
    compare_with_torch(lambda a: F.max_pool2d(a, **kw), lambda a: TF.max_pool2d(a, **kw), x)
    compare_with_torch(lambda a: F.avg_pool2d(a, **kw), lambda a: TF.avg_pool2d(a, **kw), x)


def test_max_pool2d_return_indices():
    x = randn(2, 3, 6, 6)
    out, idx = F.max_pool2d(mg.tensor(x), 2, return_indices=True)
    tout, tidx = TF.max_pool2d(_t(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    np.testing.assert_allclose(out.data, tout.numpy())


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(8, 3), (6, 3, 5), (4, 3, 5, 2)])
def test_batch_norm_functional(training, shape):
    x = randn(*shape)
    rm, rv = randn(3), rng.uniform(0.5, 2, 3)
    w, b = randn(3), randn(3)
    mrm, mrv = mg.tensor(rm), mg.tensor(rv)
    trm, trv = _t(rm), _t(rv)
    compare_with_torch(
        lambda a, ww, bb: F.batch_norm(a, mrm, mrv, ww, bb, training, 0.3, 1e-3),
        lambda a, ww, bb: TF.batch_norm(a, trm, trv, ww, bb, training, 0.3, 1e-3),
        x, w, b,
    )
    np.testing.assert_allclose(mrm.data, trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mrv.data, trv.numpy(), rtol=1e-12)


def test_batch_norm_without_affine_or_stats():
    x = randn(5, 4, 3)
    compare_with_torch(lambda a: F.batch_norm(a, None, None, training=True),
                       lambda a: TF.batch_norm(a, None, None, training=True), x)


def test_batch_norm_single_value_per_channel_error():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(mg.tensor(randn(1, 3)), None, None, training=True)


def test_embedding_functional():
    w = randn(10, 4)
    idx = rng.integers(0, 10, (3, 5))
    idx[0, :3] = 2  # repeated indices accumulate
    compare_with_torch(lambda ww, i: F.embedding(i, ww), lambda ww, i: TF.embedding(i, ww), w, idx)
    compare_with_torch(lambda ww, i: F.embedding(i, ww, padding_idx=2),
                       lambda ww, i: TF.embedding(i, ww, padding_idx=2), w, idx)


def test_embedding_errors():
    w = mg.tensor(randn(10, 4))
    with pytest.raises(IndexError, match=r"index 10 .*10 rows"):
        F.embedding(mg.tensor(np.array([1, 10])), w)
    with pytest.raises(TypeError, match=r"\.long\(\)"):
        F.embedding(mg.tensor(np.array([1.0])), w)


def test_one_hot():
    t = np.array([[0, 2], [3, 1]])
    for nc in (-1, 5):
        got = F.one_hot(mg.tensor(t), nc)
        want = TF.one_hot(_t(t), nc)
        assert got.dtype == mg.int64
        np.testing.assert_array_equal(got.data, want.numpy())
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(mg.tensor(t), 3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(mg.tensor([0.0, 1.0]))


def test_pad_functional():
    x = randn(2, 3, 4)
    compare_with_torch(lambda a: F.pad(a, (1, 2, 0, 1)), lambda a: TF.pad(a, (1, 2, 0, 1)), x)
    compare_with_torch(lambda a: F.pad(a, (1, 1), value=2.5), lambda a: TF.pad(a, (1, 1), value=2.5), x)


def test_dropout_functional_statistics_and_mask_gradient():
    x = mg.ones(200, 500, requires_grad=True)
    p = 0.3
    y = F.dropout(x, p)
    zeroed = (y.data == 0).mean()
    assert abs(zeroed - p) < 0.01  # 100k draws: std of the fraction ~0.0015
    np.testing.assert_allclose(y.data[y.data != 0], 1 / (1 - p), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # same mask, same scale
    assert F.dropout(x, p, training=False) is x
    assert np.all(F.dropout(x, 1.0).data == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_non_contiguous_inputs():
    x = randn(5, 7)  # used transposed: (7, 5) logits, non-contiguous
    t = labels(7, 5)
    compare_with_torch(lambda a, tt: F.cross_entropy(a.T, tt, label_smoothing=0.1),
                       lambda a, tt: TF.cross_entropy(a.T, tt, label_smoothing=0.1), x, t)
    x4 = randn(2, 5, 4, 3)
    t3 = rng.integers(0, 4, (2, 3, 5))
    compare_with_torch(lambda a, tt: F.cross_entropy(a.permute(0, 2, 3, 1), tt, reduction="none"),
                       lambda a, tt: TF.cross_entropy(a.permute(0, 2, 3, 1), tt, reduction="none"),
                       x4, t3)
    compare_with_torch(lambda a: F.batch_norm(a.transpose(0, 1), None, None, training=True),
                       lambda a: TF.batch_norm(a.transpose(0, 1), None, None, training=True),
                       randn(3, 6, 2))
    p = rng.uniform(0.05, 0.95, (4, 3))
    compare_with_torch(lambda a, b: F.binary_cross_entropy_with_logits(a.T, b.T),
                       lambda a, b: TF.binary_cross_entropy_with_logits(a.T, b.T), randn(4, 3), p)


def test_size_one_and_empty_batches():
    compare_with_torch(F.cross_entropy, TF.cross_entropy, randn(1, 1), np.array([0]))
    compare_with_torch(lambda a, tt: F.cross_entropy(a, tt, reduction="sum"),
                       lambda a, tt: TF.cross_entropy(a, tt, reduction="sum"),
                       randn(0, 3), np.zeros(0, np.int64))
    out = F.cross_entropy(mg.tensor(randn(0, 3)), mg.tensor(np.zeros(0, np.int64)))
    assert np.isnan(out.item())  # mean over nothing, as torch


def test_weights_requiring_grad_are_refused():
    w = mg.ones(3, requires_grad=True)
    x, t = mg.randn(4, 3), mg.tensor(labels(4, 3))
    with pytest.raises(NotImplementedError, match=r"derivative for 'weight'.*detach"):
        F.cross_entropy(x, t, weight=w)
    with mg.no_grad():
        F.cross_entropy(x, t, weight=w)
    with pytest.raises(NotImplementedError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(x, mg.rand(4, 3), pos_weight=w)
