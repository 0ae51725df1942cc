"""The compiled GEMM paths: the 2-D fast path (``_blas.gemm2d``), the split of one product
across threads (rows or columns, odd block boundaries), and the linear kernels built on them.
Float64 results are compared with NumPy to 1e-10."""

import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.skipif("cython" not in mg.backend.available(),
                                reason="compiled kernels not built")


@pytest.fixture
def compiled():
    from minigrad.backend import compiled

    return compiled


@pytest.fixture
def blas():
    from minigrad.backend import _blas

    return _blas


@pytest.fixture(params=["numpy", "scipy"])
def gemm_blas(request, compiled):
    """Both BLAS libraries the kernels can call: NumPy's bundled OpenBLAS (the default when
    there is one) and SciPy's; restores the default."""
    if request.param == "numpy" and not compiled.use_numpy_blas(True):
        pytest.skip("NumPy bundles no OpenBLAS with ILP64 sgemm/dgemm here")
    if request.param == "scipy":
        assert not compiled.use_numpy_blas(False)
    try:
        yield request.param
    finally:
        compiled.use_numpy_blas(True)


@pytest.fixture(params=[2, 3])
def threads(request):
    """2 threads (the machine), and 3 (uneven blocks); restores the previous setting."""
    old = mg.get_num_threads()
    mg.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        mg.set_num_threads(old)


def _close(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * scale)


def _layouts(rng, rows, cols, dtype=np.float64):
    """The same (rows x cols) values in every layout BLAS reads in place, plus ones it cannot."""
    base = rng.standard_normal((rows, cols)).astype(dtype)
    wide = np.zeros((rows + 3, cols + 5), dtype)
    wide[1:rows + 1, 2:cols + 2] = base
    tall_t = np.zeros((cols + 4, rows + 2), dtype)
    tall_t[2:cols + 2, 1:rows + 1] = base.T
    strided = np.zeros((rows, 2 * cols), dtype)
    strided[:, ::2] = base
    return {
        "contiguous": (base, True),
        "fortran": (np.asfortranarray(base), True),
        "transposed view": (base.T.copy().T, True),
        "row slice of wider array": (wide[1:rows + 1, 2:cols + 2], True),
        "column-major slice": (tall_t[2:cols + 2, 1:rows + 1].T, True),
        # no unit stride: in place only as a single row or column
        "every other column": (strided[:, ::2], rows == 1 or cols == 1),
        "reversed rows": (base[::-1].copy()[::-1], rows == 1),  # negative stride
    }


# (M, K, N): size-1 dims, odd sizes, the thin-reduction threshold (K = 128 / 129), and
# products above the parallel threshold split along rows or columns into uneven blocks.
SHAPES = [
    (1, 1, 1),
    (1, 7, 5),
    (6, 7, 1),
    (5, 1, 9),
    (64, 784, 1024),  # columns (MLP forward)
    (1024, 64, 784),  # rows: thin reduction (weight gradient)
    (97, 129, 331),  # K just above the thin threshold: columns
    (331, 128, 97),  # rows, uneven
    (65, 700, 97),  # columns, N not a multiple of 16
    (70, 64, 1000),  # thin K, few rows: rows all the same
    (1, 3000, 1500),  # one output row
    (1500, 3000, 1),  # one output column
]


def _flops(m, k, n):
    return 2.0 * m * k * n


def test_split_plan_covers_both_axes(blas, threads):
    """The shapes above do exercise splitting along rows and along columns."""
    plans = {s: blas.gemm_plan(s[0], s[2], s[1]) for s in SHAPES}
    assert plans[(1, 1, 1)] == (1, False)
    assert plans[(64, 784, 1024)] == (threads, False)
    assert plans[(1024, 64, 784)] == (threads, True)
    assert plans[(97, 129, 331)] == (threads, False)
    assert plans[(331, 128, 97)] == (threads, True)
    assert plans[(70, 64, 1000)][0] == threads and plans[(70, 64, 1000)][1] == (threads == 2)
    assert plans[(1, 3000, 1500)] == (threads, False)
    assert plans[(1500, 3000, 1)] == (threads, True)
    assert blas.gemm_plan(64, 128, 10) == (1, False)  # too small to pay for a parallel region
    assert blas.gemm_plan(40, 40, 1000)[0] == 1  # too few rows and columns to share
    mg.set_num_threads(1)
    assert blas.gemm_plan(1024, 784, 64) == (1, False)


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_fast_path_matches_numpy(compiled, gemm_blas, blas, threads, m, k, n, ta, tb):
    rng = np.random.default_rng(m * 7 + k * 3 + n)
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    want = (a.T if ta else a) @ (b.T if tb else b)
    out = np.empty((m, n))
    assert blas.gemm2d(a, b, out, ta, tb, 0.0)
    _close(out, want)
    _close(compiled.matmul(a, b, ta, tb), want)
    # beta = 1 accumulates into the output (linear's pre-filled bias).
    c0 = rng.standard_normal((m, n))
    out = c0.copy()
    assert blas.gemm2d(a, b, out, ta, tb, 1.0)
    _close(out, want + c0)


