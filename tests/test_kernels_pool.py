"""max_pool2d / avg_pool2d: compiled and reference kernels held to torch and to each other."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.backend import reference
from minigrad.ops.pool import avg_pool2d, max_pool2d
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional

BACKENDS = backend.available()  # "numpy", and "cython" when built
needs_compiled = pytest.mark.skipif("cython" not in BACKENDS, reason="compiled kernels not built")

# (input shape, kernel, stride, padding, dilation, ceil_mode): batch 1, C=1, odd sizes,
# kernels 1/2/3, strides that do not divide the size, padding 0/1/max, dilation 2.
MAX_CASES = [
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((1, 1, 7, 7), 2, None, 0, 1, False),
    ((1, 1, 7, 7), 2, None, 0, 1, True),
    ((2, 2, 9, 7), 3, 2, 1, 1, False),
    ((2, 2, 9, 7), 3, 2, 1, 1, True),
    ((1, 3, 10, 11), 3, 3, 0, 1, True),
    ((2, 1, 6, 9), (2, 3), (1, 2), (1, 1), 1, False),
    ((1, 2, 5, 5), 1, 1, 0, 1, False),
    ((1, 2, 5, 5), 1, 2, 0, 1, True),
    ((2, 2, 11, 10), 3, 2, 1, 2, False),
    ((2, 2, 11, 10), 3, 2, 1, 2, True),
    ((1, 1, 8, 9), (2, 3), 3, (1, 1), (2, 1), True),
    ((1, 2, 13, 12), 5, 3, 2, 1, True),  # padding at the maximum (kernel // 2)
    ((3, 2, 4, 6), 2, 2, 1, 1, True),
    ((1, 1, 1, 1), 1, None, 0, 1, False),
]

AVG_CASES = [
    ((2, 3, 8, 8), 2, None, 0, False),
    ((1, 1, 7, 7), 2, None, 0, True),
    ((2, 2, 9, 7), 3, 2, 1, False),
    ((2, 2, 9, 7), 3, 2, 1, True),
    ((1, 3, 10, 11), 3, 3, 0, True),
    ((2, 1, 6, 9), (2, 3), (1, 2), (1, 1), False),
    ((1, 2, 5, 5), 2, 2, 1, True),
    ((1, 2, 13, 12), 5, 3, 2, True),
    ((1, 1, 1, 1), 1, None, 0, False),
]


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_max_pool2d_matches_torch(case, dtype, impl):
    shape, k, s, p, d, cm = case
    x = _rand(shape)
    with backend.use(impl):
        compare_with_torch(
            lambda t: max_pool2d(t, k, s, p, d, cm, return_indices=True),
            lambda t: F.max_pool2d(t, k, s, p, d, cm, return_indices=True),
            x, dtype=dtype, **_tol(dtype),
        )


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_avg_pool2d_matches_torch(case, count_include_pad, dtype, impl):
    shape, k, s, p, cm = case
    x = _rand(shape)
    with backend.use(impl):
        for div in (None, 3):
            compare_with_torch(
                lambda t, div=div: avg_pool2d(t, k, s, p, cm, count_include_pad, div),
                lambda t, div=div: F.avg_pool2d(t, k, s, p, cm, count_include_pad, div),
                x, dtype=dtype, **_tol(dtype),
            )


@pytest.mark.parametrize("impl", BACKENDS)
def test_unbatched_and_defaults(impl):
    x = _rand((3, 7, 6))
    with backend.use(impl):
        compare_with_torch(lambda t: max_pool2d(t, 2), lambda t: F.max_pool2d(t, 2), x, rtol=1e-10)
        compare_with_torch(
            lambda t: max_pool2d(t, (3, 2), stride=(2, 1), padding=(1, 0), return_indices=True),
            lambda t: F.max_pool2d(t, (3, 2), stride=(2, 1), padding=(1, 0), return_indices=True),
            x, rtol=1e-10,
        )
        compare_with_torch(lambda t: avg_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 3, 2, 1), x,
                           rtol=1e-10)


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_contiguous_input(impl, dtype):
    base = _rand((2, 9, 3, 10)).astype(dtype)
    view = base.transpose(0, 2, 1, 3)[:, :, ::1, 1:]  # (2, 3, 9, 9), not C-contiguous
    assert not view.flags.c_contiguous
    g = _rand((2, 3, 5, 5), seed=1).astype(dtype)
    xt = torch.tensor(np.ascontiguousarray(view), requires_grad=True)
    ot, it = F.max_pool2d(xt, 3, 2, 1, return_indices=True)
    ot.backward(torch.tensor(g))
    at = F.avg_pool2d(torch.tensor(np.ascontiguousarray(view)), 3, 2, 1)
    with backend.use(impl):
        x = mg.Tensor(view, requires_grad=True)
        out, idx = max_pool2d(x, 3, 2, 1, return_indices=True)
        out.backward(mg.Tensor(g))
        np.testing.assert_array_equal(out.data, ot.detach().numpy())
        np.testing.assert_array_equal(idx.data, it.numpy())
        np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), **_tol(dtype))
        np.testing.assert_allclose(avg_pool2d(mg.Tensor(view), 3, 2, 1).data, at.numpy(), **_tol(dtype))


# --------------------------------------------------------------------------- ties, NaN, -inf


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ties_first_max_wins(impl, dtype):
    x = np.array([[[[1, 3, 3, 0], [3, 2, 0, 0], [5, 5, 1, 2], [5, 5, 2, 1]]]], dtype=dtype)
    with backend.use(impl):
        t = mg.Tensor(x, requires_grad=True)
        out, idx = max_pool2d(t, 2, return_indices=True)
        out.sum().backward()
        np.testing.assert_array_equal(idx.data[0, 0], [[1, 2], [8, 11]])
        want = np.zeros_like(x)
        want[0, 0, 0, 1] = want[0, 0, 0, 2] = want[0, 0, 2, 0] = want[0, 0, 2, 3] = 1
        np.testing.assert_array_equal(t.grad.data, want)
        compare_with_torch(lambda a: max_pool2d(a, 2, 1, return_indices=True),
                           lambda a: F.max_pool2d(a, 2, 1, return_indices=True), x, dtype=dtype)


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_propagates_with_its_index(impl, dtype):
    x = _rand((2, 2, 6, 6)).astype(dtype)
    x[0, 0, 0, 1] = np.nan              # window (0, 0) of a 2x2 pool
    x[0, 1, 2, 2] = x[0, 1, 3, 3] = np.nan  # two NaNs in window (1, 1): torch keeps the last
    x[1, 0, 5, 5] = np.nan
    xt = torch.tensor(x, requires_grad=True)
    ot, it = F.max_pool2d(xt, 2, return_indices=True)
    g = _rand(ot.shape, seed=1).astype(dtype)
    ot.backward(torch.tensor(g))
    with backend.use(impl):
        t = mg.Tensor(x, requires_grad=True)
        out, idx = max_pool2d(t, 2, return_indices=True)
        out.backward(mg.Tensor(g))
    assert np.isnan(out.data[0, 0, 0, 0]) and np.isnan(out.data[0, 1, 1, 1])
    assert idx.data[0, 1, 1, 1] == 3 * 6 + 3
    np.testing.assert_array_equal(out.data, ot.detach().numpy())
    np.testing.assert_array_equal(idx.data, it.numpy())
    np.testing.assert_array_equal(t.grad.data, xt.grad.numpy())
    # NaN also wins in overlapping, padded windows
    # (overlapping windows add gradients in a different order: float32 rounding differs)
    tol = {"rtol": 1e-7, "atol": 1e-9} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    compare_with_torch(lambda a: max_pool2d(a, 3, 2, 1, return_indices=True),
                       lambda a: F.max_pool2d(a, 3, 2, 1, return_indices=True), x, dtype=dtype,
                       **tol)


@pytest.mark.parametrize("impl", BACKENDS)
def test_all_minus_inf_window_reports_first_input_element(impl):
    x = np.full((1, 1, 5, 5), -np.inf)
    with backend.use(impl):
        out, idx = max_pool2d(mg.Tensor(x), 3, 1, 1, return_indices=True)
    ot, it = F.max_pool2d(torch.tensor(x), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(out.data, ot.numpy())
    np.testing.assert_array_equal(idx.data, it.numpy())


def test_integer_input_max_pool():
    x = np.random.default_rng(0).integers(-50, 50, (2, 3, 7, 7))
    out, idx = max_pool2d(mg.Tensor(x), 3, 2, 1, return_indices=True)
    ot, it = F.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert out.dtype == mg.int64
    np.testing.assert_array_equal(out.data, ot.numpy())
    np.testing.assert_array_equal(idx.data, it.numpy())


# --------------------------------------------------------------------------- kernels


@pytest.fixture(params=["sse2", "avx2"])
def simd(request):
    """Run the compiled 2x2 loops with each instruction set this CPU has."""
    from minigrad.backend import _pool

    best = _pool.simd()
    try:
        _pool.set_simd(request.param)
    except ValueError:
        pytest.skip(f"{request.param} not available")
    yield request.param
    _pool.set_simd(best)


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_kernels_match_reference(dtype, simd):
    from minigrad.backend import compiled

    rng = np.random.default_rng(0)
    cases = [(k, s, p, d, cm) for k in [(1, 1), (2, 2), (3, 2), (17, 17)] for s in [(1, 1), (2, 3), k]
             for p in [(0, 0), (k[0] // 2, k[1] // 2)] for d in [(1, 1), (2, 1)] for cm in (False, True)]
    checked = 0
    # rows of 5 and 10 windows (SIMD steps of 4 / 8 with an overlapped last step); the second
    # shape runs in parallel
    for shape in [(3, 2, 9, 10), (40, 2, 19, 21)]:
        for k, s, p, d, cm in cases:
            # coarse values: many ties (first maximum wins); NaNs, -inf and zeros of both signs
            x = np.round(rng.standard_normal(shape) * 2).astype(dtype)
            x[0, 0, 1, :4] = np.nan
            x[0, 1, 2:4, 3:7] = -np.inf
            x[1, 0, 0, ::3] = -0.0
            try:
                ro, ra = reference.max_pool2d_forward(x, k, s, p, d, cm)
            except ValueError:
                continue
            co, ca = compiled.max_pool2d_forward(x, k, s, p, d, cm)
            np.testing.assert_array_equal(co, ro)
            np.testing.assert_array_equal(ca, ra)
            assert ca.dtype == (np.uint8 if k[0] * k[1] <= 256 else np.int32)
            g = rng.standard_normal(ro.shape).astype(dtype)
            np.testing.assert_allclose(compiled.max_pool2d_backward(g, ra, shape, k, s, p, d),
                                       reference.max_pool2d_backward(g, ra, shape, k, s, p, d),
                                       **_tol(dtype))
            if d == (1, 1):
                for cip, div in [(True, None), (False, None), (True, 5)]:
                    np.testing.assert_allclose(
                        compiled.avg_pool2d_forward(x, k, s, p, cm, cip, div),
                        reference.avg_pool2d_forward(x, k, s, p, cm, cip, div), **_tol(dtype))
                    np.testing.assert_allclose(
                        compiled.avg_pool2d_backward(g, shape, k, s, p, cip, div),
                        reference.avg_pool2d_backward(g, shape, k, s, p, cip, div), **_tol(dtype))
            checked += 1
    assert checked > 60


@needs_compiled
def test_empty_batch_and_backend_mixing():
    from minigrad.backend import compiled

    for impl in (compiled, reference):
        out, arg = impl.max_pool2d_forward(np.zeros((0, 2, 4, 4), np.float32), (2, 2), (2, 2), (0, 0),
                                           (1, 1), False)
        assert out.shape == arg.shape == (0, 2, 2, 2)
        assert impl.avg_pool2d_forward(np.zeros((0, 2, 4, 4)), (2, 2), (2, 2), (0, 0), False, True,
                                       None).shape == (0, 2, 2, 2)
    # the argmax format is shared: a forward on one backend, a backward on the other
    x = _rand((2, 3, 9, 9))
    t = mg.Tensor(x, requires_grad=True)
    with backend.use("cython"):
        out = max_pool2d(t, 3, 2, 1)
    with backend.use("numpy"):
        (out * 2).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    (F.max_pool2d(xt, 3, 2, 1) * 2).sum().backward()
    np.testing.assert_array_equal(t.grad.data, xt.grad.numpy())


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize(
    "fn, shape, kwargs, message",
    [
        (max_pool2d, (1, 1, 3, 3), dict(kernel_size=4), r"max_pool2d: the kernel is larger than the padded "
                                                        r"input: input shape \(1, 1, 3, 3\)"),
        (avg_pool2d, (1, 1, 3, 3), dict(kernel_size=(2, 5)), r"avg_pool2d: the kernel is larger"),
        (max_pool2d, (1, 1, 6, 6), dict(kernel_size=2, stride=0), r"max_pool2d: stride must be positive"),
        (avg_pool2d, (1, 1, 6, 6), dict(kernel_size=2, stride=(1, 0)), r"avg_pool2d: stride must be pos"),
        (max_pool2d, (1, 1, 6, 6), dict(kernel_size=0), r"max_pool2d: kernel_size must be positive"),
        (max_pool2d, (1, 1, 6, 6), dict(kernel_size=3, padding=2),
         r"max_pool2d: padding should be at most half of the kernel size"),
        (avg_pool2d, (1, 1, 6, 6), dict(kernel_size=2, padding=(0, 2)), r"avg_pool2d: padding should be"),
        (max_pool2d, (1, 1, 6, 6), dict(kernel_size=2, padding=-1), r"max_pool2d: padding must be non-neg"),
        (max_pool2d, (1, 1, 6, 6), dict(kernel_size=2, dilation=0), r"max_pool2d: dilation must be positive"),
        (max_pool2d, (6, 6), dict(kernel_size=2), r"max_pool2d: expected a 3-D \(C, H, W\) or 4-D "
                                                  r"\(N, C, H, W\) input, got shape \(6, 6\)"),
        (avg_pool2d, (1, 1, 1, 6, 6), dict(kernel_size=2), r"avg_pool2d: expected a 3-D"),
        (max_pool2d, (1, 0, 6, 6), dict(kernel_size=2), r"max_pool2d: expected non-empty C, H and W"),
        (max_pool2d, (1, 1, 2, 2), dict(kernel_size=2, stride=1, padding=1, dilation=3),
         r"max_pool2d: a dilated window holds no input element"),
        (max_pool2d, (1, 1, 6, 6), dict(kernel_size=(2, 2, 2)), r"max_pool2d: kernel_size must be an int"),
        (avg_pool2d, (1, 1, 6, 6), dict(kernel_size=2, divisor_override=0),
         r"avg_pool2d: divisor_override must not be zero"),
    ],
)
def test_invalid_parameters_raise(impl, fn, shape, kwargs, message):
    with backend.use(impl), pytest.raises(ValueError, match=message):
        fn(mg.Tensor(np.zeros(shape)), **kwargs)


def test_kernels_validate_too():
    for impl in [reference] + ([backend.compiled] if "cython" in BACKENDS else []):
        with pytest.raises(ValueError, match="max_pool2d: the kernel is larger"):
            impl.max_pool2d_forward(np.zeros((1, 1, 2, 2)), (3, 3), (1, 1), (0, 0), (1, 1), False)
        with pytest.raises(ValueError, match="avg_pool2d: padding should be"):
            impl.avg_pool2d_forward(np.zeros((1, 1, 5, 5)), (3, 3), (1, 1), (2, 2), False, True, None)
    if "cython" in BACKENDS:
        with pytest.raises(ValueError, match="max_pool2d_backward: grad_output shape"):
            backend.compiled.max_pool2d_backward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3), np.uint8),
                                                 (1, 1, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1))


def test_avg_pool2d_rejects_integers():
    with pytest.raises(TypeError, match="avg_pool2d: expected a floating point input"):
        avg_pool2d(mg.Tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)


@needs_compiled
def test_random_geometries_compiled_vs_reference():
    """Random shapes and parameters (many ties, NaNs): the compiled loops, their SIMD blocks,
    border windows and overlapped last steps agree with the reference exactly."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    from minigrad.backend import compiled

    @hypothesis.settings(max_examples=150, deadline=None, derandomize=True)
    @hypothesis.given(
        h=st.integers(1, 23), w=st.integers(1, 23), kh=st.integers(1, 5), kw=st.integers(1, 5),
        sh=st.integers(1, 4), sw=st.integers(1, 4), ph=st.integers(0, 2), pw=st.integers(0, 2),
        dh=st.integers(1, 3), dw=st.integers(1, 3), ceil=st.booleans(), f64=st.booleans(),
        seed=st.integers(0, 2**16),
    )
    def check(h, w, kh, kw, sh, sw, ph, pw, dh, dw, ceil, f64, seed):
        k, s, p, d = (kh, kw), (sh, sw), (min(ph, kh // 2), min(pw, kw // 2)), (dh, dw)
        rng = np.random.default_rng(seed)
        dtype = np.float64 if f64 else np.float32
        x = np.round(rng.standard_normal((2, 3, h, w)) * 1.5).astype(dtype)
        x[rng.random(x.shape) < 0.02] = np.nan
        try:
            ro, ra = reference.max_pool2d_forward(x, k, s, p, d, ceil)
        except ValueError:
            with pytest.raises(ValueError):
                compiled.max_pool2d_forward(x, k, s, p, d, ceil)
            return
        co, ca = compiled.max_pool2d_forward(x, k, s, p, d, ceil)
        np.testing.assert_array_equal(co, ro)
        np.testing.assert_array_equal(ca, ra)
        g = rng.standard_normal(ro.shape).astype(dtype)
        np.testing.assert_allclose(compiled.max_pool2d_backward(g, ra, x.shape, k, s, p, d),
                                   reference.max_pool2d_backward(g, ra, x.shape, k, s, p, d), **_tol(dtype))
        cip = bool(seed % 2)
        div = None if seed % 3 else 7
        x = np.nan_to_num(x)
        tol = _tol(dtype)
        np.testing.assert_allclose(compiled.avg_pool2d_forward(x, k, s, p, ceil, cip, div),
                                   reference.avg_pool2d_forward(x, k, s, p, ceil, cip, div), **tol)
        ga = rng.standard_normal(reference.avg_pool2d_forward(x, k, s, p, ceil, cip, div).shape)
        ga = ga.astype(dtype)
        np.testing.assert_allclose(compiled.avg_pool2d_backward(ga, x.shape, k, s, p, cip, div),
                                   reference.avg_pool2d_backward(ga, x.shape, k, s, p, cip, div), **tol)

    check()
