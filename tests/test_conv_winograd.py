"""conv2d through Winograd F(2x2, 3x3) (csrc/conv_winograd.h): the compiled result vs the
NumPy reference vs torch, forward and every gradient, and which shapes take that path."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.backend import reference
from minigrad.ops.conv import conv2d
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional

needs_compiled = pytest.mark.skipif(
    "cython" not in mg.backend.available(), reason="compiled kernels not built"
)

# (N, Cin, Cout, (H, W), padding ((top, bottom), (left, right)) or int, bias)
CASES = [
    (1, 1, 1, (1, 1), 1, True),  # smaller than one tile, a single output
    (1, 1, 5, (1, 1), 2, False),
    (3, 3, 5, (2, 3), 1, True),
    (3, 3, 1, (3, 3), 0, True),  # no padding: 1x1 output
    (1, 32, 64, (5, 7), 0, False),  # odd output sizes: partial last tiles
    (3, 32, 5, (7, 5), 2, True),
    (3, 1, 64, (14, 15), 1, True),
    (1, 3, 64, (15, 14), 2, False),
    (3, 32, 64, (14, 14), 1, True),  # the reference CNN's second layer (smaller batch)
    (3, 32, 64, (15, 15), 0, True),
    (1, 32, 1, (2, 2), 2, True),
    (3, 5, 3, (7, 7), ((0, 2), (1, 0)), True),  # uneven padding
    (2, 4, 6, (9, 6), ((2, 1), (0, 2)), False),
]
IDS = [f"n{c[0]}-cin{c[1]}-cout{c[2]}-{c[3][0]}x{c[3][1]}-p{c[4]}-{'b' if c[5] else 'nob'}"
       for c in CASES]
ARGS_STRIDE, ARGS_DILATION, ARGS_GROUPS = (1, 1), (1, 1), 1


def _padding(p):
    return ((p, p), (p, p)) if isinstance(p, int) else p


def _make(case, dtype, seed=0):
    n, cin, cout, (h, w), padding, bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin, h, w)).astype(dtype)
    wt = rng.standard_normal((cout, cin, 3, 3)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if bias else None
    return x, wt, b, (ARGS_STRIDE, _padding(padding), ARGS_DILATION, ARGS_GROUPS)


def _torch_conv(x, w, b, padding, g=None):
    """torch's output and (gx, gw, gb) for the cotangent g (explicit padding via F.pad)."""
    (pt, pb), (pl, pr) = padding
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    out = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt, bt)
    if g is None:
        return out.detach().numpy()
    out.backward(torch.tensor(g))
    return out.detach().numpy(), (xt.grad.numpy(), wt.grad.numpy(),
                                  None if bt is None else bt.grad.numpy())


def _close(got, want, dtype):
    """float64: 1e-10 relative to the largest value; float32: 2e-5."""
    tol = 2e-5 if dtype == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


