"""Tensor basics vs torch: creation functions, dtype inference and promotion, attributes,
repr, comparisons."""

import itertools
import re

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def name(dtype) -> str:
    """'float32' for mg.float32 / torch.float32."""
    return str(dtype).replace("torch.", "").replace("minigrad.", "")


# --------------------------------------------------------------------------- dtype inference


@pytest.mark.parametrize(
    "data",
    [
        1.5,
        2,
        True,
        [1.0, 2.0],
        [1, 2],
        [True, False],
        [1, 2.5],
        [True, 2],
        [[1, 2], [3, 4]],
        [],
        [[]],
        np.float64(1.5),
        np.int32(3),
        np.float32(2.0),
        np.bool_(True),
    ],
    ids=repr,
)
def test_tensor_infers_dtype_like_torch(data):
    out, ref = mg.tensor(data), torch.tensor(data)
    assert name(out.dtype) == name(ref.dtype)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.parametrize("dt", DTYPES)
def test_tensor_of_numpy_array_keeps_dtype(dt):
    arr = np.arange(6).reshape(2, 3).astype(dt)
    out = mg.tensor(arr)
    assert out.dtype == np.dtype(dt) and name(out.dtype) == name(torch.tensor(arr).dtype)
    arr.flat[0] = 1  # tensor() copies
    assert out.numpy().flat[0] == 0


