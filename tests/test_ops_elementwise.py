"""Elementwise ops vs torch in float64: values and gradients of a random cotangent.

Each op family is one table; every row runs over the shape families below (broadcasting
both ways, size-1 dims, 0-d tensors, odd sizes, transposed and sliced inputs). Inputs
avoid kinks and ties; the semantics at kinks and ties are pinned by separate tests.
"""

import zlib

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import mutually_broadcastable_shapes  # noqa: E402

# --------------------------------------------------------------------------- inputs


def rand(shape, domain="real", rng=None):
    """Random float64 data away from kinks: 'real' keeps |x| >= 0.1, 'pos' is in [0.5, 2]."""
    rng = rng or np.random.default_rng(zlib.crc32(repr((shape, domain)).encode()))  # same data every run
    if domain == "pos":
        return rng.uniform(0.5, 2.0, shape)
    mag = rng.uniform(0.1, 2.0, shape)
    return mag * rng.choice([-1.0, 1.0], shape)


def layout(x, kind):
    """``(array, fn)``: data whose view ``fn(tensor)`` is ``x`` laid out as ``kind``.

    'contig': as is;  'T': stored transposed, the op sees a permuted view;  'sliced': stored
    with a doubled last dim, the op sees every other column.
    """
    if kind == "contig" or x.ndim == 0:
        return x, lambda t: t
    if kind == "T":
        dims = tuple(range(x.ndim - 1, -1, -1))
        return np.ascontiguousarray(x.transpose(dims)), lambda t: t.permute(*dims)
    if kind == "sliced":
        big = np.repeat(x, 2, axis=-1)
        big[..., 1::2] = 7.0  # must never leak into the result
        return big, lambda t: t[..., ::2]
    raise ValueError(kind)


UNARY_SHAPES = [(), (1,), (5,), (3, 1, 4), (2, 3, 5)]
LAYOUTS = ["contig", "T", "sliced"]

# --------------------------------------------------------------------------- unary ops

UNARY = [
    # name, minigrad fn, torch fn, input domain
    ("neg", lambda x: -x, lambda x: -x, "real"),
    ("neg_fn", mg.neg, torch.neg, "real"),
    ("exp", mg.exp, torch.exp, "real"),
    ("log", mg.log, torch.log, "pos"),
    ("log1p", mg.log1p, torch.log1p, "pos"),
    ("sqrt", mg.sqrt, torch.sqrt, "pos"),
    ("abs", mg.abs, torch.abs, "real"),
    ("abs_op", abs, abs, "real"),
    ("sin", mg.sin, torch.sin, "real"),
    ("cos", mg.cos, torch.cos, "real"),
    ("tanh", mg.tanh, torch.tanh, "real"),
    ("sigmoid", mg.sigmoid, torch.sigmoid, "real"),
    ("relu", mg.relu, torch.relu, "real"),
    ("leaky_relu", mg.leaky_relu, F.leaky_relu, "real"),
    ("leaky_relu_0.2", lambda x: mg.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2), "real"),
    ("elu", mg.elu, F.elu, "real"),
    ("elu_1.7", lambda x: mg.elu(x, 1.7), lambda x: F.elu(x, 1.7), "real"),
    ("gelu", mg.gelu, F.gelu, "real"),
    ("gelu_tanh", lambda x: mg.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), "real"),
    ("softplus", mg.softplus, F.softplus, "real"),
    # beta*x crosses the threshold on some elements
    ("softplus_beta", lambda x: mg.softplus(x, 2.0, 1.5), lambda x: F.softplus(x, 2.0, 1.5), "real"),
    ("clamp", lambda x: mg.clamp(x, -0.55, 0.65), lambda x: torch.clamp(x, -0.55, 0.65), "real"),
    ("clamp_min", lambda x: x.clamp(min=0.35), lambda x: x.clamp(min=0.35), "real"),
    ("clamp_max", lambda x: x.clamp(max=-0.25), lambda x: x.clamp(max=-0.25), "real"),
    ("clip", lambda x: mg.clip(x, -1.05, 0.95), lambda x: torch.clip(x, -1.05, 0.95), "real"),
    ("square", mg.square, torch.square, "real"),
    ("sign", mg.sign, torch.sign, "real"),
    ("pow2", lambda x: x**2, lambda x: x**2, "real"),
    ("pow3", lambda x: x**3, lambda x: x**3, "real"),
    ("pow_half", lambda x: x**0.5, lambda x: x**0.5, "pos"),
    ("pow_neg", lambda x: x**-1.5, lambda x: x**-1.5, "pos"),
    ("rpow", lambda x: 2.5**x, lambda x: 2.5**x, "real"),
    ("method_exp", lambda x: x.exp(), lambda x: x.exp(), "real"),
    ("method_sigmoid", lambda x: x.sigmoid(), lambda x: x.sigmoid(), "real"),
    ("method_relu", lambda x: x.relu(), lambda x: x.relu(), "real"),
    ("method_log", lambda x: x.log(), lambda x: x.log(), "pos"),
]


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name,mg_fn,th_fn,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, mg_fn, th_fn, domain, shape, kind):
    data, view = layout(rand(shape, domain), kind)
    compare_with_torch(lambda x: mg_fn(view(x)), lambda x: th_fn(view(x)), data)


