"""conv2d: compiled kernels vs the NumPy reference vs torch, and the Python-side validation."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.backend import reference
from minigrad.ops.conv import conv2d, conv2d_padding
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

BACKENDS = mg.backend.available()
needs_compiled = pytest.mark.skipif("cython" not in BACKENDS, reason="compiled kernels not built")

# (N, C, H, W), Cout, (KH, KW), stride, padding, dilation, groups, bias
CASES = [
    ((1, 1, 5, 5), 2, (3, 3), 1, 0, 1, 1, True),  # batch 1, one input channel
    ((1, 4, 7, 6), 6, (3, 3), 1, 1, 1, 2, True),  # batch 1 through GEMM (K = 18), groups 2
    ((5, 3, 6, 5), 4, (3, 3), 1, 1, 1, 1, True),  # batch not a multiple of the image blocks
    ((2, 3, 7, 9), 4, (3, 3), 1, 1, 1, 1, True),  # odd H/W
    ((2, 3, 10, 11), 4, (3, 3), 2, 0, 1, 1, False),  # stride 2, sizes not divisible
    ((2, 2, 11, 10), 3, (3, 2), 3, 2, 1, 1, True),  # stride 3, padding 2, rectangular kernel
    ((2, 4, 9, 9), 4, (3, 3), 1, "same", 2, 1, True),  # dilation 2 with 'same'
    ((2, 4, 8, 7), 6, (2, 2), 1, "same", 1, 2, True),  # even kernel: uneven 'same' padding, groups 2
    ((2, 4, 8, 7), 4, (4, 3), 1, "same", (1, 2), 1, False),  # uneven 'same' in H only
    ((2, 4, 8, 8), 4, (3, 3), 1, "valid", 1, 1, False),
    ((2, 4, 7, 7), 8, (3, 3), 2, 1, 1, 4, True),  # groups == C, two filters per channel
    ((2, 6, 6, 6), 6, (3, 3), 1, 1, 1, 6, False),  # depthwise
    ((2, 5, 6, 7), 3, (1, 1), 1, 0, 1, 1, True),  # 1x1 kernel
    ((3, 2, 9, 8), 4, (3, 3), (2, 1), (0, 2), (1, 2), 1, True),  # per-dim settings
    ((2, 3, 5, 5), 2, (5, 5), 1, 0, 1, 1, True),  # kernel covers the input: 1x1 output
    ((2, 3, 4, 4), 2, (3, 3), 3, 2, 1, 1, True),  # windows partly in the padding only
    ((4, 1, 28, 28), 8, (3, 3), 1, 1, 1, 1, True),  # the reference CNN's first layer
    ((3, 1, 9, 7), 5, (3, 3), 1, 1, 1, 1, True),  # one channel, 63 columns per image: vector tails
    ((4, 8, 14, 14), 16, (3, 3), 1, 1, 1, 1, True),  # and its second (fewer channels)
    ((8, 2, 32, 32), 4, (3, 3), 1, 1, 1, 1, True),  # enough columns to split the weight gradient
    ((9, 3, 5, 6), 4, (3, 3), 1, 1, 1, 1, True),  # several images per task, a shorter last task
]
IDS = [f"case{i}" for i in range(len(CASES))]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _make(case, dtype, seed=0):
    x_shape, cout, k, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((cout, x_shape[1] // groups) + k).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if bias else None
    return x, w, b


def _kernel_args(case):
    _, _, k, stride, padding, dilation, groups, _ = case
    stride, dilation = _pair(stride), _pair(dilation)
    return stride, conv2d_padding(padding, k, stride, dilation), dilation, groups


def _close(got, want, dtype):
    tol = 2e-5 if dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


# --------------------------------------------------------------------------- kernels


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compiled_kernels_match_reference(case, dtype):
    from minigrad.backend import compiled

    x, w, b = _make(case, dtype)
    args = _kernel_args(case)
    out_c, cols_c = compiled.conv2d_forward(x, w, b, *args, keep_columns=True)
    out_r, cols_r = reference.conv2d_forward(x, w, b, *args, keep_columns=True)
    assert out_c.shape == out_r.shape and out_c.dtype == dtype and out_c.flags.c_contiguous
    np.testing.assert_array_equal(cols_c, cols_r)  # im2col is a pure copy
    _close(out_c, out_r, dtype)
    np.testing.assert_array_equal(compiled.conv2d_forward(x, w, b, *args), out_c)

    g = np.random.default_rng(1).standard_normal(out_r.shape).astype(dtype)
    has_b = b is not None
    want = reference.conv2d_backward(g, x, w, *args, True, True, has_b)
    for columns in (cols_c, None):  # reusing the forward's columns or recomputing them
        got = compiled.conv2d_backward(g, x, w, *args, True, True, has_b, columns=columns)
        for gi, wi in zip(got, want):
            if wi is None:
                assert gi is None
            else:
                assert gi.shape == wi.shape and gi.dtype == dtype
                _close(gi, wi, dtype)


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_backward_skips_unneeded_gradients(dtype):
    from minigrad.backend import compiled

    case = CASES[3]
    x, w, b = _make(case, dtype)
    args = _kernel_args(case)
    out = reference.conv2d_forward(x, w, b, *args)
    g = np.ones_like(out)
    full = reference.conv2d_backward(g, x, w, *args, True, True, True)
    for needs in [(False, True, False), (True, False, False), (False, False, True), (False,) * 3]:
        for impl in (compiled, reference):
            got = impl.conv2d_backward(g, x, w, *args, *needs)
            for flag, gi, wi in zip(needs, got, full):
                if flag:
                    _close(gi, wi, dtype)
                else:
                    assert gi is None


@needs_compiled
def test_compiled_kernels_accept_strided_and_readonly_arrays():
    from minigrad.backend import compiled

    case = CASES[5]
    x, w, b = _make(case, np.float64)
    args = _kernel_args(case)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # F-order planes
    wide = np.zeros(x.shape[:3] + (2 * x.shape[3],))
    wide[..., ::2] = x
    xs = wide[..., ::2]  # strided view
    wb = np.broadcast_to(w, w.shape)  # read-only
    want = reference.conv2d_forward(x, w, b, *args)
    for xv in (xt, xs):
        _close(compiled.conv2d_forward(xv, wb, b, *args), want, np.float64)
    g = np.broadcast_to(np.float64(0.5), want.shape)  # read-only, zero strides
    got = compiled.conv2d_backward(g, xs, wb, *args, True, True, True)
    ref = reference.conv2d_backward(np.full(want.shape, 0.5), x, w, *args, True, True, True)
    for gi, wi in zip(got, ref):
        _close(gi, wi, np.float64)


# --------------------------------------------------------------------------- vs torch


def _torch_padding(padding):
    return padding if isinstance(padding, str) else _pair(padding)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_matches_torch_float64(case, backend):
    x, w, b = _make(case, np.float64)
    _, _, _, stride, padding, dilation, groups, _ = case
    kw = dict(stride=stride, dilation=dilation, groups=groups)
    arrays = (x, w) if b is None else (x, w, b)
    with mg.backend.use(backend):
        compare_with_torch(
            lambda *t: conv2d(*t, padding=padding, **kw),
            lambda *t: F.conv2d(*t, padding=_torch_padding(padding), **kw),
            *arrays,
            rtol=1e-10,
            atol=1e-10,
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_float32_matches_torch(backend):
    x, w, b = _make(CASES[17], np.float32)
    with mg.backend.use(backend):
        compare_with_torch(
            lambda x, w, b: conv2d(x, w, b, padding=1),
            lambda x, w, b: F.conv2d(x, w, b, padding=1),
            x, w, b, dtype=np.float32, rtol=1e-4, atol=1e-4,
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_non_contiguous_inputs(backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 7))  # used as (2, 3, 7, 9) via transpose
    w = rng.standard_normal((8, 3, 3, 3))  # every other filter is used
    b = rng.standard_normal(8)
    with mg.backend.use(backend):
        compare_with_torch(
            lambda x, w, b: conv2d(x.transpose(2, 3), w[::2], b[1::2], stride=2, padding=1),
            lambda x, w, b: F.conv2d(x.transpose(2, 3), w[::2], b[1::2], stride=2, padding=1),
            x, w, b, rtol=1e-10, atol=1e-10,
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_unbatched_input(backend):
    x, w, b = _make(CASES[3], np.float64)
    with mg.backend.use(backend):
        report = compare_with_torch(
            lambda x, w, b: conv2d(x, w, b, padding="same"),
            lambda x, w, b: F.conv2d(x, w, b, padding="same"),
            x[0], w, b, rtol=1e-10, atol=1e-10,
        )
    assert report.ok


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["input", "weight"])
def test_conv2d_frozen_input_or_weight(backend, which):
    """The first layer: the input needs no gradient (and a frozen weight likewise)."""
    x, w, b = _make(CASES[16], np.float64)
    c = np.random.default_rng(5).standard_normal((4, 8, 28, 28))
    with mg.backend.use(backend):
        xm = mg.tensor(x, requires_grad=which != "input")
        wm = mg.tensor(w, requires_grad=which != "weight")
        bm = mg.tensor(b, requires_grad=True)
        (conv2d(xm, wm, bm, padding=1) * mg.tensor(c)).sum().backward()
    xt = torch.tensor(x, requires_grad=which != "input")
    wt = torch.tensor(w, requires_grad=which != "weight")
    bt = torch.tensor(b, requires_grad=True)
    (F.conv2d(xt, wt, bt, padding=1) * torch.tensor(c)).sum().backward()
    for m, t in ((xm, xt), (wm, wt), (bm, bt)):
        if t.grad is None:
            assert m.grad is None
        else:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_retain_graph_second_backward_is_identical(backend):
    """The saved columns survive a backward (a second one gives the same gradients)."""
    x, w, b = _make(CASES[4], np.float64)
    with mg.backend.use(backend):
        wm = mg.tensor(w, requires_grad=True)
        xm = mg.tensor(x, requires_grad=True)
        out = conv2d(xm, wm, stride=2)
        loss = (out * out).sum()
        loss.backward(retain_graph=True)
        first = wm.grad.numpy().copy(), xm.grad.numpy().copy()
        wm.grad = xm.grad = None
        loss.backward()
        np.testing.assert_array_equal(wm.grad.numpy(), first[0])
        np.testing.assert_array_equal(xm.grad.numpy(), first[1])


def test_same_padding_split_matches_torch():
    """Odd total padding: the extra row/column goes to the bottom/right, as in torch."""
    assert conv2d_padding("same", (2, 4), (1, 1), (1, 1)) == ((0, 1), (1, 2))
    assert conv2d_padding("same", (3, 3), (1, 1), (2, 1)) == ((2, 2), (1, 1))
    assert conv2d_padding("valid", (3, 3), (2, 2), (1, 1)) == ((0, 0), (0, 0))
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 0, 0] = 1.0  # picks the window's top-left element
    got = conv2d(mg.tensor(x), mg.tensor(w), padding="same").numpy()
    np.testing.assert_array_equal(got, x)  # no padding at the top/left


# --------------------------------------------------------------------------- errors

X = np.zeros((2, 3, 8, 8))
W = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize(
    "x, w, kwargs, fragments",
    [
        (np.zeros((64, 28, 28, 1)), np.zeros((32, 1, 3, 3)), {},
         ["conv2d", "1 channel(s)", "(32, 1, 3, 3)", "groups=1", "(64, 28, 28, 1)", "NCHW"]),
        (X, np.zeros((4, 3, 3)), {}, ["conv2d", "weight", "(4, 3, 3)"]),
        (np.zeros((8, 8)), W, {}, ["conv2d", "(8, 8)", "(4, 3, 3, 3)"]),
        (np.zeros((1, 2, 3, 8, 8)), W, {}, ["conv2d", "(1, 2, 3, 8, 8)"]),
        (X, W, {"stride": 0}, ["conv2d", "stride", "positive"]),
        (X, W, {"stride": (1, -1)}, ["conv2d", "stride"]),
        (X, W, {"dilation": 0}, ["conv2d", "dilation", "positive"]),
        (X, W, {"padding": -1}, ["conv2d", "padding", "non-negative"]),
        (X, W, {"padding": (1, 2, 3)}, ["conv2d", "padding", "(1, 2, 3)"]),
        (X, W, {"padding": "full"}, ["conv2d", "'full'", "'same'", "'valid'"]),
        (X, W, {"padding": "same", "stride": 2}, ["conv2d", "same", "strided"]),
        (X, W, {"groups": 0}, ["conv2d", "groups"]),
        (X, np.zeros((4, 1, 3, 3)), {"groups": 2}, ["conv2d", "2 channel(s)", "groups=2", "(2, 3, 8, 8)"]),
        (np.zeros((2, 4, 8, 8)), np.zeros((3, 2, 3, 3)), {"groups": 2},
         ["conv2d", "divisible", "(3, 2, 3, 3)"]),
        (X, np.zeros((4, 3, 9, 3)), {}, ["conv2d", "(4, 3, 9, 3)", "9x3", "8x8", "(2, 3, 8, 8)"]),
        (X, W, {"dilation": 5}, ["conv2d", "11x11", "8x8"]),
        (X, W, {"bias": np.zeros(3)}, ["conv2d", "bias", "(4,)", "(3,)"]),
    ],
)
def test_conv2d_invalid_arguments_raise(x, w, kwargs, fragments):
    kwargs = dict(kwargs)
    if "bias" in kwargs:
        kwargs["bias"] = mg.tensor(kwargs["bias"])
    with pytest.raises(ValueError) as err:
        conv2d(mg.tensor(x), mg.tensor(w), **kwargs)
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_conv2d_dtype_errors():
    with pytest.raises(TypeError, match=r"conv2d: input \(float32\), weight \(float64\)"):
        conv2d(mg.tensor(X.astype(np.float32)), mg.tensor(W))
    with pytest.raises(TypeError, match="conv2d: expected a floating-point input"):
        conv2d(mg.tensor(X.astype(np.int64)), mg.tensor(W))


@needs_compiled
def test_kept_columns_are_never_shared_while_referenced():
    """Columns kept for a backward are recycled only after every reference is gone."""
    from minigrad.backend import compiled

    x, w, b = _make(CASES[3], np.float32)
    args = _kernel_args(CASES[3])
    _, cols1 = compiled.conv2d_forward(x, w, b, *args, keep_columns=True)
    view = cols1[1:]
    snapshot = cols1.copy()
    for _ in range(3):
        _, cols2 = compiled.conv2d_forward(x[::-1].copy(), w, b, *args, keep_columns=True)
        assert cols2 is not cols1
    del cols1
    _, cols3 = compiled.conv2d_forward(x[::-1].copy(), w, b, *args, keep_columns=True)
    assert not np.shares_memory(cols3, view)
    np.testing.assert_array_equal(view, snapshot[1:])


@needs_compiled
@pytest.mark.parametrize("path", ["winograd", "im2col rebuilt in blocks", "im2col kept columns"])
def test_conv2d_gradients_are_bitwise_reproducible(path):
    """The weight gradient sums per-thread partials: the same inputs must give the same bits
    on every call (a seeded training run prints the same numbers twice)."""
    from minigrad.backend import compiled

    rng = np.random.default_rng(3)
    # (N, Cin, stride): the kept columns are split across threads from 8192 columns on
    n, cin, stride = {"winograd": (16, 32, 1), "im2col rebuilt in blocks": (16, 32, 2),
                      "im2col kept columns": (48, 8, 1)}[path]
    x = rng.standard_normal((n, cin, 14, 14)).astype(np.float32)
    w = rng.standard_normal((32, cin, 3, 3)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    geo = ((stride, stride), ((1, 1), (1, 1)), (1, 1), 1)
    assert compiled._use_winograd(x.shape, w.shape, *geo) == (path == "winograd")
    out, cols = compiled.conv2d_forward(x, w, b, *geo, keep_columns=True)
    if path != "im2col kept columns":
        cols = None
    g = rng.standard_normal(out.shape).astype(np.float32)
    old = mg.get_num_threads()
    mg.set_num_threads(2)
    try:
        first = compiled.conv2d_backward(g, x, w, *geo, True, True, True, columns=cols)
        for _ in range(30):
            again = compiled.conv2d_backward(g, x, w, *geo, True, True, True, columns=cols)
            for a, e in zip(again, first):
                np.testing.assert_array_equal(a, e)
    finally:
        mg.set_num_threads(old)
