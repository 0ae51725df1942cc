"""Matrix products: ``matmul`` (1-D, 2-D, batched with broadcasting) and ``linear``."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import promote


class MatMul(Function):
    """z = a @ b.   da = g @ b^T,   db = a^T @ g (batch dims summed back by the engine)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return backend.matmul(a, b)

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        # 1-D operands act as a row (a) or a column (b); give g those dims back.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad_output
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = backend.matmul(g, b2, transpose_b=True)
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if ctx.needs_input_grad[1]:
            gb = backend.matmul(a2, g, transpose_a=True)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def _check_matmul_shapes(a: Tensor, b: Tensor) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments need at least 1 dimension, got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        ra = a.shape if a.ndim != 2 else f"{a.shape[0]}x{a.shape[1]}"
        rb = b.shape if b.ndim != 2 else f"{b.shape[0]}x{b.shape[1]}"
        raise RuntimeError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
            f"(mat1 is {ra}, mat2 is {rb}): the last dim of the first ({k_a}) must equal the "
            f"{'first' if b.ndim == 1 else 'second-to-last'} dim of the second ({k_b})"
        )
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise RuntimeError(
                f"matmul: batch dims of {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                "broadcast together"
            ) from None


def matmul(a, b) -> Tensor:
    """Matrix product with torch's rules for 1-D and batched operands."""
    a, b = promote(a, b)
    a = a if isinstance(a, Tensor) else Tensor(a)
    b = b if isinstance(b, Tensor) else Tensor(b)
    _check_matmul_shapes(a, b)
    return MatMul.apply(a, b)


mm = bmm = matmul


def dot(a, b) -> Tensor:
    """Inner product of two 1-D tensors."""
    return matmul(a, b)