# --------------------------------------------------------------------------- binary ops

BINARY = [
    ("add", lambda x, y: x + y, lambda x, y: x + y, "real"),
    ("add_fn_alpha", lambda x, y: mg.add(x, y, alpha=2.5), lambda x, y: torch.add(x, y, alpha=2.5), "real"),
    ("sub", lambda x, y: x - y, lambda x, y: x - y, "real"),
    ("sub_fn_alpha", lambda x, y: mg.sub(x, y, alpha=-0.5), lambda x, y: torch.sub(x, y, alpha=-0.5), "real"),
    ("mul", lambda x, y: x * y, lambda x, y: x * y, "real"),
    ("div", lambda x, y: x / y, lambda x, y: x / y, "real"),
    ("pow", lambda x, y: x**y, lambda x, y: x**y, "pos"),
    ("pow_fn", mg.pow, torch.pow, "pos"),
    ("maximum", mg.maximum, torch.maximum, "real"),
    ("minimum", mg.minimum, torch.minimum, "real"),
    ("max_binary", mg.max, torch.max, "real"),
    ("min_binary", mg.min, torch.min, "real"),
    ("clamp_tensor", lambda x, y: mg.clamp(x, min=y), lambda x, y: torch.clamp(x, min=y), "real"),
    ("clamp_tensor_max", lambda x, y: x.clamp(max=y), lambda x, y: x.clamp(max=y), "real"),
    ("self_mul", lambda x, y: x * x + y, lambda x, y: x * x + y, "real"),
]

BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),  # both broadcast
    ((2, 3, 4), (4,)),  # y broadcasts
    ((4,), (2, 3, 4)),  # x broadcasts
    ((2, 1, 5), (3, 1)),
    ((), (3,)),  # 0-d with 1-d, both ways
    ((3,), ()),
    ((), ()),
    ((1,), (5, 1)),
    ((7, 5), (7, 5)),  # odd sizes
]


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name,mg_fn,th_fn,domain", BINARY, ids=[b[0] for b in BINARY])
def test_binary(name, mg_fn, th_fn, domain, shapes, kind):
    sx, sy = shapes
    rng = np.random.default_rng(len(name) * 100 + len(sx) * 10 + len(sy))
    x, vx = layout(rand(sx, domain, rng), kind)
    y, vy = layout(rand(sy, domain, rng), kind)
    compare_with_torch(lambda a, b: mg_fn(vx(a), vy(b)), lambda a, b: th_fn(vx(a), vy(b)), x, y)


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
def test_where(shapes):
    sx, sy = shapes
    rng = np.random.default_rng(3)
    shape = np.broadcast_shapes(sx, sy)
    cond = rng.random(shape) > 0.5
    compare_with_torch(mg.where, torch.where, cond, rand(sx, rng=rng), rand(sy, rng=rng))
    # a broadcasting condition, and scalars on either side
    c1 = rng.random(sy) > 0.5
    compare_with_torch(
        lambda c, a: mg.where(c, a, 0.5), lambda c, a: torch.where(c, a, 0.5), c1, rand(sx, rng=rng)
    )
    compare_with_torch(
        lambda c, a: mg.where(c, -2.0, a), lambda c, a: torch.where(c, -2.0, a), c1, rand(sx, rng=rng)
    )


