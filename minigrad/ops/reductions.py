"""Reductions: sum, mean, var, std, prod, max/min, amax/amin, logsumexp, argmax/argmin,
and softmax / log_softmax (forward + backward each).

``dim`` is an int, a tuple of ints or None (all dims); ``keepdim`` keeps reduced dims as 1.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import TensorLike, _tensor, cast

# --------------------------------------------------------------------------- helpers


def normalize_dims(dim, ndim: int, op: str) -> tuple[int, ...]:
    """``dim`` (int, tuple or None) as a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    out = []
    rank = builtins.max(ndim, 1)
    for d in dims:
        d = int(d)
        if not -rank <= d < rank:
            raise IndexError(
                f"{op}: Dimension out of range (expected to be in range of "
                f"[{-rank}, {rank - 1}], but got {d})"
            )
        out.append(d % rank)
    if ndim == 0:
        return ()
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dim {dims} appears multiple times in the list of dims")
    return tuple(sorted(out))


def _expand_grad(grad_output, shape, axes, keepdim):
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts."""
    if keepdim or not axes:
        return grad_output
    return grad_output.reshape([1 if i in axes else n for i, n in enumerate(shape)])


def _count(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


# --------------------------------------------------------------------------- ops


class Sum(Function):
    """z = sum(x, dims).   dx = g broadcast back over the summed dims."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad_output):
        g = _expand_grad(grad_output, ctx.shape, ctx.axes, ctx.keepdim)
        # a new array, not a broadcast view: cheaper to make, and the engine can adopt it
        return np.full(ctx.shape, g), None, None


class Mean(Function):
    """z = mean(x, dims).   dx = g / n broadcast back over the reduced dims."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        if x.size == 0:  # NaN over empty dims, quietly as torch (NumPy would warn)
            with np.errstate(invalid="ignore"):
                return x.sum(axis=axes, keepdims=keepdim) / _count(x.shape, axes)
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad_output):
        g = _expand_grad(grad_output, ctx.shape, ctx.axes, ctx.keepdim)
        n = _count(ctx.shape, ctx.axes)
        return np.full(ctx.shape, g / n if n else g * np.nan), None, None


class Var(Function):
    """z = sum((x - mean)^2) / (n - c).   dx = g * 2 (x - mean) / (n - c)."""

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        mean = np.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        n = _count(x.shape, axes)
        denom = builtins.max(n - correction, 0)
        ctx.save_for_backward(centered)
        # backward divides by n - c unclamped, as torch does (so c > n gives -0, not nan)
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, n - correction
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(centered * centered, axis=axes, keepdims=keepdim) / denom

    @staticmethod
    def backward(ctx, grad_output):
        (centered,) = ctx.saved_tensors
        g = _expand_grad(grad_output, centered.shape, ctx.axes, ctx.keepdim)
        scale = 2 / ctx.denom if ctx.denom else math.inf  # no elements left: nan, as in torch
        with np.errstate(invalid="ignore"):
            return g * scale * centered, None, None, None


class Std(Function):
    """z = sqrt(var(x)).   dx = g * (x - mean) / ((n - c) * z)."""

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        mean = np.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        denom = builtins.max(_count(x.shape, axes) - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sqrt(np.sum(centered * centered, axis=axes, keepdims=True) / denom)
        ctx.save_for_backward(centered, out)
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, denom
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_output):
        centered, out = ctx.saved_tensors
        g = _expand_grad(grad_output, centered.shape, ctx.axes, ctx.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = g * centered / (ctx.denom * out)
        # a constant slice has std 0: torch's gradient there is 0, not 0/0
        return np.where(out == 0, 0, gx).astype(gx.dtype, copy=False), None, None, None


class Prod(Function):
    """z = prod(x, dim).   dx_i = g * prod_{j != i} x_j (exact, also with zeros)."""

    @staticmethod
    def forward(ctx, x, axis, keepdim):
        ctx.save_for_backward(x)
        ctx.axis, ctx.keepdim = axis, keepdim
        if axis is None:
            return np.prod(x)
        return np.prod(x, axis=axis, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        axis = ctx.axis
        if x.size == 0:
            return np.zeros(x.shape, grad_output.dtype), None, None
        if axis is None:
            flat = x.reshape(-1)
            others = _prod_of_others(flat, 0).reshape(x.shape)
            return grad_output * others, None, None
        g = grad_output if ctx.keepdim else np.expand_dims(grad_output, axis)
        return g * _prod_of_others(x, axis), None, None


def _prod_of_others(x: np.ndarray, axis: int) -> np.ndarray:
    """For each element, the product of the other elements along ``axis``."""
    ones = np.ones_like(np.take(x, [0], axis=axis))
    left = np.cumprod(np.concatenate([ones, x], axis=axis), axis=axis)
    left = np.take(left, range(x.shape[axis]), axis=axis)
    rev = np.flip(x, axis=axis)
    right = np.cumprod(np.concatenate([ones, rev], axis=axis), axis=axis)
    right = np.flip(np.take(right, range(x.shape[axis]), axis=axis), axis=axis)
    return left * right


class Amax(Function):
    """z = max(x, dims).   dx = g split evenly among the maxima of each slice."""

    reduce = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx, x, axes, keepdim):
        out = cls.reduce(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_output):
        x, out = ctx.saved_tensors
        mask = (x == out) | (np.isnan(x) & np.isnan(out))
        count = np.sum(mask, axis=ctx.axes, keepdims=True)
        g = _expand_grad(grad_output, x.shape, ctx.axes, ctx.keepdim)
        return np.where(mask, g / count, 0).astype(grad_output.dtype, copy=False), None, None


class Amin(Amax):
    """z = min(x, dims).   dx = g split evenly among the minima of each slice."""

    reduce = staticmethod(np.min)


class MaxDim(Function):
    """z = max(x, dim), given the argmax indices.   dx = g at the index of each maximum."""

    @staticmethod
    def forward(ctx, x, indices, axis, keepdim):
        idx = np.expand_dims(indices, axis)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        out = np.take_along_axis(x, idx, axis=axis)
        return out if keepdim else np.squeeze(out, axis)

    @staticmethod
    def backward(ctx, grad_output):
        (idx,) = ctx.saved_tensors
        g = grad_output if ctx.keepdim else np.expand_dims(grad_output, ctx.axis)
        gx = np.zeros(ctx.shape, grad_output.dtype)
        np.put_along_axis(gx, idx, g, axis=ctx.axis)
        return gx, None, None, None


class MinDim(MaxDim):
    """z = min(x, dim), given the argmin indices.   dx = g at the index of each minimum."""


class Logsumexp(Function):
    """z = log(sum(exp(x), dims)).   dx = g * exp(x - z)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = np.max(x, axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_output):
        x, out = ctx.saved_tensors
        g = _expand_grad(grad_output, x.shape, ctx.axes, ctx.keepdim)
        with np.errstate(invalid="ignore"):
            return g * np.exp(x - out), None, None