@pytest.fixture
def force_winograd(monkeypatch):
    """Every eligible shape takes the Winograd path, whatever its size."""
    from minigrad.backend import compiled

    monkeypatch.setattr(compiled, "_WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(compiled, "_WINOGRAD_MIN_POSITIONS", 1)
    return compiled


@pytest.fixture(params=["simd", "portable"])
def gather(request):
    """The AVX-512 gather where the CPU has it, and the portable one."""
    from minigrad.backend import _conv

    simd = request.param == "simd"
    if simd and not _conv.winograd_simd():
        pytest.skip("no AVX-512 on this CPU")
    before = _conv.winograd_simd()
    _conv.winograd_simd(simd)
    assert _conv.winograd_simd() == simd
    yield request.param
    _conv.winograd_simd(before)


# --------------------------------------------------------------------------- kernels


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_winograd_matches_reference_and_torch(case, dtype, force_winograd, gather):
    compiled = force_winograd
    x, w, b, args = _make(case, dtype)
    assert compiled._use_winograd(x.shape, w.shape, *args)
    out, cols = compiled.conv2d_forward(x, w, b, *args, keep_columns=True)
    assert cols is None  # the im2col path always returns its columns
    want = reference.conv2d_forward(x, w, b, *args)
    g = np.random.default_rng(1).standard_normal(want.shape).astype(dtype)
    want_t, grads_t = _torch_conv(x, w, b, args[1], g)
    assert out.shape == want.shape and out.dtype == dtype and out.flags.c_contiguous
    _close(out, want, dtype)
    _close(out, want_t, dtype)
    np.testing.assert_array_equal(compiled.conv2d_forward(x, w, b, *args), out)

    has_b = b is not None
    got = compiled.conv2d_backward(g, x, w, *args, True, True, has_b, columns=cols)
    ref = reference.conv2d_backward(g, x, w, *args, True, True, has_b)
    for gi, ri, ti in zip(got, ref, grads_t):
        if ri is None:
            assert gi is None
            continue
        assert gi.shape == ri.shape and gi.dtype == dtype
        _close(gi, ri, dtype)
        _close(gi, ti, dtype)


@needs_compiled
@pytest.mark.parametrize("rows", [1, 2, 4, 5, 100])
def test_winograd_kernels_any_task_size(rows):
    """Tasks of any number of tile rows, also across image boundaries (5 tile rows per image
    here) and on one thread or two."""
    from minigrad.backend import _conv

    x, w, b, args = _make((3, 4, 6, (9, 7), 1, True), np.float64)
    want = reference.conv2d_forward(x, w, b, *args)
    g = np.random.default_rng(5).standard_normal(want.shape)
    gx_want, gw_want, gb_want = reference.conv2d_backward(g, x, w, *args, True, True, True)
    for threads in (1, 2):
        scratch = np.empty((threads, _conv.winograd_workspace(6, 6, rows, 9)))
        u = np.empty((16, 6, 4))
        _conv.winograd_filter(w, u, False)
        out = np.empty(want.shape)
        assert not _conv.winograd_forward(x, u, b, out, scratch, 1, 1, rows)
        _close(out, want, np.float64)
        u_in = np.empty((16, 4, 6))
        _conv.winograd_filter(w, u_in, True)
        gx = np.empty(x.shape)
        assert not _conv.winograd_forward(g, u_in, None, gx, scratch, 1, 1, rows)
        _close(gx, gx_want, np.float64)
        partial = np.zeros((threads, 16 * 6 * 4))
        sums = np.zeros((threads, 6))
        _conv.winograd_weight_grad(x, g, partial, sums, scratch, 1, 1, rows)
        gw = np.empty(w.shape)
        _conv.winograd_weight(partial.sum(axis=0).reshape(16, 6, 4), gw)
        _close(gw, gw_want, np.float64)
        _close(sums.sum(axis=0), gb_want, np.float64)


@needs_compiled
@pytest.mark.parametrize("needs", [
    (False, True, True),  # a first layer: no input gradient
    (True, False, False),
    (False, False, True),
    (True, True, False),
    (False, True, False),
    (False, False, False),
])
def test_winograd_backward_computes_only_what_is_needed(needs, force_winograd):
    compiled = force_winograd
    x, w, b, args = _make(CASES[5], np.float64)
    g = np.random.default_rng(2).standard_normal(reference.conv2d_forward(x, w, b, *args).shape)
    full = reference.conv2d_backward(g, x, w, *args, True, True, True)
    got = compiled.conv2d_backward(g, x, w, *args, *needs)
    for flag, gi, wi in zip(needs, got, full):
        if flag:
            _close(gi, wi, np.float64)
        else:
            assert gi is None


@needs_compiled
def test_winograd_accepts_strided_and_readonly_arrays(force_winograd):
    compiled = force_winograd
    x, w, b, args = _make(CASES[8], np.float64)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # F-order planes
    wide = np.zeros(w.shape[:3] + (6,))
    wide[..., ::2] = w
    ws = wide[..., ::2]  # strided view of the weight
    bb = np.zeros(2 * len(b))
    bb[1::2] = b
    bs = bb[1::2]
    want = reference.conv2d_forward(x, w, b, *args)
    _close(compiled.conv2d_forward(xt, ws, bs, *args), want, np.float64)
    g = np.random.default_rng(3).standard_normal(want.shape)
    gr = np.broadcast_to(g, g.shape)  # read-only
    gs = np.ascontiguousarray(g.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    ref = reference.conv2d_backward(g, x, w, *args, True, True, True)
    for gv in (gr, gs):
        got = compiled.conv2d_backward(gv, xt, ws, *args, True, True, True)
        for gi, ri in zip(got, ref):
            _close(gi, ri, np.float64)


@needs_compiled
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd_non_finite_values_stay_where_torch_puts_them(dtype, force_winograd):
    """A NaN or infinity would spread over whole Winograd tiles; such results are recomputed
    through im2col, so that NaN and infinity land exactly where torch puts them."""
    compiled = force_winograd
    x, w, b, args = _make(CASES[8], dtype)
    x[0, 3, 2, 2] = np.nan
    x[1, 0, 0, 5] = np.inf
    x[2, 7, 9, 9] = -np.inf
    out = compiled.conv2d_forward(x, w, b, *args)
    g = np.ones(out.shape, dtype)
    g[0, 1, 4, 4] = np.inf
    want, grads = _torch_conv(x, w, b, args[1], g)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(want))
    finite = np.isfinite(want)
    _close(out[finite], want[finite], dtype)
    got = compiled.conv2d_backward(g, x, w, *args, True, True, True)
    for gi, ti in zip(got, grads):
        np.testing.assert_array_equal(np.isnan(gi), np.isnan(ti))
        np.testing.assert_array_equal(np.isinf(gi), np.isinf(ti))


# --------------------------------------------------------------------------- dispatch


@needs_compiled
def test_winograd_is_chosen_for_the_reference_cnn_layer_only():
    from minigrad.backend import compiled

    pad1 = ((1, 1), (1, 1))
    conv2 = ((64, 32, 14, 14), (64, 32, 3, 3))
    assert compiled._use_winograd(*conv2, (1, 1), pad1, (1, 1), 1)
    assert compiled._use_winograd(*conv2, (1, 1), ((2, 0), (0, 2)), (1, 1), 1)
    # first layer (one input channel): the direct small-K kernels stay faster
    assert not compiled._use_winograd((64, 1, 28, 28), (32, 1, 3, 3), (1, 1), pad1, (1, 1), 1)
    assert not compiled._use_winograd((64, 8, 14, 14), (16, 8, 3, 3), (1, 1), pad1, (1, 1), 1)
    # one small image: too little work per call
    assert not compiled._use_winograd((1, 32, 14, 14), (64, 32, 3, 3), (1, 1), pad1, (1, 1), 1)
    assert compiled._use_winograd((1, 32, 56, 56), (64, 32, 3, 3), (1, 1), pad1, (1, 1), 1)
    for stride, padding, dilation, groups, kernel in [
        ((2, 2), pad1, (1, 1), 1, (3, 3)),
        ((1, 2), pad1, (1, 1), 1, (3, 3)),
        ((1, 1), pad1, (2, 2), 1, (3, 3)),
        ((1, 1), pad1, (1, 1), 2, (3, 3)),
        ((1, 1), ((3, 3), (1, 1)), (1, 1), 1, (3, 3)),
        ((1, 1), pad1, (1, 1), 1, (5, 5)),
        ((1, 1), pad1, (1, 1), 1, (3, 1)),
    ]:
        w_shape = (64, 32 // groups) + kernel
        assert not compiled._use_winograd(conv2[0], w_shape, stride, padding, dilation, groups)


@pytest.mark.parametrize("backend", mg.backend.available())
def test_conv2d_op_through_winograd_matches_torch(backend):
    """The autograd op on a shape that takes the Winograd path by default."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 16, 16, 17))
    w = rng.standard_normal((24, 16, 3, 3))
    b = rng.standard_normal(24)
    if backend == "cython":
        from minigrad.backend import compiled

        assert compiled._use_winograd(x.shape, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    with mg.backend.use(backend):
        compare_with_torch(
            lambda x, w, b: conv2d(x, w, b, padding=1),
            lambda x, w, b: F.conv2d(x, w, b, padding=1),
            x, w, b, rtol=1e-10, atol=1e-10,
        )
        compare_with_torch(  # no bias, 'same' padding
            lambda x, w: conv2d(x, w, padding="same"),
            lambda x, w: F.conv2d(x, w, padding="same"),
            x, w, rtol=1e-10, atol=1e-10,
        )
        xm = mg.tensor(x)  # a frozen input, as in a first layer
        wm = mg.tensor(w, requires_grad=True)
        conv2d(xm, wm, padding=2).sum().backward()
    wt = torch.tensor(w, requires_grad=True)
    F.conv2d(torch.tensor(x), wt, padding=2).sum().backward()
    np.testing.assert_allclose(wm.grad.numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-10)
