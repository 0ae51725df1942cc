"""Ops behind ``nn`` layers that are not plain math: dropout, batch norm, embedding lookup."""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import Function
from ..random import Generator, rng
from ..tensor import Tensor

__all__ = ["Dropout", "BatchNorm", "Embedding", "dropout", "batch_norm", "embedding"]


class Dropout(Function):
    """z = x * m (m: kept mask scaled by 1/(1-p), drawn by the caller).   dx = g * m."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Identity when ``training`` is False. The mask comes from minigrad's global generator.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not isinstance(input, Tensor):
        raise TypeError(f"dropout: input must be a minigrad Tensor, got {type(input).__name__}")
    if not training or p == 0.0:
        return input
    x = input
    if p == 1.0:
        mask = np.zeros(x.shape, x.dtype)
    else:
        keep = rng(generator).random(x.shape) >= p
        mask = keep.astype(x.dtype) * np.asarray(1.0 / (1.0 - p), x.dtype)
    if inplace:
        from .inplace import inplace as _inplace

        return _inplace(x, _dropout_apply, mask)
    return Dropout.apply(x, mask)


def _dropout_apply(x: Tensor, mask: np.ndarray) -> Tensor:
    return Dropout.apply(x, mask)


_dropout_apply.__name__ = "dropout"


class BatchNorm(Function):
    """z = (x - mean) / sqrt(var + eps) * w + b per channel (dim 1).
    dx = w * invstd / M * (M*g - sum(g) - xhat * sum(g * xhat)) in training; g * w * invstd in eval.

    In training the statistics are the batch's (biased variance), and running_mean /
    running_var (arrays, when given) are updated in place with ``momentum`` and the unbiased
    variance, as torch does; in eval the running statistics are used.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if training:
            m = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            centered = x - mean.reshape(bshape)
            var = np.mean(centered * centered, axis=axes)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean.astype(running_mean.dtype)
            if running_var is not None:
                unbiased = var * (m / max(m - 1, 1))
                running_var *= 1 - momentum
                running_var += momentum * unbiased.astype(running_var.dtype)
        else:
            m = 0
            mean = running_mean.astype(x.dtype, copy=False)
            var = running_var.astype(x.dtype, copy=False)
            centered = x - mean.reshape(bshape)
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = centered * invstd.reshape(bshape)
        out = xhat
        if weight is not None:
            out = out * weight.reshape(bshape)
        if bias is not None:
            out = out + bias.reshape(bshape)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.training, ctx.m, ctx.axes, ctx.bshape = training, m, axes, bshape
        return out if out is not xhat else xhat.copy()

    @staticmethod
    def backward(ctx, grad_output):
        xhat, invstd, weight = ctx.saved_tensors
        axes, bshape = ctx.axes, ctx.bshape
        g = grad_output
        gx = gw = gb = None
        if ctx.needs_input_grad[1]:
            gw = np.sum(g * xhat, axis=axes)
        if ctx.needs_input_grad[2]:
            gb = np.sum(g, axis=axes)
        if ctx.needs_input_grad[0]:
            scale = invstd if weight is None else invstd * weight
            if ctx.training:
                sum_g = np.sum(g, axis=axes) if gb is None else gb
                sum_gx = np.sum(g * xhat, axis=axes) if gw is None else gw
                m = ctx.m
                gx = (g - (sum_g / m).reshape(bshape) - xhat * (sum_gx / m).reshape(bshape)) * \
                    scale.reshape(bshape)
            else:
                gx = g * scale.reshape(bshape)
        return gx, gw, gb, None, None, None, None, None


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over dim 1 of ``input`` ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``.

    Training uses the batch statistics and updates ``running_mean``/``running_var`` in place
    (``new = (1 - momentum) * old + momentum * batch``, unbiased variance); otherwise the
    running statistics normalize.
    """
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"batch_norm: input must be a minigrad Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(
            f"batch_norm: expected input of shape (N, C, ...), got shape {tuple(x.shape)}"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be floating point, got {dtypes.dtype_name(x.dtype)}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(
                f"batch_norm: {name} should have shape ({c},) for input of shape "
                f"{tuple(x.shape)} (C = {c} channels in dim 1), got {tuple(t.shape)}"
            )
    if training:
        size = x.data.size // c if c else 0
        if size <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size "
                f"{tuple(x.shape)}"
            )
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var are required when not training")

    mixed = [(n, t.dtype) for n, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                                       ("running_var", running_var)) if t is not None and t.dtype != x.dtype]
    if mixed:
        others = ", ".join(f"{n} ({dt.name})" for n, dt in mixed)
        raise TypeError(
            f"batch_norm: input ({x.dtype.name}) and {others} must have the same dtype: convert the "
            f"input (e.g. x.float()) or the model (model.double())"
        )
    rm = running_mean.data if running_mean is not None else None
    rv = running_var.data if running_var is not None else None
    return BatchNorm.apply(x, weight, bias, rm, rv, bool(training), momentum, eps)


class Embedding(Function):
    """z = weight[indices].   dweight = scatter-add of g into the looked-up rows (0 at padding_idx)."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.save_for_backward(indices)
        ctx.shape, ctx.padding_idx = weight.shape, padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, grad_output):
        (indices,) = ctx.saved_tensors
        grad = np.zeros(ctx.shape, grad_output.dtype)
        np.add.at(grad, indices.reshape(-1), grad_output.reshape(-1, ctx.shape[1]))
        if ctx.padding_idx is not None:
            grad[ctx.padding_idx] = 0
        return grad, None, None


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` ``(num_embeddings, dim)`` at integer ``input`` -> ``input.shape + (dim,)``.

    The row at ``padding_idx`` receives no gradient.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be integers (int64), got dtype {dtypes.dtype_name(idx.dtype)} "
            f"of shape {tuple(idx.shape)}: convert with .long()"
        )
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got {tuple(weight.shape)}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise IndexError(
            f"embedding: index {bad} is out of range for an embedding table with {n} rows "
            f"(valid indices 0..{n - 1})"
        )
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError("Padding_idx must be within num_embeddings")
        padding_idx = padding_idx % n
    return Embedding.apply(weight, idx.astype(np.int64, copy=False), padding_idx)
