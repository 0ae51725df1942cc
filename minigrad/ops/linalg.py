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


class Linear(Function):
    """y = x @ w^T + b.   dx = g @ w,   dw = g^T @ x (rows of all leading dims),   db = sum_rows g."""

    @staticmethod
    def forward(ctx, x, w, b):
        if x.ndim == 2:  # the common case: no reshapes, so no views to track
            ctx.save_for_backward(x, w)
            return backend.linear_forward(x, w, b)
        ctx.x_shape = x.shape
        x2 = x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(x2, w)
        out = backend.linear_forward(x2, w, b)
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, grad_output):
        x2, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g2 = grad_output if grad_output.ndim == 2 else grad_output.reshape(-1, w.shape[0])
        # needs[2] is False when there is no bias (None is not a tensor)
        gx, gw, gb = backend.linear_backward(g2, x2, w, needs[0], needs[1], needs[2])
        if gx is not None and grad_output.ndim != 2:
            gx = gx.reshape(ctx.x_shape)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``input @ weight^T + bias`` (torch.nn.functional.linear).

    Args:
        input: (*, in_features).
        weight: (out_features, in_features).
        bias: (out_features,) or None.

    Returns:
        (*, out_features).
    """
    if isinstance(input, Tensor) and isinstance(weight, Tensor) and (
            bias is None or isinstance(bias, Tensor)):  # the usual case: one combined check
        x, w = input.data, weight.data
        if (w.ndim == 2 and x.ndim and x.shape[-1] == w.shape[1] and w.dtype == x.dtype and (
                bias is None or (bias.data.shape == w.shape[:1] and bias.data.dtype == x.dtype))):
            return Linear.apply(input, weight, bias)
    input = input if isinstance(input, Tensor) else Tensor(input)
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if bias is not None and not isinstance(bias, Tensor):
        bias = Tensor(bias)
    _check_linear(input, weight, bias)
    return Linear.apply(input, weight, bias)


def _check_linear(input: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    """Raise the error that names what does not fit."""
    x_shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if weight.ndim != 2:
        raise ValueError(
            f"linear: expected weight of shape (out_features, in_features), got weight of "
            f"shape {w_shape}"
        )
    if input.ndim < 1 or x_shape[-1] != w_shape[1]:
        raise ValueError(
            f"linear: input of shape {x_shape} and weight of shape {w_shape} do not fit: the "
            f"last dim of the input must equal in_features={w_shape[1]}"
        )
    if bias is not None and tuple(bias.shape) != (w_shape[0],):
        raise ValueError(
            f"linear: expected bias of shape ({w_shape[0]},) for weight {w_shape}, got bias "
            f"of shape {tuple(bias.shape)}"
        )
    for t in (weight, bias):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(
                f"linear: input ({input.dtype}), weight ({weight.dtype})"
                + (f" and bias ({bias.dtype})" if bias is not None else "")
                + " must have the same dtype"
            )
