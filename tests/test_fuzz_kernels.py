"""Fuzzing the kernels: random valid conv2d / max_pool2d / avg_pool2d / matmul problems (shapes,
strides, paddings, dilations, groups, ceil_mode, transposed/sliced/reversed memory layouts)
must give the compiled backend's values and gradients equal to the NumPy reference; random
invalid parameters must raise ValueError (in-process: a crash fails the run), both through
the ops and through the kernels called directly.

Deterministic (``derandomize=True``, no example database) and bounded by ``max_examples``.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend
from minigrad.ops.conv import conv2d
from minigrad.ops.pool import avg_pool2d, max_pool2d

pytestmark = pytest.mark.skipif("cython" not in backend.available(), reason="compiled kernels not built")

FUZZ = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INVALID = settings(FUZZ, max_examples=250)
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-4)}

# --------------------------------------------------------------------------- layouts

LAYOUTS = ["contiguous", "transposed", "sliced", "reversed", "fortran"]


def _layout(arr: np.ndarray, kind: str) -> np.ndarray:
    """The same values as ``arr`` in another memory layout (never C-contiguous, except the
    first kind)."""
    if kind == "contiguous" or arr.ndim == 0:
        return np.ascontiguousarray(arr)
    if kind == "transposed":  # stored with the last two dims swapped
        buf = np.ascontiguousarray(np.swapaxes(arr, -1, -2)) if arr.ndim >= 2 else arr.copy()
        return np.swapaxes(buf, -1, -2) if arr.ndim >= 2 else buf
    if kind == "sliced":  # every other element of a bigger buffer, with an offset
        buf = np.zeros(tuple(2 * n + 1 for n in arr.shape), arr.dtype)
        view = buf[tuple(slice(1, None, 2) for _ in arr.shape)]
        view[...] = arr
        return view
    if kind == "reversed":  # negative strides in the last dim
        buf = np.ascontiguousarray(arr[..., ::-1])
        return buf[..., ::-1]
    if kind == "fortran":
        return np.asfortranarray(arr)
    raise AssertionError(kind)


def _run(fn, arrays, layout, dtype):
    """Forward + backward (random cotangent) under both backends; returns both results."""
    rng = np.random.default_rng(1)
    results = []
    for impl in ("numpy", "cython"):
        with backend.use(impl):
            ts = [mg.tensor(np.asarray(a, dtype), requires_grad=True) for a in arrays]
            for t, a in zip(ts, arrays):  # replace the data by the strided layout (same values)
                t.data = _layout(np.asarray(a, dtype), layout)
            out = fn(*ts)
            cot = rng.standard_normal(out.shape).astype(dtype)
            rng = np.random.default_rng(1)
            (out * mg.tensor(cot)).sum().backward()
            results.append([out.detach().numpy().copy()] + [t.grad.numpy().copy() for t in ts])
    return results


def _assert_same(results, dtype):
    ref, comp = results
    for i, (r, c) in enumerate(zip(ref, comp)):
        assert r.shape == c.shape and r.dtype == c.dtype, (i, r.shape, c.shape, r.dtype, c.dtype)
        np.testing.assert_allclose(c, r, **TOL[dtype], err_msg=f"result {i} (0 = output)")


pair = st.tuples(st.integers(1, 3), st.integers(1, 3))


# --------------------------------------------------------------------------- conv2d


@st.composite
def conv_problems(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(pair)
    dh, dw = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 3), (2, 2)]))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 11))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 11))
    n = draw(st.integers(1, 4))
    bias = draw(st.booleans())
    return dict(x=(n, cin, h, w), w=(cout, cin // groups, kh, kw), bias=bias, stride=(sh, sw),
                padding=(ph, pw), dilation=(dh, dw), groups=groups)


@FUZZ
@given(p=conv_problems(), layout=st.sampled_from(LAYOUTS), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2**16))
def test_conv2d_compiled_matches_reference(p, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(p["x"]), rng.standard_normal(p["w"])]
    if p["bias"]:
        arrays.append(rng.standard_normal(p["w"][0]))

    def fn(x, w, b=None):
        return conv2d(x, w, b, p["stride"], p["padding"], p["dilation"], p["groups"])

    _assert_same(_run(fn, arrays, layout, dtype), dtype)


# --------------------------------------------------------------------------- pooling


@st.composite
def pool_problems(draw, dilation=True):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(pair)
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    dh, dw = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (2, 3)])) if dilation else (1, 1)
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 12))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 12))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), h, w)
    if draw(st.booleans()):
        shape = shape[1:]  # unbatched
    return dict(shape=shape, kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw),
                ceil_mode=draw(st.booleans()))


def _pool_valid(p) -> bool:
    """Whether every output window holds at least one input element (else the op refuses)."""
    from minigrad.backend.reference import pool2d_output_shape

    try:
        shape4 = p["shape"] if len(p["shape"]) == 4 else (1, *p["shape"])
        pool2d_output_shape("max_pool2d", shape4, p["kernel"], p["stride"], p["padding"],
                            p["dilation"], p["ceil_mode"])
    except ValueError as e:
        assert "dilated window holds no input element" in str(e), str(e)
        return False
    return True


@FUZZ
@given(p=pool_problems(), layout=st.sampled_from(LAYOUTS), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2**16))
def test_max_pool2d_compiled_matches_reference(p, layout, dtype, seed):
    if not _pool_valid(p):
        with pytest.raises(ValueError, match="max_pool2d"):
            max_pool2d(mg.zeros(*p["shape"]), p["kernel"], p["stride"], p["padding"], p["dilation"],
                       p["ceil_mode"])
        return
    # Distinct values: no ties, so "first maximum wins" is not what is being compared.
    x = np.random.default_rng(seed).permutation(int(np.prod(p["shape"]))).reshape(p["shape"]) / 7.0

    def fn(t):
        return max_pool2d(t, p["kernel"], p["stride"], p["padding"], p["dilation"], p["ceil_mode"])

    _assert_same(_run(fn, [x], layout, dtype), dtype)


@FUZZ
@given(p=pool_problems(dilation=False), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from([np.float64, np.float32]), count_include_pad=st.booleans(),
       divisor=st.sampled_from([None, None, 3, -2]), seed=st.integers(0, 2**16))
def test_avg_pool2d_compiled_matches_reference(p, layout, dtype, count_include_pad, divisor, seed):
    x = np.random.default_rng(seed).standard_normal(p["shape"])

    def fn(t):
        return avg_pool2d(t, p["kernel"], p["stride"], p["padding"], p["ceil_mode"], count_include_pad,
                          divisor)

    _assert_same(_run(fn, [x], layout, dtype), dtype)


# --------------------------------------------------------------------------- matmul


@st.composite
def matmul_problems(draw):
    m, k, n = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kind = draw(st.sampled_from(["2d", "2d", "batched", "broadcast", "vec-mat", "mat-vec", "vec-vec"]))
    if kind == "2d":
        return (m, k), (k, n)
    if kind == "batched":
        b = draw(st.integers(1, 3))
        return (b, m, k), (b, k, n)
    if kind == "broadcast":
        b, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        return draw(st.sampled_from([((b, 1, m, k), (c, k, n)), ((m, k), (b, k, n)), ((b, c, m, k), (k, n))]))
    if kind == "vec-mat":
        return (k,), draw(st.sampled_from([(k, n), (2, k, n)]))
    if kind == "mat-vec":
        return draw(st.sampled_from([(m, k), (3, m, k)])), (k,)
    return (k,), (k,)


@FUZZ
@given(shapes=matmul_problems(), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2**16))
def test_matmul_compiled_matches_reference(shapes, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    _assert_same(_run(mg.matmul, arrays, layout, dtype), dtype)


@FUZZ
@given(shapes=matmul_problems(), ta=st.booleans(), tb=st.booleans(), layout=st.sampled_from(LAYOUTS),
       seed=st.integers(0, 2**16))
def test_matmul_kernel_transpose_flags(shapes, ta, tb, layout, seed):
    a_shape, b_shape = shapes
    if len(a_shape) < 2 or len(b_shape) < 2:
        return
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(a_shape[:-2] + (a_shape[-1], a_shape[-2]) if ta else a_shape)
    b = rng.standard_normal(b_shape[:-2] + (b_shape[-1], b_shape[-2]) if tb else b_shape)
    a, b = _layout(a, layout), _layout(b, layout)
    from minigrad.backend import compiled, reference

    np.testing.assert_allclose(compiled.matmul(a, b, ta, tb), reference.matmul(a, b, ta, tb),
                               rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- invalid parameters

bad_int = st.sampled_from([1, 1, 1, 1, 2, 2, 3, 5, 0, -1])


@st.composite
def conv_invalid(draw):
    """Random (often invalid) conv2d arguments and whether a torch-style rule accepts them."""
    n, cin, h, w = (draw(st.integers(0, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 8)),
                    draw(st.integers(1, 8)))
    groups = draw(st.sampled_from([1, 1, 1, 1, 2, 3, 0, -1]))
    cin_w = draw(st.sampled_from([cin // groups if groups >= 1 and cin % groups == 0 else cin] * 3 + [1, 2]))
    cout = draw(st.sampled_from([max(groups, 1) * 2] * 3 + [1, 3]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(bad_int), draw(bad_int))
    padding = (draw(st.sampled_from([0, 0, 1, 2, -1])), draw(st.sampled_from([0, 0, 1, 3, -2])))
    dilation = (draw(bad_int), draw(bad_int))
    x_shape = draw(st.sampled_from([(n, cin, h, w)] * 4 + [(cin, h, w), (h, w), (n, 1, cin, h, w)]))
    valid = (
        len(x_shape) in (3, 4) and min(stride) >= 1 and min(dilation) >= 1 and min(padding) >= 0
        and groups >= 1 and cout % groups == 0 and x_shape[-3] == cin_w * groups
        and all(d * (k - 1) + 1 <= s + 2 * p for d, k, s, p in zip(dilation, (kh, kw), x_shape[-2:], padding))
    )
    return dict(x=x_shape, w=(cout, cin_w, kh, kw), stride=stride, padding=padding, dilation=dilation,
                groups=groups, valid=valid)


@INVALID
@given(p=conv_invalid())
def test_conv2d_invalid_parameters_raise_value_error(p):
    x, w = mg.ones(*p["x"], dtype=mg.float64), mg.ones(*p["w"], dtype=mg.float64)
    if p["valid"]:
        out = conv2d(x, w, None, p["stride"], p["padding"], p["dilation"], p["groups"])
        with backend.use("numpy"):
            ref = conv2d(x, w, None, p["stride"], p["padding"], p["dilation"], p["groups"])
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)
        return
    with pytest.raises(ValueError, match="conv2d"):
        conv2d(x, w, None, p["stride"], p["padding"], p["dilation"], p["groups"])


@INVALID
@given(p=conv_invalid(), grad_shape_delta=st.sampled_from([0, 0, 1, -1]))
def test_conv2d_kernels_refuse_inconsistent_arguments(p, grad_shape_delta):
    """The kernels called directly (no op-level validation) raise instead of reading out of bounds."""
    from minigrad.backend import compiled

    if len(p["x"]) != 4 or min(p["x"]) < 1:
        return
    x, w = np.ones(p["x"]), np.ones(p["w"])
    pads = ((p["padding"][0],) * 2, (p["padding"][1],) * 2)
    args = (p["stride"], pads, p["dilation"], p["groups"])
    if not p["valid"]:
        with pytest.raises(ValueError, match="conv2d_forward"):
            compiled.conv2d_forward(x, w, None, *args)
        return
    out, cols = compiled.conv2d_forward(x, w, None, *args, keep_columns=True)
    g = np.ones(out.shape[:3] + (out.shape[3] + grad_shape_delta,))
    if grad_shape_delta:
        with pytest.raises(ValueError, match="conv2d_backward"):
            compiled.conv2d_backward(g, x, w, *args, True, True, True, columns=cols)
        return
    compiled.conv2d_backward(g, x, w, *args, True, True, True, columns=cols)


@st.composite
def pool_invalid(draw):
    shape = draw(st.sampled_from([(2, 3, 5, 6), (3, 7, 4), (1, 1, 1, 1), (2, 1, 9, 8), (4, 4), (1, 2, 0, 3)]))
    kern = st.sampled_from([1, 2, 2, 3, 3, 4, 0, -1, 12])
    kernel = (draw(kern), draw(kern))
    stride = draw(st.one_of(st.none(), st.tuples(bad_int, bad_int)))
    padding = (draw(st.sampled_from([0, 0, 0, 1, 2, 4, -1])), draw(st.sampled_from([0, 0, 0, 1, 3, -1])))
    dilation = (draw(bad_int), draw(bad_int))
    return dict(shape=shape, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=draw(st.booleans()))


def _pool_rules(p, dilation):
    s = p["stride"] if p["stride"] is not None else p["kernel"]
    d = p["dilation"] if dilation else (1, 1)
    if len(p["shape"]) not in (3, 4) or min(p["shape"][-3:]) < 1:
        return False
    if min(p["kernel"]) < 1 or min(s) < 1 or min(p["padding"]) < 0 or min(d) < 1:
        return False
    if any(2 * pad > k for pad, k in zip(p["padding"], p["kernel"])):
        return False
    for size, k, st_, pad, dil in zip(p["shape"][-2:], p["kernel"], s, p["padding"], d):
        span = dil * (k - 1) + 1
        out = (size + 2 * pad - span + (st_ - 1 if p["ceil_mode"] else 0)) // st_ + 1
        if p["ceil_mode"] and (out - 1) * st_ >= size + pad:
            out -= 1
        if out < 1:
            return False
    return True


@INVALID
@given(p=pool_invalid(), which=st.sampled_from(["max", "avg"]))
def test_pool_invalid_parameters_raise_value_error(p, which):
    x = mg.tensor(np.random.default_rng(0).standard_normal(p["shape"]))
    if which == "max":
        def call():
            return max_pool2d(x, p["kernel"], p["stride"], p["padding"], p["dilation"], p["ceil_mode"])
    else:
        def call():
            return avg_pool2d(x, p["kernel"], p["stride"], p["padding"], p["ceil_mode"])
    if not _pool_rules(p, which == "max"):
        with pytest.raises(ValueError, match=f"{which}_pool2d"):
            call()
        return
    try:
        out = call()
    except ValueError as e:  # the one extra rule: a dilated window made only of padding
        assert which == "max" and "dilated window holds no input element" in str(e), str(e)
        return
    with backend.use("numpy"):
        ref = call()
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)


@INVALID
@given(p=pool_invalid(), delta=st.sampled_from([(0, 1), (1, 0), (0, -1), (2, 2)]))
def test_pool_kernels_refuse_inconsistent_arguments(p, delta):
    """Kernels called directly: bad parameters, or a grad_output whose size does not fit."""
    from minigrad.backend import compiled

    if len(p["shape"]) != 4:
        return
    x = np.ones(p["shape"])
    s = p["stride"] if p["stride"] is not None else p["kernel"]
    valid = _pool_rules(p, True)
    try:
        out, argmax = compiled.max_pool2d_forward(x, p["kernel"], s, p["padding"], p["dilation"],
                                                  p["ceil_mode"])
    except ValueError:
        return
    assert valid
    from minigrad.backend.reference import pool2d_output_size

    n, c, oh, ow = out.shape
    g = np.ones((n, c, oh + delta[0], ow + delta[1]))
    # The backward does not know ceil_mode: the floor and the ceil output sizes both fit.
    def fits(dilation):
        return all(
            n_out in {pool2d_output_size(size, k, s_, pad, d, cm) for cm in (False, True)}
            for n_out, size, k, s_, pad, d in zip(g.shape[2:], p["shape"][2:], p["kernel"], s,
                                                  p["padding"], dilation)
        )

    def max_backward():
        return compiled.max_pool2d_backward(g, np.zeros(g.shape, argmax.dtype), p["shape"],
                                            p["kernel"], s, p["padding"], p["dilation"])

    def avg_backward():
        return compiled.avg_pool2d_backward(g, p["shape"], p["kernel"], s, p["padding"], True, None)

    for backward_, ok in ((max_backward, fits(p["dilation"])), (avg_backward, fits((1, 1)))):
        if ok:  # a size that fits: it must run (under the sanitizers: within bounds)
            assert backward_().shape == p["shape"]
        else:
            with pytest.raises(ValueError):
                backward_()


@INVALID
@given(a=st.lists(st.integers(0, 4), min_size=1, max_size=3),
       b=st.lists(st.integers(0, 4), min_size=1, max_size=3))
def test_matmul_mismatched_shapes_raise(a, b):
    x, y = np.ones(a), np.ones(b)
    try:
        expected = np.matmul(x, y)
    except ValueError:
        expected = None
    from minigrad.backend import compiled

    if expected is None:
        with pytest.raises(ValueError):
            compiled.matmul(x, y)
        with pytest.raises(RuntimeError, match="matmul"):
            mg.matmul(mg.tensor(x), mg.tensor(y))
    else:
        np.testing.assert_array_equal(compiled.matmul(x, y), expected)
        np.testing.assert_array_equal(mg.matmul(mg.tensor(x), mg.tensor(y)).numpy(), expected)
