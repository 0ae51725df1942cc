"""Differentiable ops, one ``Function`` each, with forward and backward side by side.

- ``elementwise``: arithmetic, math functions, activations
- ``reductions``: sum/mean/var/..., max/min, logsumexp, softmax/log_softmax
- ``shape``: reshape/view, permute/transpose, expand, squeeze/unsqueeze
- ``indexing``: ``x[index]``, cat/stack/split/chunk, pad
- ``linalg``: matmul
- ``compare``: comparisons and logical ops (no gradient)
- ``inplace``: in-place updates, setitem, clone
"""

from .compare import (
    all,
    allclose,
    any,
    eq,
    equal,
    ge,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
)
from .elementwise import (
    abs,
    add,
    cast,
    clamp,
    clip,
    cos,
    div,
    elu,
    exp,
    gelu,
    leaky_relu,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    promote,
    relu,
    remainder,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    square,
    sub,
    tanh,
    where,
)
from .indexing import cat, chunk, concat, concatenate, getitem, pad, split, stack
from .inplace import clone, copy_, fill_, inplace, setitem
from .linalg import bmm, dot, matmul, mm
from .reductions import (
    amax,
    amin,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    prod,
    softmax,
    std,
    sum,
    var,
)
from .shape import (
    broadcast_shapes,
    broadcast_to,
    contiguous,
    expand,
    flatten,
    permute,
    reshape,
    squeeze,
    t,
    transpose,
    unflatten,
    unsqueeze,
    view,
)

multiply, subtract, divide, negative, true_divide = mul, sub, div, neg, div
