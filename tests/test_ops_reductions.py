"""Reductions and softmax vs torch in float64: values, indices and gradients.

Each case runs over (shape, dim) families (0-d, size-1 dims, odd sizes, negative and tuple
dims, all dims), both keepdim values and contiguous / transposed / sliced inputs. The random
data has no ties; tie semantics are pinned by separate tests.
"""

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def rand(shape, seed=0):
    """Distinct values (no ties) away from zero."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    vals = (np.arange(n) + 1.0) / (n + 1) * 3.0 - 1.55  # distinct, none at 0
    return rng.permutation(vals).reshape(shape) + rng.uniform(-0.01, 0.01, shape)


def layout(x, kind):
    if kind == "contig" or x.ndim == 0:
        return x, lambda t: t
    if kind == "T":
        dims = tuple(range(x.ndim - 1, -1, -1))
        return np.ascontiguousarray(x.transpose(dims)), lambda t: t.permute(*dims)
    big = np.repeat(x, 2, axis=-1)
    big[..., 1::2] = 1e3  # would win any max and dominate any sum if it leaked
    return big, lambda t: t[..., ::2]


SHAPE_DIMS = [
    ((), None),
    ((), 0),
    ((), -1),
    ((5,), None),
    ((5,), 0),
    ((5,), -1),
    ((3, 4), None),
    ((3, 4), 0),
    ((3, 4), 1),
    ((3, 4), (0, 1)),
    ((2, 3, 5), -2),
    ((2, 3, 5), (0, 2)),
    ((2, 3, 5), (-1, 0)),
    ((1, 4, 1), 0),
    ((1, 4, 1), (0, 2)),
    ((1, 4, 1), 1),
]
INT_DIMS = [(s, d) for s, d in SHAPE_DIMS if isinstance(d, int)]
LAYOUTS = ["contig", "T", "sliced"]
# both keepdim values on contiguous data, each non-contiguous layout once
KEEPDIM_LAYOUTS = [(False, "contig"), (True, "contig"), (False, "T"), (True, "sliced")]


def _dim_kw(dim):
    return {"dim": dim}


# name, minigrad fn(x, dim, keepdim), torch fn(x, dim, keepdim)
DIM_REDUCTIONS = [
    ("sum", lambda x, d, k: x.sum(**_dim_kw(d), keepdim=k), lambda x, d, k: x.sum(**_dim_kw(d), keepdim=k)),
    ("sum_fn", lambda x, d, k: mg.sum(x, d, k), lambda x, d, k: torch.sum(x, **_dim_kw(d), keepdim=k)),
    (
        "mean",
        lambda x, d, k: x.mean(**_dim_kw(d), keepdim=k),
        lambda x, d, k: x.mean(**_dim_kw(d), keepdim=k),
    ),
    ("var", lambda x, d, k: x.var(**_dim_kw(d), keepdim=k), lambda x, d, k: x.var(**_dim_kw(d), keepdim=k)),
    (
        "var_biased",
        lambda x, d, k: x.var(**_dim_kw(d), unbiased=False, keepdim=k),
        lambda x, d, k: x.var(**_dim_kw(d), unbiased=False, keepdim=k),
    ),
    (
        "var_corr0",
        lambda x, d, k: mg.var(x, d, keepdim=k, correction=0),
        lambda x, d, k: torch.var(x, **_dim_kw(d), keepdim=k, correction=0),
    ),
    ("std", lambda x, d, k: x.std(**_dim_kw(d), keepdim=k), lambda x, d, k: x.std(**_dim_kw(d), keepdim=k)),
    (
        "std_biased",
        lambda x, d, k: mg.std(x, d, False, k),
        lambda x, d, k: torch.std(x, **_dim_kw(d), unbiased=False, keepdim=k),
    ),
    (
        "amax",
        lambda x, d, k: x.amax(d if d is not None else (), k),
        lambda x, d, k: x.amax(d if d is not None else (), k),
    ),
    (
        "amin",
        lambda x, d, k: mg.amin(x, d if d is not None else (), k),
        lambda x, d, k: torch.amin(x, d if d is not None else (), k),
    ),
    (
        "logsumexp",
        lambda x, d, k: x.logsumexp(d if d is not None else tuple(range(x.ndim)), k),
        lambda x, d, k: x.logsumexp(d if d is not None else tuple(range(x.ndim)), k),
    ),
]


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")  # var of one element: nan
@pytest.mark.parametrize("keepdim,kind", KEEPDIM_LAYOUTS)
@pytest.mark.parametrize("shape,dim", SHAPE_DIMS, ids=str)
@pytest.mark.parametrize("name,mg_fn,th_fn", DIM_REDUCTIONS, ids=[r[0] for r in DIM_REDUCTIONS])
def test_dim_reductions(name, mg_fn, th_fn, shape, dim, keepdim, kind):
    data, view = layout(rand(shape), kind)
    compare_with_torch(lambda x: mg_fn(view(x), dim, keepdim), lambda x: th_fn(view(x), dim, keepdim), data)


INT_DIM_REDUCTIONS = [
    ("prod", lambda x, d, k: x.prod(d, k), lambda x, d, k: x.prod(d, k)),
    ("max_dim", lambda x, d, k: x.max(d, k), lambda x, d, k: x.max(d, k)),
    ("min_dim", lambda x, d, k: mg.min(x, d, k), lambda x, d, k: torch.min(x, d, k)),
    (
        "max_values",
        lambda x, d, k: x.max(dim=d, keepdim=k).values,
        lambda x, d, k: x.max(dim=d, keepdim=k).values,
    ),
    ("argmax", lambda x, d, k: x.argmax(d, k), lambda x, d, k: x.argmax(d, k)),
    ("argmin", lambda x, d, k: mg.argmin(x, d, k), lambda x, d, k: torch.argmin(x, d, k)),
]


@pytest.mark.parametrize("keepdim,kind", KEEPDIM_LAYOUTS)
@pytest.mark.parametrize("shape,dim", INT_DIMS, ids=str)
@pytest.mark.parametrize("name,mg_fn,th_fn", INT_DIM_REDUCTIONS, ids=[r[0] for r in INT_DIM_REDUCTIONS])
def test_int_dim_reductions(name, mg_fn, th_fn, shape, dim, keepdim, kind):
    data, view = layout(rand(shape), kind)
    compare_with_torch(lambda x: mg_fn(view(x), dim, keepdim), lambda x: th_fn(view(x), dim, keepdim), data)


FULL_REDUCTIONS = [
    ("sum", lambda x: x.sum(), lambda x: x.sum()),
    ("prod", lambda x: x.prod(), lambda x: x.prod()),
    ("prod_fn", mg.prod, torch.prod),
    ("max", lambda x: x.max(), lambda x: x.max()),
    ("min", mg.min, torch.min),
    ("amax", mg.amax, torch.amax),
    ("argmax", lambda x: x.argmax(), lambda x: x.argmax()),
    ("argmin", mg.argmin, torch.argmin),
    ("argmax_keepdim", lambda x: mg.argmax(x, keepdim=True), lambda x: torch.argmax(x, keepdim=True)),
    ("mean", mg.mean, torch.mean),
    ("var", mg.var, torch.var),
    ("std", mg.std, torch.std),
]


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("shape", [(), (1,), (5,), (3, 4), (2, 1, 3)], ids=str)
@pytest.mark.parametrize("name,mg_fn,th_fn", FULL_REDUCTIONS, ids=[r[0] for r in FULL_REDUCTIONS])
def test_full_reductions(name, mg_fn, th_fn, shape, kind):
    data, view = layout(rand(shape), kind)
    compare_with_torch(lambda x: mg_fn(view(x)), lambda x: th_fn(view(x)), data)


SOFTMAX = [
    ("softmax", lambda x, d: x.softmax(d), lambda x, d: x.softmax(d)),
    ("log_softmax", lambda x, d: x.log_softmax(d), lambda x, d: x.log_softmax(d)),
    ("softmax_fn", mg.softmax, torch.softmax),
    ("log_softmax_fn", mg.log_softmax, torch.log_softmax),
    ("F.softmax", mg.softmax, torch.nn.functional.softmax),
]


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("shape,dim", INT_DIMS, ids=str)
@pytest.mark.parametrize("name,mg_fn,th_fn", SOFTMAX, ids=[r[0] for r in SOFTMAX])
def test_softmax(name, mg_fn, th_fn, shape, dim, kind):
    data, view = layout(rand(shape) * 3, kind)
    compare_with_torch(lambda x: mg_fn(view(x), dim), lambda x: th_fn(view(x), dim), data)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the loss sums -inf * c
def test_softmax_large_values_and_inf():
    x = np.array([[1000.0, 0.0, -1000.0], [-np.inf, 1.0, 2.0], [5.0, 5.5, -np.inf]])
    compare_with_torch(lambda t: t.softmax(1), lambda t: t.softmax(1), x)
    compare_with_torch(lambda t: t.log_softmax(1), lambda t: t.log_softmax(1), x)
    compare_with_torch(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), x)


def test_softmax_dtype_argument():
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    out = mg.softmax(mg.tensor(x), 1, dtype=mg.float64)
    ref = torch.softmax(torch.tensor(x), 1, dtype=torch.float64)
    assert out.dtype == mg.float64
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)


def test_prod_with_zeros():
    # the gradient of a product with zeros is exact (no division by x)
    for values in ([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5]], [[1.5, -2.0, 0.5], [0.0, 4.0, 1.0]]):
        x = np.array(values)
        compare_with_torch(lambda t: t.prod(1), lambda t: t.prod(1), x)
        compare_with_torch(lambda t: t.prod(0, True), lambda t: t.prod(0, True), x)
        compare_with_torch(lambda t: t.prod(), lambda t: t.prod(), x)


def test_integer_sums_and_prods_give_int64():
    x = np.array([[1, 2], [3, 4]], dtype=np.int32)
    for fn in [lambda t: t.sum(), lambda t: t.sum(0), lambda t: t.prod(), lambda t: t.prod(1)]:
        out, ref = fn(mg.tensor(x)), fn(torch.tensor(x))
        assert out.dtype == mg.int64
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    b = np.array([True, False, True])
    assert mg.tensor(b).sum().item() == 2 and mg.tensor(b).sum().dtype == mg.int64


def test_mean_of_integers_raises_like_torch():
    with pytest.raises(RuntimeError, match="mean"):
        mg.tensor([1, 2, 3]).mean()
    assert mg.tensor([1, 2, 3]).mean(dtype=mg.float64).item() == 2.0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_var_of_one_element():
    x = np.array([[1.5, 2.0]])
    for fn in [lambda t: t.var(0), lambda t: t.std(0), lambda t: t.var(0, correction=3)]:
        compare_with_torch(fn, fn, x)  # nan values and gradients, as in torch


def test_std_of_constant_slice_has_zero_gradient():
    x = np.array([[1.5, 1.5, 1.5], [1.0, 2.0, 4.0]])
    for fn in [lambda t: t.std(1), lambda t: t.std(1, unbiased=False), lambda t: t.var(1)]:
        compare_with_torch(fn, fn, x)


def test_float32_reductions_keep_dtype():
    x = rand((3, 4)).astype(np.float32)
    for fn in [
        lambda t: t.sum(1),
        lambda t: t.mean(0),
        lambda t: t.var(1),
        lambda t: t.std(),
        lambda t: t.prod(1),
        lambda t: t.amax(1),
        lambda t: t.max(0),
        lambda t: t.logsumexp(1),
        lambda t: t.softmax(1),
        lambda t: t.log_softmax(0),
    ]:
        compare_with_torch(fn, fn, x, dtype=np.float32, atol=1e-6, rtol=1e-5)


def test_max_min_return_named_tuples():
    x = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    v, i = x.max(1)
    assert v.tolist() == [5.0, 7.0] and i.tolist() == [1, 0] and i.dtype == mg.int64
    r = mg.min(x, dim=0, keepdim=True)
    assert r.values.tolist() == [[1.0, 0.0, 2.0]] and r.indices.tolist() == [[0, 1, 0]]
    assert x.max(1).indices.requires_grad is False


# --------------------------------------------------------------------------- ties (torch's semantics)

TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 2.0]])


@pytest.mark.parametrize(
    "name,fn",
    [
        ("max_all_splits_evenly", lambda t: t.max()),
        ("min_all_splits_evenly", lambda t: t.min()),
        ("amax_splits_evenly", lambda t: t.amax(1)),
        ("amin_splits_evenly", lambda t: t.amin(0)),
        ("amax_all", lambda t: t.amax((0, 1))),
        ("max_dim_one_index", lambda t: t.max(1)),
        ("min_dim_one_index", lambda t: t.min(1)),
        ("argmax_first", lambda t: t.argmax(1)),
        ("argmin_first", lambda t: t.argmin(1)),
        ("argmax_flat", lambda t: t.argmax()),
    ],
)
def test_ties(name, fn):
    compare_with_torch(fn, fn, TIES)


def test_tie_values_pinned():
    x = mg.tensor(TIES, requires_grad=True)
    x.max().backward()
    assert x.grad.tolist()[0] == [0.0, 0.5, 0.5, 0.0]
    x.grad = None
    x.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[1], [1 / 3, 1 / 3, 0.0, 1 / 3])
    x.grad = None
    v, i = x.max(1)
    v.sum().backward()
    assert i.tolist() == [1, 0]  # the first maximum
    assert x.grad.tolist() == [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]


# --------------------------------------------------------------------------- errors


def test_reduction_errors_name_the_op():
    x = mg.zeros(2, 3)
    with pytest.raises(IndexError, match="sum.*Dimension out of range"):
        x.sum(2)
    with pytest.raises(RuntimeError, match="multiple times"):
        x.sum((0, 0))
    with pytest.raises(RuntimeError, match="max"):
        mg.zeros(0).max()
    with pytest.raises(IndexError, match="max"):
        mg.zeros(0, 3).max(0)


def test_empty_reductions():
    e = np.zeros((0, 3))
    for fn in [
        lambda t: t.sum(0),
        lambda t: t.sum(),
        lambda t: t.prod(0),
        lambda t: t.prod(),
        lambda t: t.amax(1),
        lambda t: t.softmax(1),
        lambda t: t.logsumexp(1),
    ]:
        compare_with_torch(fn, fn, e)


@pytest.mark.filterwarnings("error")  # torch gives NaN quietly; so must minigrad
@pytest.mark.parametrize("shape, dims", [((0, 3), (0,)), ((3, 0), (1,)), ((0,), None),
                                         ((0, 3), None), ((2, 0, 3), (1,)), ((0, 3), (1,))])
def test_mean_over_empty_dims_is_nan_without_warnings(shape, dims):
    fn = (lambda t: t.mean()) if dims is None else (lambda t: t.mean(dims))
    compare_with_torch(fn, fn, np.zeros(shape))


@st.composite
def _shape_and_dims(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=4)))
    ndim = max(len(shape), 1)
    dims = draw(
        st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim, unique_by=lambda d: d % ndim)
    )
    return shape, tuple(dims) if len(shape) else tuple(dims[:1])


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")
@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    case=_shape_and_dims(),
    keepdim=st.booleans(),
    op=st.sampled_from(["sum", "mean", "amax", "logsumexp", "var"]),
)
def test_reduction_dims_fuzz(case, keepdim, op):
    shape, dims = case
    fn = {
        "sum": lambda t: t.sum(dims, keepdim=keepdim),
        "mean": lambda t: t.mean(dims, keepdim=keepdim),
        "amax": lambda t: t.amax(dims, keepdim),
        "logsumexp": lambda t: t.logsumexp(dims, keepdim),
        "var": lambda t: t.var(dims, keepdim=keepdim),
    }[op]
    compare_with_torch(fn, fn, rand(shape))