def test_one_input_without_grad():
    x, y = rand((3, 4)), rand((4,))
    compare_with_torch(lambda a, b: a * b.detach(), lambda a, b: a * b.detach(), x, y)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    op=st.sampled_from(["add", "sub", "mul", "div", "maximum"]),
)
def test_broadcasting_fuzz(shapes, op):
    fns = {
        "add": (lambda a, b: a + b, lambda a, b: a + b),
        "sub": (lambda a, b: a - b, lambda a, b: a - b),
        "mul": (lambda a, b: a * b, lambda a, b: a * b),
        "div": (lambda a, b: a / b, lambda a, b: a / b),
        "maximum": (mg.maximum, torch.maximum),
    }
    sx, sy = shapes.input_shapes
    rng = np.random.default_rng(0)
    compare_with_torch(*fns[op], rand(sx, rng=rng), rand(sy, rng=rng))


# --------------------------------------------------------------------------- scalars and NumPy operands

ARR = np.array([[0.5, -1.5, 2.0, 0.25]])  # (1, 4): broadcasts against x of (3, 4)
TARR = torch.from_numpy(ARR)

SCALAR_CASES = [
    ("x+2", lambda x: x + 2, lambda x: x + 2),
    ("2+x", lambda x: 2 + x, lambda x: 2 + x),
    ("x-2.5", lambda x: x - 2.5, lambda x: x - 2.5),
    ("2-x", lambda x: 2 - x, lambda x: 2 - x),
    ("x*3", lambda x: x * 3, lambda x: x * 3),
    ("3*x", lambda x: 3 * x, lambda x: 3 * x),
    ("x/4", lambda x: x / 4, lambda x: x / 4),
    ("4/x", lambda x: 4 / x, lambda x: 4 / x),
    ("x**2", lambda x: x**2, lambda x: x**2),
    ("1.5**x", lambda x: 1.5**x, lambda x: 1.5**x),
    ("np64*x", lambda x: np.float64(1.5) * x, lambda x: 1.5 * x),
    ("x-np64", lambda x: x - np.float64(0.5), lambda x: x - 0.5),
    ("np_i64-x", lambda x: np.int64(3) - x, lambda x: 3 - x),
    ("True*x", lambda x: True * x, lambda x: True * x),
    ("arr*x", lambda x: ARR * x, lambda x: TARR * x),
    ("x*arr", lambda x: x * ARR, lambda x: x * TARR),
    ("arr-x", lambda x: ARR - x, lambda x: TARR - x),
    ("x-arr", lambda x: x - ARR, lambda x: x - TARR),
    ("arr+x", lambda x: ARR + x, lambda x: TARR + x),
    ("arr/x", lambda x: ARR / x, lambda x: TARR / x),
    ("x/arr", lambda x: x / ARR, lambda x: x / TARR),
    ("abs(arr)**x", lambda x: np.abs(ARR) ** x, lambda x: TARR.abs() ** x),
    ("x**abs(arr)", lambda x: abs(x) ** np.abs(ARR), lambda x: abs(x) ** TARR.abs()),
    (
        "maximum(x,0.3)",
        lambda x: mg.maximum(x, mg.tensor(0.3, dtype=mg.float64)),
        lambda x: torch.maximum(x, torch.tensor(0.3, dtype=torch.float64)),
    ),
]


@pytest.mark.parametrize("name,mg_fn,th_fn", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_scalar_and_numpy_operands(name, mg_fn, th_fn):
    compare_with_torch(mg_fn, th_fn, rand((3, 4)))


# --------------------------------------------------------------------------- in-place ops

INPLACE = [
    ("iadd", lambda y, z: y.__iadd__(z)),
    ("isub", lambda y, z: y.__isub__(z)),
    ("imul", lambda y, z: y.__imul__(z)),
    ("itruediv", lambda y, z: y.__itruediv__(z)),
    ("add_", lambda y, z: y.add_(z)),
    ("add_alpha", lambda y, z: y.add_(z, alpha=0.5)),
    ("sub_", lambda y, z: y.sub_(z)),
    ("mul_", lambda y, z: y.mul_(z)),
    ("div_", lambda y, z: y.div_(z)),
    ("pow_", lambda y, z: y.abs().pow_(2.5)),
    ("clamp_", lambda y, z: y.clamp_(-0.5, 0.5)),
]


@pytest.mark.parametrize("name,fn", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_ops(name, fn):
    def run(x, z):
        y = x * 1.5  # a non-leaf, so in-place is allowed
        out = fn(y, z)
        return out * 2 + y  # y now holds the in-place result

    compare_with_torch(run, run, rand((3, 4)), rand((4,)))


def test_inplace_on_leaf_requiring_grad_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1
    with mg.no_grad():
        x += 1  # parameter updates work under no_grad
    assert x.tolist() == [2.0, 3.0] and x.is_leaf and x.requires_grad


def test_inplace_without_graph_writes_memory():
    base = np.arange(4.0)
    x = mg.from_numpy(base)
    x.mul_(2).add_(1)
    np.testing.assert_array_equal(base, [1.0, 3.0, 5.0, 7.0])


def test_inplace_modified_saved_input_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0])
    y = x * w  # saves w
    w.mul_(2)
    with pytest.raises(RuntimeError, match="inplace"):
        y.sum().backward()