@pytest.mark.parametrize("m, k, n", [(5, 6, 7), (1, 6, 7), (5, 6, 1), (5, 1, 7), (80, 300, 400)])
def test_layouts(compiled, gemm_blas, blas, m, k, n):
    """Every operand layout gives the right product; the fast path takes exactly the layouts
    BLAS can read in place and declines the others (which the general path copies)."""
    rng = np.random.default_rng(3)
    for name_a, (a, in_place_a) in _layouts(rng, m, k).items():
        for name_b, (b, in_place_b) in _layouts(rng, k, n).items():
            want = np.asarray(a) @ np.asarray(b)
            out = np.empty((m, n))
            taken = blas.gemm2d(a, b, out, False, False, 0.0)
            assert taken == (in_place_a and in_place_b), (name_a, name_b)
            if taken:
                _close(out, want)
            _close(compiled.matmul(a, b), want)
            _close(compiled.matmul(a.T, b.T, True, True), want)


def test_fast_path_declines_what_it_does_not_handle(compiled, blas):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    out = np.full((3, 5), 7.0)
    declined = [
        (a, rng.standard_normal((5, 2)), np.empty((3, 2))),  # K mismatch
        (a, b, np.empty((3, 6))),  # wrong output shape
        (a, b, np.empty((5, 3)).T),  # output not C-contiguous
        (a, b.astype(np.float32), np.empty((3, 5))),  # mixed dtypes
        (a.astype(np.int64), b.astype(np.int64), np.empty((3, 5), np.int64)),  # integers
        (np.broadcast_to(a[:1], (3, 4)), b, np.empty((3, 5))),  # zero stride
        (a[:, :0], b[:0], np.empty((3, 5))),  # K = 0
        (a[:0], b, np.empty((0, 5))),  # empty
        (a[None], b, np.empty((3, 5))),  # 3-D
    ]
    for x, y, o in declined:
        before = o.copy()
        assert not blas.gemm2d(x, y, o, False, False, 0.0)
        np.testing.assert_array_equal(o, before)
    ro = out.copy()
    ro.flags.writeable = False
    assert not blas.gemm2d(a, b, ro, False, False, 0.0)
    # ... and the public entry points still give the right answers for those cases.
    _close(compiled.matmul(np.broadcast_to(a[:1], (3, 4)), b), np.broadcast_to(a[:1], (3, 4)) @ b)
    _close(compiled.matmul(a[:, :0], b[:0]), np.zeros((3, 5)))
    assert compiled.matmul(a[:0], b).shape == (0, 5)
    got = compiled.matmul(a.astype(np.int64), b.astype(np.int64))
    np.testing.assert_array_equal(got, a.astype(np.int64) @ b.astype(np.int64))
    with pytest.raises(ValueError):
        compiled.matmul(a, rng.standard_normal((5, 2)))


def test_non_native_byte_order(compiled, blas):
    """Byte-swapped operands are declined by BLAS paths and still multiply correctly."""
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((5, 6)), rng.standard_normal((6, 4))
    sa, sb = a.astype(">f8"), b.astype(">f8")
    assert not blas.gemm2d(sa, sb, np.empty((5, 4), ">f8"), False, False, 0.0)
    assert not blas.gemm2d(a, b, np.empty((5, 4), ">f8"), False, False, 0.0)
    np.testing.assert_allclose(compiled.matmul(sa, sb), a @ b, rtol=1e-12)
    np.testing.assert_allclose(compiled.matmul(sa[None], sb), (a @ b)[None], rtol=1e-12)
    bias = rng.standard_normal(4)
    np.testing.assert_allclose(compiled.linear_forward(sa, sb.T, bias.astype(">f8")), a @ b + bias,
                               rtol=1e-12)


def test_float32_matches_float64(compiled, gemm_blas, threads):
    rng = np.random.default_rng(5)
    for m, k, n in [(64, 784, 1024), (1024, 64, 784), (65, 700, 97)]:
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        got = compiled.matmul(a.astype(np.float32), b.astype(np.float32))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("n, fin, fout",
                         [(64, 784, 1024), (1, 5, 3), (7, 1, 9), (33, 300, 1), (100, 64, 700)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_kernels(compiled, gemm_blas, threads, n, fin, fout, bias):
    """linear forward (bias fused, beta = 1) and backward on the fast path, with a transposed
    weight view and a sliced input."""
    rng = np.random.default_rng(n + fin + fout)
    xs = rng.standard_normal((n, fin + 3))
    x = xs[:, 2:fin + 2]  # rows with a leading dimension > fin
    w = np.asfortranarray(rng.standard_normal((fout, fin)))  # column-major weight
    b = rng.standard_normal(fout) if bias else None
    want = x @ w.T + (b if bias else 0)
    _close(compiled.linear_forward(x, w, b), want)
    g = rng.standard_normal((n, fout))
    gx, gw, gb = compiled.linear_backward(g, x, w, True, True, bias)
    _close(gx, g @ w)
    _close(gw, g.T @ x)
    if bias:
        _close(gb, g.sum(axis=0))
    else:
        assert gb is None
    gx, gw, gb = compiled.linear_backward(g, x, w, False, True, False)
    assert gx is None and gb is None
    _close(gw, g.T @ x)


def test_linear_layer_matches_torch_through_fast_path():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 300))
    w = rng.standard_normal((130, 300))
    b = rng.standard_normal(130)
    c = rng.standard_normal((64, 130))
    xm, wm, bm = (mg.tensor(v, requires_grad=True) for v in (x, w, b))
    xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    ym = mg.nn.functional.linear(xm, wm, bm)
    yt = torch.nn.functional.linear(xt, wt, bt)
    (ym * mg.tensor(c)).sum().backward()
    (yt * torch.from_numpy(c)).sum().backward()
    _close(ym.data, yt.detach().numpy())
    for got, want in [(xm, xt), (wm, wt), (bm, bt)]:
        np.testing.assert_allclose(got.grad.data, want.grad.numpy(), rtol=1e-7, atol=1e-9)