def test_tensor_dtype_argument_and_tensor_of_tensors():
    assert mg.tensor([1, 2], dtype=mg.float64).dtype == mg.float64
    assert (
        mg.tensor([1.7, -1.7], dtype=mg.int64).tolist()
        == torch.tensor([1.7, -1.7], dtype=torch.int64).tolist()
    )
    assert mg.tensor(mg.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
    stacked = mg.tensor([mg.tensor(1.0), mg.tensor(2.0)])
    assert stacked.shape == (2,) and stacked.dtype == mg.float32


def test_default_dtype_switch():
    try:
        mg.set_default_dtype(mg.float64)
        assert mg.tensor([1.5]).dtype == mg.float64 and mg.zeros(2).dtype == mg.float64
        assert (mg.tensor([1, 2]) * 0.5).dtype == mg.float64
    finally:
        mg.set_default_dtype(mg.float32)
    assert mg.get_default_dtype() == mg.float32


# --------------------------------------------------------------------------- promotion


def _pair(lib, dt, shape):
    arr = np.ones(shape, dtype=dt)
    return mg.tensor(arr) if lib is mg else torch.tensor(arr)


@pytest.mark.parametrize("shapes", [((2,), (2,)), ((), (2,)), ((2,), ()), ((), ())], ids=str)
@pytest.mark.parametrize("op", ["add", "mul", "sub", "maximum"])
def test_tensor_tensor_promotion(op, shapes):
    sa, sb = shapes
    for a, b in itertools.product(DTYPES, DTYPES):
        if op == "sub" and "bool" in (a, b):
            continue  # torch refuses bool subtraction
        out = getattr(mg, op)(_pair(mg, a, sa), _pair(mg, b, sb))
        ref = getattr(torch, op)(_pair(torch, a, sa), _pair(torch, b, sb))
        assert name(out.dtype) == name(ref.dtype), (a, b, sa, sb)


@pytest.mark.parametrize(
    "scalar", [True, 2, -3, 2.5, np.float64(2.5), np.float32(0.5), np.int64(2), np.int8(3)], ids=repr
)
@pytest.mark.parametrize("shape", [(2,), ()], ids=str)
def test_scalars_never_upcast_tensors(scalar, shape):
    for dt in DTYPES:
        for f in (lambda t, s: t * s, lambda t, s: s * t, lambda t, s: t + s, lambda t, s: s + t):
            out, ref = f(_pair(mg, dt, shape), scalar), f(_pair(torch, dt, shape), scalar)
            assert name(out.dtype) == name(ref.dtype), (dt, scalar, shape)


def test_division_promotion():
    for a, b in itertools.product(DTYPES, DTYPES):
        out = _pair(mg, a, (2,)) / _pair(mg, b, (2,))
        ref = _pair(torch, a, (2,)) / _pair(torch, b, (2,))
        assert name(out.dtype) == name(ref.dtype), (a, b)
    assert (mg.tensor([1, 2]) / mg.tensor([2, 4])).dtype == mg.float32
    assert (mg.tensor([1, 2]) / 2).tolist() == [0.5, 1.0]
    assert (mg.tensor([1, 2]) * 0.5).dtype == mg.float32
    assert (mg.tensor([1, 2], dtype=mg.int32) * 2).dtype == mg.int32


def test_zero_dim_tensor_does_not_upcast_same_category():
    out = mg.tensor([1.0, 2.0]) * mg.tensor(2.0, dtype=mg.float64)
    assert out.dtype == mg.float32
    out = mg.tensor([1, 2], dtype=mg.int8) + mg.tensor(300)
    ref = torch.tensor([1, 2], dtype=torch.int8) + torch.tensor(300)
    assert name(out.dtype) == name(ref.dtype) == "int8"
    out = mg.tensor([1, 2]) * mg.tensor(2.0, dtype=mg.float64)  # higher category wins
    assert out.dtype == mg.float64


@pytest.mark.parametrize("arr_dt", ["float64", "float32", "int64", "int32", "bool"])
@pytest.mark.parametrize("arr_shape", [(2,), ()], ids=str)
def test_numpy_operands_promote_like_tensors(arr_dt, arr_shape):
    # a NumPy array operand behaves like the tensor torch.from_numpy would make of it
    arr = np.ones(arr_shape, dtype=arr_dt)
    for dt in ["float16", "float32", "int32", "int64", "bool"]:
        for f in (lambda a, b: a * b, lambda a, b: b * a, lambda a, b: a + b, lambda a, b: b / a):
            out = f(_pair(mg, dt, (2,)), arr)
            ref = f(_pair(torch, dt, (2,)), torch.from_numpy(arr))
            assert name(out.dtype) == name(ref.dtype), (dt, arr_dt, arr_shape)


def test_gradient_flows_through_promotion():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([3.0, 4.0], dtype=mg.float64, requires_grad=True)
    out = x * y
    assert out.dtype == mg.float64
    out.sum().backward()
    assert x.grad.dtype == mg.float32 and x.grad.tolist() == [3.0, 4.0]
    assert y.grad.dtype == mg.float64 and y.grad.tolist() == [1.0, 2.0]


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="Only Tensors of floating point dtype can require gradients"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        mg.tensor([True]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        mg.zeros(2, dtype=mg.int64, requires_grad=True)
    assert mg.tensor([1.0], requires_grad=True).requires_grad


# --------------------------------------------------------------------------- creation


CREATION = [
    ("zeros", lambda m: m.zeros(2, 3)),
    ("zeros_tuple", lambda m: m.zeros((2, 3))),
    ("zeros_f64", lambda m: m.zeros(2, dtype=m.float64)),
    ("zeros_int", lambda m: m.zeros(3, dtype=m.int64)),
    ("ones", lambda m: m.ones(4)),
    ("ones_0d", lambda m: m.ones(())),
    ("ones_empty", lambda m: m.ones(0, 3)),
    ("full_float", lambda m: m.full((2, 2), 1.5)),
    ("full_int", lambda m: m.full((2,), 7)),
    ("full_bool", lambda m: m.full((2,), True)),
    ("full_dtype", lambda m: m.full((2,), 7, dtype=m.float64)),
    ("arange", lambda m: m.arange(5)),
    ("arange_start", lambda m: m.arange(2, 7)),
    ("arange_step", lambda m: m.arange(1, 10, 3)),
    ("arange_neg_step", lambda m: m.arange(5, -3, -2)),
    ("arange_float", lambda m: m.arange(0.0, 1.0, 0.25)),
    ("arange_float_end", lambda m: m.arange(2.5)),
    ("arange_float_step", lambda m: m.arange(0, 1, 0.1)),
    ("arange_dtype", lambda m: m.arange(4, dtype=m.float64)),
    ("arange_empty", lambda m: m.arange(3, 3)),
    ("linspace", lambda m: m.linspace(0, 1, 5)),
    ("linspace_one", lambda m: m.linspace(-1, 1, 1)),
    ("linspace_dtype", lambda m: m.linspace(0, 3, 4, dtype=m.float64)),
    ("eye", lambda m: m.eye(3)),
    ("eye_rect", lambda m: m.eye(2, 4)),
    ("eye_dtype", lambda m: m.eye(2, dtype=m.int64)),
]


@pytest.mark.parametrize("label,fn", CREATION, ids=[c[0] for c in CREATION])
def test_creation_matches_torch(label, fn):
    out, ref = fn(mg), fn(torch)
    assert out.shape == tuple(ref.shape) and name(out.dtype) == name(ref.dtype)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-7)
    assert out.is_leaf and not out.requires_grad


def test_arange_errors_like_torch():
    for args in [(3, 1), (1, 3, -1)]:
        with pytest.raises(RuntimeError, match="inconsistent with step sign"):
            mg.arange(*args)
        with pytest.raises(RuntimeError, match="inconsistent with step sign"):
            torch.arange(*args)


def test_out_of_range_int_scalars_wrap_like_torch():
    for dt, scalar in [("uint8", -3), ("int8", 300), ("int16", -70000)]:
        out = mg.ones(2, dtype=getattr(mg, dt)) * scalar
        ref = torch.ones(2, dtype=getattr(torch, dt)) * scalar
        assert name(out.dtype) == dt and out.tolist() == ref.tolist()


def test_empty_and_requires_grad_flags():
    e = mg.empty(2, 3)
    assert e.shape == (2, 3) and e.dtype == mg.float32
    z = mg.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf
    with pytest.raises(RuntimeError, match="negative dimension"):
        mg.zeros(-1)


@pytest.mark.parametrize("fn", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
def test_like_functions(fn):
    x = mg.tensor(np.ones((2, 3), np.float64))
    out = getattr(mg, fn)(x)
    assert out.shape == (2, 3) and out.dtype == mg.float64
    out32 = getattr(mg, fn)(x, dtype=mg.float32)
    assert out32.dtype == mg.float32
    assert getattr(mg, fn)(x, requires_grad=True).requires_grad


def test_full_like_and_randint_like():
    x = mg.tensor([[1, 2]], dtype=mg.int32)
    f = mg.full_like(x, 7)
    assert f.dtype == mg.int32 and f.tolist() == [[7, 7]]
    r = mg.randint_like(x, 5, 9)
    assert r.dtype == mg.int32 and r.shape == (1, 2) and ((r >= 5) & (r < 9)).all().item()
    assert mg.zeros_like(x).dtype == mg.int32 and mg.ones_like(x).tolist() == [[1, 1]]


def test_random_functions_shapes_ranges_dtypes():
    u = mg.rand(1000)
    assert u.dtype == mg.float32 and u.shape == (1000,)
    assert 0.0 <= u.min().item() and u.max().item() < 1.0
    n = mg.randn(2000, dtype=mg.float64)
    assert n.dtype == mg.float64 and abs(n.mean().item()) < 0.1 and abs(n.std().item() - 1) < 0.1
    r = mg.randint(3, 8, (500,))
    assert r.dtype == mg.int64 and r.min().item() == 3 and r.max().item() == 7
    assert mg.randint(4, (2, 2)).shape == (2, 2)
    p = mg.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype == mg.int64
    assert mg.rand(2, 3).shape == (2, 3) and mg.randn((4, 1)).shape == (4, 1)


def test_random_floats_need_a_floating_dtype():
    for fn in (mg.rand, mg.randn):
        with pytest.raises(RuntimeError, match="floating dtype"):
            fn(2, dtype=mg.int64)
    with pytest.raises(RuntimeError, match="floating dtype"):
        mg.rand_like(mg.tensor([1, 2]))


def test_manual_seed_reproducible():
    mg.manual_seed(123)
    a = (
        mg.rand(3).tolist(),
        mg.randn(2, 2).tolist(),
        mg.randint(0, 100, (4,)).tolist(),
        mg.randperm(5).tolist(),
    )
    mg.manual_seed(123)
    b = (
        mg.rand(3).tolist(),
        mg.randn(2, 2).tolist(),
        mg.randint(0, 100, (4,)).tolist(),
        mg.randperm(5).tolist(),
    )
    assert a == b
    mg.manual_seed(124)
    assert mg.rand(3).tolist() != a[0]
    g = mg.Generator().manual_seed(5)
    x = mg.rand(3, generator=g).tolist()
    assert mg.rand(3, generator=mg.Generator().manual_seed(5)).tolist() == x


def test_from_numpy_shares_memory_and_as_tensor():
    arr = np.arange(4.0)
    t = mg.from_numpy(arr)
    assert t.dtype == mg.float64
    arr[0] = 9.0
    assert t[0].item() == 9.0
    t.numpy()[1] = 8.0
    assert arr[1] == 8.0
    with pytest.raises(TypeError):
        mg.from_numpy([1, 2])
    assert mg.as_tensor(arr).numpy() is arr
    assert mg.as_tensor([1, 2]).dtype == mg.int64


# --------------------------------------------------------------------------- attributes


def test_attributes():
    x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.dtype == mg.float32
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3 and x.numel() == 6
    assert isinstance(x.data, np.ndarray) and len(x) == 2
    assert x.is_leaf and x.grad is None and x.grad_fn is None and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    assert "MulBackward" in repr(y) and y.grad_fn.name().startswith("MulBackward")
    with mg.no_grad():
        z = x * 2
    assert z.is_leaf and not z.requires_grad and z.grad_fn is None
    y.sum().backward()
    assert x.grad.tolist() == [[2.0] * 3] * 2 and not x.grad.requires_grad


def test_requires_grad_setters():
    x = mg.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    y = mg.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


def test_item_numpy_tolist():
    assert mg.tensor([[2.5]]).item() == 2.5 and isinstance(mg.tensor([3]).item(), int)
    assert isinstance(mg.tensor(True).item(), bool)
    with pytest.raises(RuntimeError, match="2 elements"):
        mg.tensor([1.0, 2.0]).item()
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 2.0] and x.tolist() == [1.0, 2.0]
    assert mg.tensor([[1, 2]]).tolist() == [[1, 2]] and mg.tensor(1.5).tolist() == 1.5
    assert np.asarray(mg.tensor([1, 2])).tolist() == [1, 2]


def test_detach_and_clone():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and np.shares_memory(d.data, x.data)
    c = x.clone()
    assert c.requires_grad and not c.is_leaf and not np.shares_memory(c.data, x.data)
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    c2 = mg.tensor([1.0]).clone()
    assert not c2.requires_grad


@pytest.mark.parametrize(
    "method,dtype",
    [
        ("float", "float32"),
        ("double", "float64"),
        ("long", "int64"),
        ("int", "int32"),
        ("half", "float16"),
        ("bool", "bool"),
    ],
)
def test_casts(method, dtype):
    data = [1.7, -2.2, 0.0]
    out, ref = getattr(mg.tensor(data), method)(), getattr(torch.tensor(data), method)()
    assert name(out.dtype) == name(ref.dtype) == dtype
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_astype_and_cast_gradient():
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    y = x.astype(mg.float64)
    assert y.dtype == mg.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == mg.float32 and x.grad.tolist() == [3.0, 5.0]
    assert x.to(mg.float64).dtype == mg.float64
    assert x.float() is x  # a no-op cast returns the tensor itself, like torch
    assert not x.long().requires_grad


def test_len_iteration_and_conversions():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rows = list(x)
    assert len(x) == 3 and len(rows) == 3 and rows[1].tolist() == [3.0, 4.0]
    with pytest.raises(TypeError):
        len(mg.tensor(1.0))
    with pytest.raises(TypeError):
        iter(mg.tensor(1.0))
    assert int(mg.tensor([7.9])) == 7 and float(mg.tensor(2)) == 2.0 and bool(mg.tensor([0.0])) is False
    assert bool(mg.tensor(3)) is True
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(mg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="no values is ambiguous"):
        bool(mg.tensor([]))
    assert [10, 20, 30][mg.tensor(1)] == 20
    with pytest.raises(TypeError):
        [10, 20][mg.tensor(1.0)]


def test_gradient_through_iteration():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    total = sum(row.sum() * (i + 1) for i, row in enumerate(x))
    total.backward()
    assert x.grad.tolist() == [[1.0, 1.0], [2.0, 2.0]]


# --------------------------------------------------------------------------- repr


REPRS = [
    ([1.0, 2.0], {"dtype": "float64"}),
    ([1.0, 2.0], {}),
    ([1.5, -2.25], {}),
    ([[1.0, 2.0], [3.0, 4.0]], {}),
    (3.0, {}),
    (3, {}),
    ([True, False], {}),
    ([1, -22, 333], {}),
    ([1, 2], {"dtype": "int32"}),
    ([1e-5, 1.0], {}),
    ([1e9, 1.0], {}),
    ([100.0, 2.5], {}),
    ([float("nan"), float("inf"), 1.5], {}),
    ([1.0, -0.0], {}),
    ([], {}),
    ([[]], {}),
    ([0.5, 1.0], {"dtype": "float16"}),
    ([0.1, 0.2], {"requires_grad": True}),
    (np.arange(12.0).reshape(2, 2, 3), {}),
    (np.arange(2000.0), {}),
    (np.arange(1500).reshape(30, 50), {}),
    (np.random.default_rng(0).standard_normal(30), {"dtype": "float64"}),
    (np.random.default_rng(1).standard_normal((3, 4, 5)), {}),
]


@pytest.mark.parametrize("data,kw", REPRS, ids=[str(i) for i in range(len(REPRS))])
def test_repr_matches_torch(data, kw):
    tkw, mkw = dict(kw), dict(kw)
    if "dtype" in kw:
        tkw["dtype"], mkw["dtype"] = getattr(torch, kw["dtype"]), getattr(mg, kw["dtype"])

    # "minigrad." is 3 characters longer than "torch.": a suffix may wrap where torch's did not
    def norm(text):
        return re.sub(r",\n +(dtype=|size=|requires_grad=|grad_fn=)", r", \1", text)

    got = repr(mg.tensor(data, **mkw))
    assert norm(got) == norm(repr(torch.tensor(data, **tkw)).replace("torch.", "minigrad."))
    assert all(len(line) <= 80 for line in got.split("\n"))


def test_repr_grad_fn_and_str():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    assert repr(x) == "tensor([1., 2.], dtype=minigrad.float64, requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], dtype=minigrad.float64, grad_fn=<MulBackward>)"
    assert str(x.detach()) == "tensor([1., 2.], dtype=minigrad.float64)"
    assert repr(mg.zeros(2, 0)) == "tensor([], size=(2, 0))"


# --------------------------------------------------------------------------- comparisons


COMPARISONS = [
    ("eq", lambda a, b: a == b),
    ("ne", lambda a, b: a != b),
    ("lt", lambda a, b: a < b),
    ("le", lambda a, b: a <= b),
    ("gt", lambda a, b: a > b),
    ("ge", lambda a, b: a >= b),
    ("eq_fn", lambda a, b: a.eq(b)),
    ("ge_fn", lambda a, b: a.ge(b)),
    ("lt_fn", lambda a, b: a.lt(b)),
]


@pytest.mark.parametrize("label,fn", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons(label, fn):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    for x, y in [(a, b), (b, a), (a, 2.0), (a, 2), (a, a)]:
        tx = mg.tensor(x, requires_grad=True)
        ty = mg.tensor(y) if isinstance(y, np.ndarray) else y
        out = fn(tx, ty)
        ref = fn(torch.tensor(x), torch.tensor(y) if isinstance(y, np.ndarray) else y)
        assert out.dtype == mg.bool and not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # scalars on the left, NumPy operands, mixed dtypes
    assert (2.0 < mg.tensor([1.0, 3.0])).tolist() == [False, True]
    assert (mg.tensor([1, 2]) == mg.tensor([1.0, 2.5])).tolist() == [True, False]
    assert (np.array([1.0, 5.0]) > mg.tensor([2.0, 2.0])).tolist() == [False, True]


def test_logical_ops_and_bool_reductions():
    a, b = mg.tensor([True, False, True]), mg.tensor([True, True, False])
    ta, tb = torch.tensor([True, False, True]), torch.tensor([True, True, False])
    for f in [lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y, lambda x, y: ~x]:
        assert f(a, b).tolist() == f(ta, tb).tolist()
    m = mg.tensor([[True, False], [True, True]])
    tm = torch.tensor([[True, False], [True, True]])
    assert m.all().item() is False and m.any().item() is True
    assert (
        m.all(1).tolist() == tm.all(1).tolist()
        and m.any(0, keepdim=True).tolist() == tm.any(0, keepdim=True).tolist()
    )
    x = mg.tensor([1.0, float("nan"), float("inf")])
    assert mg.isnan(x).tolist() == [False, True, False] and mg.isinf(x).tolist() == [False, False, True]
    assert mg.isfinite(x).tolist() == [True, False, False]


def test_equal_allclose_isclose():
    a = mg.tensor([1.0, 2.0])
    assert mg.equal(a, mg.tensor([1.0, 2.0])) and not mg.equal(a, mg.tensor([1.0, 2.0, 3.0]))
    assert mg.allclose(a, a + 1e-9) and not mg.allclose(a, a + 1e-3)
    assert mg.isclose(a, mg.tensor([1.0, 2.1])).tolist() == [True, False]
    assert a.allclose(a) and a.equal(a)