def test_inplace_int_tensor_rejects_float_result():
    x = mg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x += 0.5
    tx = torch.tensor([1, 2])
    with pytest.raises(RuntimeError):
        tx += 0.5


# --------------------------------------------------------------------------- kinks and ties (torch's choices)


def _grads(fn, values, *others):
    x = mg.tensor(values, dtype=mg.float64, requires_grad=True)
    fn(x, *others).sum().backward()
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    fn(tx, *others).sum().backward()
    return x.grad.numpy(), tx.grad.numpy()


@pytest.mark.parametrize(
    "name,mg_fn,th_fn",
    [
        ("relu", mg.relu, torch.relu),  # 0 at 0
        ("abs", mg.abs, torch.abs),  # 0 at 0
        ("leaky_relu", mg.leaky_relu, F.leaky_relu),  # slope at 0
        ("elu", mg.elu, F.elu),
        ("clamp", lambda x: mg.clamp(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0)),  # 1 at the bounds
        ("clamp_min", lambda x: mg.clamp(x, min=0.0), lambda x: torch.clamp(x, min=0.0)),
        ("sign", mg.sign, torch.sign),
        ("sqrt0", lambda x: mg.sqrt(x * x), lambda x: torch.sqrt(x * x)),  # inf * 0 -> nan at 0
    ],
)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # sqrt'(0) * 0
def test_kinks_match_torch(name, mg_fn, th_fn):
    values = [-1.0, 0.0, 1.0, -2.0, 2.0]
    x = mg.tensor(values, dtype=mg.float64, requires_grad=True)
    mg_fn(x).sum().backward()
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    th_fn(tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_relu_abs_grad_zero_at_zero():
    x = mg.tensor([0.0, 0.0], dtype=mg.float64, requires_grad=True)
    (mg.relu(x) + mg.abs(x)).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_gradient(op):
    a = mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([1.0, 5.0, 0.0], dtype=mg.float64, requires_grad=True)
    getattr(mg, op)(a, b).backward(mg.tensor([4.0, 4.0, 4.0], dtype=mg.float64))
    ta = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([1.0, 5.0, 0.0], dtype=torch.float64, requires_grad=True)
    getattr(torch, op)(ta, tb).backward(torch.full((3,), 4.0, dtype=torch.float64))
    assert a.grad.tolist()[0] == 2.0 and b.grad.tolist()[0] == 2.0  # g / 2 each
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


def test_pow_at_zero_matches_torch():
    # d/dx x**2 at 0 is 0; d/dy 0**y is 0 for y > 0 (torch masks the log(0))
    for xs, ys in [([0.0, 1.0], [2.0, 2.0]), ([0.0, 2.0], [0.5, 0.0]), ([0.0, 3.0], [0.0, 1.5])]:
        x = mg.tensor(xs, dtype=mg.float64, requires_grad=True)
        y = mg.tensor(ys, dtype=mg.float64, requires_grad=True)
        (x**y).sum().backward()
        tx = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
        ty = torch.tensor(ys, dtype=torch.float64, requires_grad=True)
        (tx**ty).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)


def test_pow_integer_scalar_exponent_negative_base():
    compare_with_torch(lambda x: x**3 + x**2, lambda x: x**3 + x**2, np.array([-1.5, -0.5, 2.0]))


def test_large_inputs_stay_finite():
    vals = np.array([-800.0, -50.0, 0.5, 50.0, 800.0])
    for mg_fn, th_fn in [
        (mg.sigmoid, torch.sigmoid),
        (mg.softplus, F.softplus),
        (mg.tanh, torch.tanh),
        (mg.elu, F.elu),
        (mg.gelu, F.gelu),
    ]:
        compare_with_torch(mg_fn, th_fn, vals)