# --------------------------------------------------------------------------- optimizer loops
# csrc/optim.pyx compiles each update loop for the baseline instruction set and for AVX2; both
# must give the NumPy update's bits (no reassociation, no FMA contraction).


@pytest.mark.parametrize("avx2", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", [dict(), dict(amsgrad=True, weight_decay=0.1),
                                 dict(decoupled_weight_decay=True, weight_decay=0.1, maximize=True)],
                         ids=str)
def test_adam_simd_loops_match_numpy_bitwise(avx2, dtype, cfg):
    from minigrad.optim import functional as F

    if F._optim is None:
        pytest.skip("optimizer kernels not built")
    sizes = [1, 7, 8, 9, 31, 70001]  # vector tails; above the parallel threshold

    def run(impl):
        r = np.random.default_rng(8)
        ps = [r.standard_normal(n).astype(dtype) for n in sizes]
        ms, vs, xs = ([np.zeros_like(p) for p in ps] for _ in range(3))
        steps = [np.zeros((), np.float32) for _ in ps]
        with mg.backend.use(impl):
            for _ in range(3):
                gs = [r.standard_normal(n).astype(dtype) for n in sizes]
                gs[3][2] = np.nan  # NaN flows through
                F.adam(ps, gs, ms, vs, xs, steps, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8,
                       weight_decay=cfg.get("weight_decay", 0.0), amsgrad=cfg.get("amsgrad", False),
                       maximize=cfg.get("maximize", False),
                       decoupled_weight_decay=cfg.get("decoupled_weight_decay", False))
        return ps + ms + vs

    old = F._optim.set_simd(avx2)
    try:
        got = run("cython")
    finally:
        F._optim.set_simd(old)
    want = run("numpy")
    assert np.isnan(got[3][2])
    for a, b in zip(got, want):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        np.testing.assert_array_equal(a[ok].view(np.uint8), b[ok].view(np.uint8))


@pytest.mark.parametrize("avx2", [False, True])
def test_sgd_simd_loops_match_numpy_bitwise(avx2):
    from minigrad.optim import functional as F

    if F._optim is None:
        pytest.skip("optimizer kernels not built")

    def run(impl):
        r = np.random.default_rng(9)
        ps = [r.standard_normal(n).astype(np.float32) for n in (5, 17, 70001)]
        bufs = [None] * len(ps)
        with mg.backend.use(impl):
            for _ in range(3):
                gs = [r.standard_normal(p.size).astype(np.float32) for p in ps]
                F.sgd(ps, gs, bufs, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01,
                      nesterov=False, maximize=False)
        return ps + bufs

    old = F._optim.set_simd(avx2)
    try:
        got = run("cython")
    finally:
        F._optim.set_simd(old)
    for a, b in zip(got, run("numpy")):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("shape", [(3, 5, 9, 9, 7, 3, 1), (8, 16, 12, 12, 16, 3, 1),
                                   (2, 4, 10, 10, 6, 3, 0)])
def test_conv2d_through_either_blas(compiled, gemm_blas, shape):
    """conv2d's products (im2col and Winograd paths) go through the selected BLAS: float64
    results match the NumPy reference to 1e-10."""
    from minigrad.backend import reference

    n, cin, h, w, cout, k, pad = shape
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, cin, h, w))
    wt = rng.standard_normal((cout, cin, k, k))
    b = rng.standard_normal(cout)
    geo = ((1, 1), ((pad, pad), (pad, pad)), (1, 1), 1)
    assert compiled._use_winograd(x.shape, wt.shape, *geo) == (cin == 16)
    out = compiled.conv2d_forward(x, wt, b, *geo)
    _close(out, reference.conv2d_forward(x, wt, b, *geo))
    g = rng.standard_normal(out.shape)
    got = compiled.conv2d_backward(g, x, wt, *geo, True, True, True)
    want = reference.conv2d_backward(g, x, wt, *geo, True, True, True)
    for a, e in zip(got, want):
        _close(a, e)
