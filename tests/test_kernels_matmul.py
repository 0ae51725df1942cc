"""matmul and linear: the compiled BLAS kernels vs NumPy / the reference vs torch."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.backend import reference
from minigrad.ops.linalg import linear
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional

BACKENDS = mg.backend.available()
needs_compiled = pytest.mark.skipif("cython" not in BACKENDS, reason="compiled kernels not built")


def _close(got, want, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# (a shape, b shape) in the stored layout before transposes
SHAPES = [
    ((3, 4), (4, 5)),
    ((1, 7), (7, 1)),  # size-1 rows/cols
    ((5, 1), (1, 6)),  # K = 1
    ((64, 784), (784, 300)),  # splits output columns across threads
    ((300, 200), (200, 40)),  # splits output rows across threads
    ((2, 5, 3), (3, 4)),  # batched @ 2-D
    ((2, 1, 33, 17), (3, 17, 29)),  # broadcast batch dims
    ((4, 130, 120), (4, 120, 150)),  # batch >= threads, each product large
    ((1, 200, 130), (1, 130, 170)),  # batch 1, large
    ((3, 0, 4), (4, 5)),  # empty
    ((3, 4, 0), (0, 5)),  # K = 0: zeros
]


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", SHAPES, ids=[f"{a}@{b}" for a, b in SHAPES])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_compiled_matmul_matches_numpy(shapes, dtype, ta, tb):
    from minigrad.backend import compiled

    rng = np.random.default_rng(0)
    a, b = _rand(rng, shapes[0], dtype), _rand(rng, shapes[1], dtype)
    want = np.matmul(a, b)
    # Store the operands transposed when the flag says so (a contiguous transposed copy).
    a_arg = np.ascontiguousarray(np.swapaxes(a, -1, -2)) if ta else a
    b_arg = np.ascontiguousarray(np.swapaxes(b, -1, -2)) if tb else b
    got = compiled.matmul(a_arg, b_arg, ta, tb)
    _close(got, want, dtype)
    _close(reference.matmul(a_arg, b_arg, ta, tb), want, dtype)


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_matmul_views(dtype):
    """Transposed, sliced, reversed, broadcast and size-1-strided views, no wrong answers."""
    from minigrad.backend import compiled

    rng = np.random.default_rng(1)
    big = _rand(rng, (6, 40, 50), dtype)
    w = _rand(rng, (50, 30), dtype)
    views = [
        (big[:, :, :30].transpose(0, 2, 1), big[0, :40, :20]),  # column-major a, sliced b
        (big[::2, ::3, :50], w),  # strided rows: leading dimension > cols
        (big[:, :, ::2], big[0, :25, ::2]),  # no unit stride: copied
        (big[::-1, ::-1, :], w),  # negative strides: copied
        (np.broadcast_to(w[:1], (40, 30)).T, big[1, :40, :7]),  # zero stride
        (big[:, 3:4, :], w),  # one row with an arbitrary row stride
        (w.T[:, :1].T, w.T),  # one row, column-major
        (big[2:3, :, 5:6], big[:1, 6:7, :]),  # (1,40,1) @ (1,1,50)
        (np.asfortranarray(big[0]), np.asfortranarray(w)),
    ]
    for a, b in views:
        _close(compiled.matmul(a, b), np.matmul(a, b), dtype)
        _close(compiled.matmul(a.swapaxes(-1, -2), b.swapaxes(-1, -2), True, True),
               np.matmul(a, b), dtype)


@needs_compiled
def test_compiled_matmul_falls_back_for_other_cases():
    from minigrad.backend import compiled

    rng = np.random.default_rng(2)
    cases = [
        (rng.integers(0, 5, (3, 4)), rng.integers(0, 5, (4, 2))),  # integers
        (_rand(rng, (3, 4), np.float32), _rand(rng, (4, 2), np.float64)),  # mixed dtypes
        (_rand(rng, (4,), np.float64), _rand(rng, (4, 2), np.float64)),  # 1-D
        (_rand(rng, (2, 3, 4), np.float64), _rand(rng, (4,), np.float64)),
    ]
    for a, b in cases:
        got, want = compiled.matmul(a, b), np.matmul(a, b)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError):
        compiled.matmul(_rand(rng, (3, 4), np.float64), _rand(rng, (5, 2), np.float64))


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 3, 2), (64, 784, 128), (257, 33, 300)])
def test_compiled_linear_kernels_match_reference(shape, bias, dtype):
    from minigrad.backend import compiled

    rng = np.random.default_rng(3)
    n, fin, fout = shape
    x, w = _rand(rng, (n, fin), dtype), _rand(rng, (fout, fin), dtype)
    b = _rand(rng, (fout,), dtype) if bias else None
    _close(compiled.linear_forward(x, w, b), reference.linear_forward(x, w, b), dtype)
    g = _rand(rng, (n, fout), dtype)
    for needs in [(True, True, bias), (False, True, False), (True, False, False)]:
        got = compiled.linear_backward(g, x, w, *needs)
        want = reference.linear_backward(g, x, w, *needs)
        for gi, wi in zip(got, want):
            if wi is None:
                assert gi is None
            else:
                _close(gi, wi, dtype)


# --------------------------------------------------------------------------- ops vs torch


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "x_shape, out_features, bias",
    [((5, 7), 4, True), ((3, 5, 7), 4, True), ((7,), 3, True), ((2, 1, 3, 7), 5, False),
     ((64, 200), 130, True)],
)
def test_linear_matches_torch(backend, x_shape, out_features, bias):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((out_features, x_shape[-1]))
    arrays = (x, w, rng.standard_normal(out_features)) if bias else (x, w)
    with mg.backend.use(backend):
        compare_with_torch(linear, F.linear, *arrays, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_non_contiguous_and_frozen_input(backend):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((9, 6)), rng.standard_normal((8, 12)), rng.standard_normal(8)
    with mg.backend.use(backend):
        compare_with_torch(
            lambda x, w, b: linear(x.t(), w[::2, :9], b[::2]),
            lambda x, w, b: F.linear(x.t(), w[::2, :9], b[::2]),
            x, w, b, rtol=1e-10, atol=1e-10,
        )
        xm = mg.tensor(x.T)  # needs no gradient
        wm, bm = mg.tensor(w[:, :9], requires_grad=True), mg.tensor(b, requires_grad=True)
        linear(xm, wm, bm).sum().backward()
    assert xm.grad is None
    np.testing.assert_allclose(wm.grad.numpy(), np.ones((8, 6)) @ x.T, rtol=1e-12)
    np.testing.assert_allclose(bm.grad.numpy(), np.full(8, 6.0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((6, 7), (7, 5)), ((2, 6, 7), (7, 5)), ((3, 1, 6, 7), (2, 7, 5)), ((150, 90), (90, 120))],
)
def test_matmul_op_matches_torch(backend, a_shape, b_shape):
    rng = np.random.default_rng(6)
    with mg.backend.use(backend):
        compare_with_torch(
            lambda a, b: a @ b, lambda a, b: a @ b,
            rng.standard_normal(a_shape), rng.standard_normal(b_shape), rtol=1e-10, atol=1e-10,
        )
        compare_with_torch(  # transposed views reach BLAS as flags
            lambda a, b: b.transpose(-1, -2) @ a.transpose(-1, -2),
            lambda a, b: b.transpose(-1, -2) @ a.transpose(-1, -2),
            rng.standard_normal(a_shape), rng.standard_normal(b_shape), rtol=1e-10, atol=1e-10,
        )


@pytest.mark.parametrize(
    "x, w, b, fragments",
    [
        (np.zeros((4, 5)), np.zeros((3, 6)), None, ["linear", "(4, 5)", "(3, 6)", "in_features=6"]),
        (np.zeros((4, 5)), np.zeros((3, 5, 1)), None, ["linear", "weight", "(3, 5, 1)"]),
        (np.zeros((4, 5)), np.zeros((3, 5)), np.zeros(4), ["linear", "bias", "(3,)", "(4,)"]),
        (np.zeros(()), np.zeros((3, 5)), None, ["linear", "()", "(3, 5)"]),
    ],
)
def test_linear_invalid_arguments_raise(x, w, b, fragments):
    with pytest.raises(ValueError) as err:
        linear(mg.tensor(x), mg.tensor(w), None if b is None else mg.tensor(b))
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))
    with pytest.raises(TypeError, match=r"linear: input \(float32\), weight \(float64\)"):
        linear(mg.tensor(np.zeros((2, 3), np.float32)), mg.tensor(np.zeros((4, 3))))