def test_float32_results_stay_float32():
    x = rand((3, 4)).astype(np.float32)
    for mg_fn, th_fn in [
        (mg.gelu, F.gelu),
        (mg.sigmoid, torch.sigmoid),
        (mg.softplus, F.softplus),
        (lambda t: mg.clamp(t, -0.5, 0.5), lambda t: torch.clamp(t, -0.5, 0.5)),
        (mg.elu, F.elu),
        (mg.leaky_relu, F.leaky_relu),
        (lambda t: t**2, lambda t: t**2),
        (lambda t: 2.0**t, lambda t: 2.0**t),
        (mg.abs, torch.abs),
    ]:
        compare_with_torch(mg_fn, th_fn, x, dtype=np.float32, atol=1e-6, rtol=1e-5)


def test_integer_inputs_of_math_functions_give_float32():
    x = np.array([1, 2, 3])
    for name in ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"]:
        out = getattr(mg, name)(mg.tensor(x))
        ref = getattr(torch, name)(torch.tensor(x))
        assert out.dtype == mg.float32, name
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6)


def test_integer_division_modes():
    a, b = np.array([7, -7, 5, -5]), np.array([2, 2, -3, -3])
    for kw in [{}, {"rounding_mode": "floor"}, {"rounding_mode": "trunc"}]:
        out = mg.div(mg.tensor(a), mg.tensor(b), **kw)
        ref = torch.div(torch.tensor(a), torch.tensor(b), **kw)
        assert str(out.dtype) == str(ref.dtype).replace("torch.", ""), kw
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(
        (mg.tensor(a) // mg.tensor(b)).numpy(), (torch.tensor(a) // torch.tensor(b)).numpy()
    )
    np.testing.assert_array_equal(
        (mg.tensor(a) % mg.tensor(b)).numpy(), (torch.tensor(a) % torch.tensor(b)).numpy()
    )


def test_clamp_with_tensor_bounds_at_ties_and_crossed_bounds():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 0.3])
    lo = np.array([-1.0, 0.2, 0.5, -0.5, 0.0, 0.6])
    hi = np.array([1.0, 1.0, 0.7, 1.0, 1.0, 0.4])  # last: lo > hi
    compare_with_torch(lambda a, b, c: a.clamp(b, c), lambda a, b, c: a.clamp(b, c), x, lo, hi)
    compare_with_torch(lambda a, b: a.clamp(min=b), lambda a, b: a.clamp(min=b), x, lo)
    compare_with_torch(lambda a, c: mg.clamp(a, max=c), lambda a, c: torch.clamp(a, max=c), x, hi)
    # minigrad also takes a tensor and a number (torch wants both bounds of one kind)
    compare_with_torch(
        lambda a, b: a.clamp(b, 0.8), lambda a, b: a.clamp(b, torch.tensor(0.8, dtype=b.dtype)), x, lo
    )


def test_clamp_of_integer_tensor_with_float_bound_is_float():
    for args in [(0.5,), (1, 2.5), (1, 2)]:
        out = mg.tensor([-2, 0, 3]).clamp(*args)
        ref = torch.tensor([-2, 0, 3]).clamp(*args)
        assert str(out.dtype) == str(ref.dtype).replace("torch.", "")
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_where_condition_must_be_bool():
    with pytest.raises(RuntimeError, match="boolean tensor.*float32"):
        mg.where(mg.tensor([1.0, 0.0]), 1.0, 0.0)
    with pytest.raises(RuntimeError, match="boolean tensor.*int64"):
        mg.where(mg.tensor([1, 0]), 1.0, 0.0)
    assert mg.where(mg.tensor([1, 0], dtype=mg.uint8), 1.0, 0.0).tolist() == [1.0, 0.0]


def test_where_of_two_scalars_has_default_float_dtype():
    cond = np.array([True, False])
    out, ref = mg.where(mg.tensor(cond), 1.0, 0.0), torch.where(torch.tensor(cond), 1.0, 0.0)
    assert out.dtype == mg.float32 and out.tolist() == ref.tolist()
    assert mg.where(mg.tensor(cond), 1, 0).dtype == mg.int64


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_nan_propagation_matches_torch():
    a, b = np.array([np.nan, 1.0, 3.0]), np.array([0.0, np.nan, 3.0])
    compare_with_torch(mg.maximum, torch.maximum, a, b)
    compare_with_torch(mg.minimum, torch.minimum, a, b)
    compare_with_torch(lambda t: t.clamp(0.0, 2.0), lambda t: t.clamp(0.0, 2.0), a)
    compare_with_torch(lambda t: t.max(), lambda t: t.max(), a)
    compare_with_torch(lambda t: t.abs(), lambda t: t.abs(), a)
    compare_with_torch(lambda t: t.relu(), lambda t: t.relu(), a)  # a NaN output passes the gradient
