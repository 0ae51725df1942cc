"""Shape ops vs torch in float64: values and gradients of a random cotangent.

Every case runs on a contiguous input and on a transposed (non-contiguous) one.
"""

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def layout(x, kind):
    if kind == "contig" or x.ndim < 2:
        return x, lambda t: t
    dims = tuple(range(x.ndim - 1, -1, -1))
    return np.ascontiguousarray(x.transpose(dims)), lambda t: t.permute(*dims)


# name, input shape, fn (the same call works on both frameworks)
SHAPE_CASES = [
    ("reshape", (2, 3, 4), lambda x: x.reshape(4, 6)),
    ("reshape_tuple", (2, 3, 4), lambda x: x.reshape((3, -1))),
    ("reshape_fn", (2, 3, 4), lambda x: (mg if isinstance(x, mg.Tensor) else torch).reshape(x, (-1,))),
    ("reshape_0d", (), lambda x: x.reshape(1, 1)),
    ("reshape_to_0d", (1, 1), lambda x: x.reshape(())),
    ("view", (2, 3, 4), lambda x: x.contiguous().view(6, 4)),
    ("view_minus1", (2, 3, 4), lambda x: x.contiguous().view(-1, 2)),
    ("view_as", (2, 6), lambda x: x.contiguous().view_as(x.reshape(3, 4))),
    ("flatten", (2, 3, 4), lambda x: x.flatten()),
    ("flatten_1", (2, 3, 4), lambda x: x.flatten(1)),
    ("flatten_0_1", (2, 3, 4), lambda x: x.flatten(0, 1)),
    ("flatten_0d", (), lambda x: x.flatten()),
    ("unflatten", (2, 12), lambda x: x.unflatten(1, (3, 4))),
    ("squeeze", (1, 3, 1, 4), lambda x: x.squeeze()),
    ("squeeze_dim", (1, 3, 1, 4), lambda x: x.squeeze(2)),
    ("squeeze_neg", (1, 3, 1, 4), lambda x: x.squeeze(-2)),
    ("squeeze_not1", (1, 3, 1, 4), lambda x: x.squeeze(1)),
    ("squeeze_tuple", (1, 3, 1, 4), lambda x: x.squeeze((0, 2))),
    ("squeeze_0d", (), lambda x: x.squeeze()),
    ("unsqueeze0", (3, 4), lambda x: x.unsqueeze(0)),
    ("unsqueeze_end", (3, 4), lambda x: x.unsqueeze(2)),
    ("unsqueeze_neg", (3, 4), lambda x: x.unsqueeze(-1)),
    ("unsqueeze_neg3", (3, 4), lambda x: x.unsqueeze(-3)),
    ("unsqueeze_0d", (), lambda x: x.unsqueeze(0)),
    ("transpose", (2, 3, 4), lambda x: x.transpose(0, 2)),
    ("transpose_neg", (2, 3, 4), lambda x: x.transpose(-1, -2)),
    ("transpose_same", (2, 3), lambda x: x.transpose(1, 1)),
    ("permute", (2, 3, 4), lambda x: x.permute(2, 0, 1)),
    ("permute_tuple", (2, 3, 4), lambda x: x.permute((1, 2, 0))),
    ("permute_neg", (2, 3, 4), lambda x: x.permute(-1, 0, -2)),
    ("T_2d", (3, 5), lambda x: x.T),
    ("T_1d", (5,), lambda x: x.T),
    ("t", (3, 5), lambda x: x.t()),
    ("t_1d", (5,), lambda x: x.t()),
    ("mT", (2, 3, 5), lambda x: x.mT),
    ("expand", (3, 1), lambda x: x.expand(3, 4)),
    ("expand_new_dims", (3, 1), lambda x: x.expand(2, 3, 5)),
    ("expand_minus1", (3, 1), lambda x: x.expand(2, -1, 4)),
    ("expand_tuple", (1,), lambda x: x.expand((4,))),
    ("expand_0d", (), lambda x: x.expand(2, 3)),
    ("broadcast_to", (3, 1), lambda x: x.broadcast_to((2, 3, 4))),
    ("broadcast_to_fn", (4,), lambda x: (mg if isinstance(x, mg.Tensor) else torch).broadcast_to(x, (3, 4))),
    ("contiguous", (3, 4), lambda x: x.contiguous()),
    ("contiguous_T", (3, 4), lambda x: x.T.contiguous()),
    ("chain", (2, 3, 4), lambda x: x.permute(1, 0, 2).reshape(3, 8).T.unsqueeze(1).expand(8, 2, 3)),
    ("expand_then_mul", (3, 1), lambda x: x.expand(3, 4) * x.T.expand(4, 3).T),
]


@pytest.mark.filterwarnings("ignore:The use of `x.T` on tensors of dimension other than 2:UserWarning")
@pytest.mark.parametrize("kind", ["contig", "T"])
@pytest.mark.parametrize("name,shape,fn", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_shape_ops(name, shape, fn, kind):
    data, v = layout(rand(shape), kind)
    compare_with_torch(lambda x: fn(v(x)), lambda x: fn(v(x)), data)


def test_expand_as_and_reshape_as():
    compare_with_torch(
        lambda a, b: a.expand_as(b) * b, lambda a, b: a.expand_as(b) * b, rand((1, 4)), rand((3, 4))
    )
    compare_with_torch(
        lambda a, b: a.reshape_as(b) * b, lambda a, b: a.reshape_as(b) * b, rand((12,)), rand((3, 4))
    )


def test_view_shares_memory_and_forward_values():
    x = mg.arange(6.0)
    y = x.view(2, 3)
    with mg.no_grad():
        y[0, 0] = 10.0
    assert x[0].item() == 10.0


def test_shape_errors():
    x = mg.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.reshape(-1, -1)
    with pytest.raises(RuntimeError, match="expanded size"):
        x.expand(4, 4)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.transpose(0, 2)
    with pytest.raises(RuntimeError, match="t\\(\\) expects"):
        mg.zeros(2, 3, 4).t()
    with pytest.raises(RuntimeError, match="permute"):
        x.permute(0)
    with pytest.raises(RuntimeError, match="duplicate"):
        x.permute(0, 0)


def test_broadcast_shapes():
    assert mg.broadcast_shapes((3, 1), (1, 4), (2, 1, 1)) == tuple(
        torch.broadcast_shapes((3, 1), (1, 4), (2, 1, 1))
    )
    with pytest.raises(RuntimeError):
        mg.broadcast_shapes((3,), (4,))
