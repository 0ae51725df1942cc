"""matmul vs torch in float64: 1-D, 2-D and batched operands with broadcasting, plus
transposed (non-contiguous) operands, for both kernel backends."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import mutually_broadcastable_shapes  # noqa: E402


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


MATMUL_SHAPES = [
    ((4,), (4,)),  # dot -> 0-d
    ((4,), (4, 3)),  # vector @ matrix
    ((3, 4), (4,)),  # matrix @ vector
    ((3, 4), (4, 5)),
    ((1, 1), (1, 1)),
    ((7, 5), (5, 1)),
    ((2, 3, 4), (4, 5)),  # batched @ matrix
    ((3, 4), (2, 4, 5)),  # matrix @ batched
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dims broadcast both ways
    ((4,), (2, 4, 3)),  # vector @ batched
    ((2, 3, 4), (4,)),  # batched @ vector
    ((1, 3, 4), (2, 1, 4, 2)),
]


@pytest.fixture(params=["numpy", "cython"])
def kernel_backend(request):
    if request.param not in mg.backend.available():
        pytest.skip("compiled kernels not built")
    with mg.backend.use(request.param):
        yield request.param


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul(sa, sb, transposed, kernel_backend):
    a, b = rand(sa, 1), rand(sb, 2)
    if transposed:  # store the last two dims swapped: the op sees mT views
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)) if a.ndim >= 2 else a
        b = np.ascontiguousarray(np.swapaxes(b, -1, -2)) if b.ndim >= 2 else b

        def v(t):
            return t.mT if t.ndim >= 2 else t
    else:

        def v(t):
            return t

    compare_with_torch(lambda x, y: v(x) @ v(y), lambda x, y: v(x) @ v(y), a, b)
    compare_with_torch(lambda x, y: mg.matmul(v(x), v(y)), lambda x, y: torch.matmul(v(x), v(y)), a, b)


def test_matmul_one_side_needs_grad():
    a, b = rand((3, 4)), rand((4, 2))
    compare_with_torch(lambda x, y: x @ y.detach(), lambda x, y: x @ y.detach(), a, b)
    compare_with_torch(lambda x, y: x.detach() @ y, lambda x, y: x.detach() @ y, a, b)


def test_matmul_with_numpy_operand_and_aliases():
    w = rand((4, 2))
    compare_with_torch(lambda x: x @ w, lambda x: x @ torch.from_numpy(w), rand((3, 4)))
    compare_with_torch(lambda x: w.T @ x.T, lambda x: torch.from_numpy(w).T @ x.T, rand((3, 4)))
    compare_with_torch(lambda x, y: x.mm(y), lambda x, y: x.mm(y), rand((3, 4)), rand((4, 2)))
    compare_with_torch(mg.bmm, torch.bmm, rand((2, 3, 4)), rand((2, 4, 2)))
    compare_with_torch(mg.dot, torch.dot, rand((5,)), rand((5,)))
    compare_with_torch(lambda x, y: x.dot(y), lambda x, y: x.dot(y), rand((5,)), rand((5,)))


def test_matmul_same_tensor_twice():
    compare_with_torch(lambda x: x @ x.T, lambda x: x @ x.T, rand((3, 4)))
    compare_with_torch(lambda x: x @ x, lambda x: x @ x, rand((3, 3)))


def test_matmul_float32():
    compare_with_torch(
        lambda x, y: x @ y,
        lambda x, y: x @ y,
        rand((3, 4)),
        rand((2, 4, 5)),
        dtype=np.float32,
        atol=1e-5,
        rtol=1e-5,
    )


def test_matmul_integer_and_mixed_dtypes():
    a, b = np.arange(6).reshape(2, 3), np.arange(3)
    out = mg.tensor(a) @ mg.tensor(b)
    assert out.dtype == mg.int64 and out.tolist() == (torch.tensor(a) @ torch.tensor(b)).tolist()
    mixed = mg.tensor(a.astype(np.float32)) @ mg.tensor(b.astype(np.float64))
    assert mixed.dtype == mg.float64


@pytest.mark.parametrize(
    "sa,sb,pattern",
    [
        ((3, 4), (5, 2), r"\(3, 4\) and \(5, 2\)"),
        ((4,), (3,), r"\(4,\) and \(3,\)"),
        ((2, 3, 4), (3, 4, 2), "batch dims|broadcast"),
        ((), (3,), "at least 1 dimension"),
    ],
)
def test_matmul_shape_errors(sa, sb, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        mg.zeros(*sa) @ mg.zeros(*sb)


@pytest.mark.parametrize(
    "sa,sb",
    [((3, 0), (0, 4)), ((0, 3), (3, 4)), ((0, 2, 3), (3, 4)), ((0,), (0,)), ((64, 70), (70, 33))],
    ids=str,
)
def test_matmul_empty_and_larger(sa, sb, kernel_backend):
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, rand(sa, 1), rand(sb, 2))


def test_matmul_strided_views(kernel_backend):
    def fn(a, b):
        return a[::2, 1::2] @ b[::3].T

    compare_with_torch(fn, fn, rand((6, 8), 1), rand((9, 4), 2))


@st.composite
def _matmul_shapes(draw):
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3)).input_shapes
    a = (k,) if draw(st.booleans()) and not batch[0] else batch[0] + (m, k)
    b = (k,) if draw(st.booleans()) and not batch[1] else batch[1] + (k, n)
    return a, b


@settings(max_examples=20, deadline=None, derandomize=True)
@given(shapes=_matmul_shapes())
def test_matmul_shape_fuzz(shapes):
    sa, sb = shapes
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, rand(sa, 1), rand(sb, 2))
