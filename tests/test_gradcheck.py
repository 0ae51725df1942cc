"""Every differentiable op against central finite differences in float64.

No torch here: this module must pass where torch is not installed.
"""

import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import pad
from minigrad.testing import gradcheck


def make(shape, domain="real", seed=0):
    """A float64 leaf; 'real' stays |x| >= 0.2 (away from kinks), 'pos' in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    if domain == "pos":
        arr = rng.uniform(0.5, 2.0, shape)
    else:
        arr = rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return mg.tensor(arr, requires_grad=True)


def distinct(shape, seed=0):
    """Tie-free values (for max/min/sort-like ops) with gaps much larger than eps."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(seed).permutation(n) * 0.37 - n * 0.15 + 0.05
    return mg.tensor(vals.reshape(shape), requires_grad=True)


UNARY = [
    ("neg", lambda x: -x, "real"),
    ("exp", mg.exp, "real"),
    ("log", mg.log, "pos"),
    ("log1p", mg.log1p, "pos"),
    ("sqrt", mg.sqrt, "pos"),
    ("abs", mg.abs, "real"),
    ("sin", mg.sin, "real"),
    ("cos", mg.cos, "real"),
    ("tanh", mg.tanh, "real"),
    ("sigmoid", mg.sigmoid, "real"),
    ("relu", mg.relu, "real"),
    ("leaky_relu", lambda x: mg.leaky_relu(x, 0.2), "real"),
    ("elu", lambda x: mg.elu(x, 1.3), "real"),
    ("gelu", mg.gelu, "real"),
    ("gelu_tanh", lambda x: mg.gelu(x, approximate="tanh"), "real"),
    ("softplus", mg.softplus, "real"),
    ("softplus_beta", lambda x: mg.softplus(x, 2.0, 3.0), "real"),
    ("clamp", lambda x: mg.clamp(x, -0.9, 1.1), "real"),
    ("square", mg.square, "real"),
    ("pow_scalar", lambda x: x**3, "real"),
    ("pow_frac", lambda x: x**-0.7, "pos"),
    ("rpow", lambda x: 1.7**x, "real"),
    ("rsub", lambda x: 2 - x, "real"),
    ("rdiv", lambda x: 3 / x, "real"),
    ("np_mul", lambda x: np.array([0.5, -2.0, 1.5]) * x, "real"),
    ("sum", lambda x: x.sum(), "real"),
    ("sum_dim", lambda x: x.sum(0, keepdim=True), "real"),
    ("mean", lambda x: x.mean(-1), "real"),
    ("var", lambda x: x.var(0), "real"),
    ("std", lambda x: x.std(-1, unbiased=False), "real"),
    ("prod", lambda x: x.prod(1), "real"),
    ("prod_all", lambda x: x.prod(), "real"),
    ("logsumexp", lambda x: x.logsumexp(1), "real"),
    ("softmax", lambda x: x.softmax(0), "real"),
    ("log_softmax", lambda x: x.log_softmax(-1), "real"),
    ("reshape", lambda x: x.reshape(3, 2) * x.reshape(3, 2), "real"),
    ("flatten", lambda x: x.flatten() ** 2, "real"),
    ("unsqueeze_squeeze", lambda x: (x.unsqueeze(1) ** 2).squeeze(1), "real"),
    ("transpose", lambda x: x.transpose(0, 1) ** 2, "real"),
    ("T", lambda x: x.T @ x, "real"),
    ("expand", lambda x: x[:, :1].expand(2, 5) ** 2, "real"),
    ("getitem", lambda x: x[1, ::-1] * x[0], "real"),
    ("getitem_repeat", lambda x: x[[0, 0, 1], 1:] ** 2, "real"),
    ("getitem_mask", lambda x: x[x > 0] ** 2, "real"),
    ("split", lambda x: x.split([1, 2], dim=1)[1] ** 2, "real"),
    ("chunk", lambda x: x.chunk(2, 1)[0] * 3, "real"),
    ("pad", lambda x: pad(x, (1, 2, 0, 1), value=0.5) ** 2, "real"),
    ("pad_crop", lambda x: pad(x, (-1, 1)) ** 2, "real"),
    ("cat", lambda x: mg.cat([x, x * 2], 0) ** 2, "real"),
    ("stack", lambda x: mg.stack([x, x.exp()], 2), "real"),
]


@pytest.mark.parametrize("name,fn,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops(name, fn, domain):
    shape = (3,) if name == "np_mul" else (2, 3)
    assert gradcheck(fn, make(shape, domain))


@pytest.mark.parametrize(
    "name,fn",
    [
        ("max", lambda x: x.max()),
        ("max_dim", lambda x: x.max(1)),
        ("min_dim", lambda x: x.min(0, keepdim=True)),
        ("amax", lambda x: x.amax(0)),
        ("amin", lambda x: x.amin((0, 1))),
        ("maximum", lambda x: mg.maximum(x, x.T.T[::-1])),
    ],
)
def test_max_min(name, fn):
    assert gradcheck(fn, distinct((3, 4)))


BINARY = [
    ("add", lambda x, y: x + y, "real"),
    ("sub", lambda x, y: x - y, "real"),
    ("mul", lambda x, y: x * y, "real"),
    ("div", lambda x, y: x / y, "real"),
    ("pow", lambda x, y: x**y, "pos"),
    ("maximum", mg.maximum, "real"),
    ("minimum", mg.minimum, "real"),
    ("where", lambda x, y: mg.where(x > y, x * 2, y), "real"),
]


@pytest.mark.parametrize(
    "shapes", [((2, 3), (2, 3)), ((2, 1), (1, 3)), ((), (3,)), ((3,), (2, 1, 3))], ids=str
)
@pytest.mark.parametrize("name,fn,domain", BINARY, ids=[b[0] for b in BINARY])
def test_binary_ops(name, fn, domain, shapes):
    sx, sy = shapes
    assert gradcheck(fn, (make(sx, domain, 1), make(sy, domain, 2)))


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3,), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3,)),
        ((2, 3), (3, 2)),
        ((2, 2, 3), (3, 2)),
        ((2, 1, 2, 3), (2, 3, 1)),
    ],
    ids=str,
)
def test_matmul(sa, sb):
    assert gradcheck(mg.matmul, (make(sa, seed=1), make(sb, seed=2)))


def test_non_contiguous_and_mixed_inputs():
    x = make((3, 4))
    y = make((4, 3), seed=1)
    assert gradcheck(lambda a, b: a.T[::2] * b[::2] + a.T.sum(), (x, y))
    c = mg.tensor([[1.0, 2.0, 3.0]])  # constant, passed through
    assert gradcheck(lambda a, k, s: (a * k) ** s, (make((2, 3)), c, 2))


def test_setitem_and_inplace():
    def fn(x, v):
        y = x * 1.0
        y[0, 1:] = v
        y += x
        return y.mul_(y)

    assert gradcheck(fn, (make((2, 3)), make((2,), seed=3)))


def test_tuple_output():
    assert gradcheck(lambda x: (x.exp(), x.sum(0)), make((2, 3)))


def test_runs_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import minigrad as mg\n"
        "from minigrad.testing import gradcheck\n"
        "x = mg.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=mg.float64, requires_grad=True)\n"
        "assert gradcheck(lambda t: (t.tanh() @ t).softmax(1), x)\n"
        "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