class Softmax(Function):
    """z = exp(x) / sum(exp(x), dim).   dx = z * (g - sum(g * z, dim))."""

    @staticmethod
    def forward(ctx, x, axis):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = e / np.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        gz = grad_output * out
        return gz - out * np.sum(gz, axis=ctx.axis, keepdims=True), None


class LogSoftmax(Function):
    """z = x - logsumexp(x, dim).   dx = g - exp(z) * sum(g, dim)."""

    @staticmethod
    def forward(ctx, x, axis):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        shifted = x - m
        with np.errstate(divide="ignore"):
            out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return grad_output - np.exp(out) * np.sum(grad_output, axis=ctx.axis, keepdims=True), None


# --------------------------------------------------------------------------- public functions

_max_result = namedtuple("max", ["values", "indices"])
_min_result = namedtuple("min", ["values", "indices"])


def _sum_dtype(x: Tensor) -> np.dtype | None:
    # torch sums bool/integer tensors in int64
    return dtypes.int64 if x.data.dtype.kind in "biu" else None


def sum(x: TensorLike, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum over ``dim`` (all dims by default)."""
    x = _tensor(x)
    dt = dtypes.as_dtype(dtype) or _sum_dtype(x)
    if dt is not None:
        x = cast(x, dt)
    return Sum.apply(x, normalize_dims(dim, x.ndim, "sum"), keepdim)


def _mean_input(x, op: str, dtype=None) -> Tensor:
    x = _tensor(x)
    if dtype is not None:
        x = cast(x, dtype)
    if x.data.dtype.kind != "f":
        raise RuntimeError(
            f"{op}(): could not infer output dtype. Input dtype must be either a floating "
            f"point or complex dtype. Got: {x.data.dtype.name}"
        )
    return x


def mean(x: TensorLike, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over ``dim`` (all dims by default); floating inputs only, as in torch."""
    x = _mean_input(x, "mean", dtype)
    return Mean.apply(x, normalize_dims(dim, x.ndim, "mean"), keepdim)


def _correction(unbiased, correction) -> float:
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def var(x: TensorLike, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (default 1)."""
    if isinstance(dim, bool):  # var(x, False): the legacy unbiased positional
        dim, unbiased = None, dim
    x = _mean_input(x, "var")
    axes = normalize_dims(dim, x.ndim, "var")
    return Var.apply(x, axes, _correction(unbiased, correction), keepdim)


def std(x: TensorLike, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Standard deviation over ``dim`` with Bessel's ``correction`` (default 1)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    x = _mean_input(x, "std")
    axes = normalize_dims(dim, x.ndim, "std")
    return Std.apply(x, axes, _correction(unbiased, correction), keepdim)


def prod(x: TensorLike, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of all elements, or along one ``dim``."""
    x = _tensor(x)
    dt = dtypes.as_dtype(dtype) or _sum_dtype(x)
    if dt is not None:
        x = cast(x, dt)
    if dim is None:
        return Prod.apply(x, None, False)
    (axis,) = normalize_dims(dim, x.ndim, "prod") or (None,)
    if axis is None:
        return Prod.apply(x, None, False)
    return Prod.apply(x, axis, keepdim)


def _reduce_with_indices(x, dim, keepdim, op_cls, arg_fn, result, op):
    axes = normalize_dims(dim, x.ndim, op)
    if x.ndim == 0:
        return result(x.clone(), Tensor._make(np.zeros((), np.int64), False, None))
    axis = axes[0]
    if x.shape[axis] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {axis} to have non-zero size.")
    idx = arg_fn(x.data, axis=axis)
    values = op_cls.apply(x, idx, axis, keepdim)
    if keepdim:
        idx = np.expand_dims(idx, axis)
    return result(values, Tensor._make(idx.astype(np.int64, copy=False), False, None))


def max(x: TensorLike, dim=None, keepdim: bool = False):
    """``max(x)``: the largest element; ``max(x, dim)``: ``(values, indices)`` along dim;
    ``max(x, other)``: elementwise maximum."""
    from .elementwise import maximum

    x = _tensor(x)
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        _check_nonempty(x, "max")
        return Amax.apply(x, tuple(range(x.ndim)), False)
    return _reduce_with_indices(x, dim, keepdim, MaxDim, np.argmax, _max_result, "max")


def min(x: TensorLike, dim=None, keepdim: bool = False):
    """``min(x)``: the smallest element; ``min(x, dim)``: ``(values, indices)`` along dim;
    ``min(x, other)``: elementwise minimum."""
    from .elementwise import minimum

    x = _tensor(x)
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        _check_nonempty(x, "min")
        return Amin.apply(x, tuple(range(x.ndim)), False)
    return _reduce_with_indices(x, dim, keepdim, MinDim, np.argmin, _min_result, "min")


def _check_nonempty(x: Tensor, op: str) -> None:
    if x.data.size == 0:
        raise RuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )


def amax(x: TensorLike, dim=(), keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (all dims when empty); gradient split evenly among ties."""
    x = _tensor(x)
    return Amax.apply(x, normalize_dims(dim, x.ndim, "amax"), keepdim)


def amin(x: TensorLike, dim=(), keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (all dims when empty); gradient split evenly among ties."""
    x = _tensor(x)
    return Amin.apply(x, normalize_dims(dim, x.ndim, "amin"), keepdim)


def logsumexp(x: TensorLike, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed stably."""
    x = _tensor(x)
    if x.data.dtype.kind != "f":
        x = cast(x, dtypes.get_default_dtype())
    return Logsumexp.apply(x, normalize_dims(dim, x.ndim, "logsumexp"), keepdim)


def _arg_reduce(x, dim, keepdim, fn, op) -> Tensor:
    x = _tensor(x)
    if dim is None:
        idx = np.asarray(fn(x.data.reshape(-1)))
        if keepdim:
            idx = idx.reshape((1,) * x.ndim)
    else:
        (axis,) = normalize_dims(dim, x.ndim, op) or (0,)
        idx = fn(x.data, axis=axis) if x.ndim else np.asarray(0)
        if keepdim and x.ndim:
            idx = np.expand_dims(idx, axis)
    return Tensor._make(np.asarray(idx, dtype=np.int64), False, None)


def argmax(x: TensorLike, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (flattened when ``dim`` is None). No gradient."""
    return _arg_reduce(x, dim, keepdim, np.argmax, "argmax")


def argmin(x: TensorLike, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (flattened when ``dim`` is None). No gradient."""
    return _arg_reduce(x, dim, keepdim, np.argmin, "argmin")


def _softmax_input(x, dim, dtype, op):
    x = _tensor(x)
    if dtype is not None:
        x = cast(x, dtype)
    elif x.data.dtype.kind != "f":
        x = cast(x, dtypes.get_default_dtype())
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # torch's legacy implicit choice
    (axis,) = normalize_dims(dim, x.ndim, op) or (0,)
    return x, axis


def softmax(x: TensorLike, dim=None, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``."""
    x, axis = _softmax_input(x, dim, dtype, "softmax")
    if x.ndim == 0:
        return Softmax.apply(x.reshape(1), 0).reshape(())
    return Softmax.apply(x, axis)


def log_softmax(x: TensorLike, dim=None, dtype=None) -> Tensor:
    """x - logsumexp(x) along ``dim`` (numerically stable)."""
    x, axis = _softmax_input(x, dim, dtype, "log_softmax")
    if x.ndim == 0:
        return LogSoftmax.apply(x.reshape(1), 0).reshape(())
    return LogSoftmax.apply(x, axis)
