"""Indexing and joining: ``x[index]``, cat, stack, split, chunk, pad (forward + backward each)."""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .elementwise import TensorLike, _tensor, promote
from .shape import _dim

# --------------------------------------------------------------------------- x[index]


def normalize_index(index):
    """Turn a torch-style index into a NumPy one (tensors -> arrays, lists -> arrays)."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for item in index:
        if isinstance(item, Tensor):
            item = item.data
            if item.dtype.kind == "f":
                raise IndexError(
                    "tensors used as indices must be long, int, byte or bool tensors"
                )
        elif isinstance(item, list):
            item = np.asarray(item)
            if item.dtype.kind == "f":
                raise IndexError("index lists must hold integers or bools")
        out.append(item)
    return tuple(out)


def is_basic_index(index: tuple) -> bool:
    """True when the index selects a view (no integer-array or mask parts)."""
    return all(
        item is None or item is Ellipsis or isinstance(item, (int, np.integer, slice))
        for item in index
    )


class GetItem(Function):
    """z = x[index].   dx = zeros with g added at the selected places (repeats add up)."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, grad_output):
        gx = np.zeros(ctx.shape, grad_output.dtype)
        if is_basic_index(ctx.index):
            gx[ctx.index] = grad_output
        else:
            np.add.at(gx, ctx.index, grad_output)
        return gx, None


def getitem(x: TensorLike, index) -> Tensor:
    """``x[index]``: ints, slices (any step), None, ..., integer arrays/tensors, bool masks."""
    x = _tensor(x)
    idx = normalize_index(index)
    try:
        return GetItem.apply(x, idx)
    except IndexError as e:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {tuple(x.shape)}: {e}") from None


# --------------------------------------------------------------------------- joining


class Cat(Function):
    """z = concatenate(xs, dim).   dx_i = the slice of g that x_i filled."""

    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        ctx.sizes = [x.shape[axis] for x in xs]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad_output):
        bounds = np.cumsum(ctx.sizes)[:-1]
        return (None, *np.split(grad_output, bounds, axis=ctx.axis))


class Stack(Function):
    """z = stack(xs, dim).   dx_i = g[..., i, ...] along dim."""

    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad_output):
        n = grad_output.shape[ctx.axis]
        return (None, *(np.take(grad_output, i, axis=ctx.axis) for i in range(n)))


def _same_dtype(tensors, op: str) -> list:
    if not tensors:
        raise RuntimeError(f"{op}(): expected a non-empty list of Tensors")
    tensors = [_tensor(t) for t in tensors]
    if len({t.data.dtype for t in tensors}) > 1:
        tensors = list(promote(*tensors))
    return tensors


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim; all other dims must match."""
    tensors = _same_dtype(list(tensors), "cat")
    # torch skips 1-D empty tensors in cat
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = tensors[0]
    axis = _dim(dim, ref.ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or any(
            a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != axis
        ):
            raise RuntimeError(
                f"cat(): Sizes of tensors must match except in dimension {axis}. "
                f"Expected shape like {tuple(ref.shape)} but got {tuple(t.shape)} for "
                f"tensor number {i} in the list."
            )
    return Cat.apply(axis, *tensors)


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim."""
    tensors = _same_dtype(list(tensors), "stack")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {tuple(ref.shape)} at "
                f"entry 0 and {tuple(t.shape)} at entry {i}"
            )
    axis = _dim(dim, ref.ndim + 1, "stack")
    return Stack.apply(axis, *tensors)


def split(x: TensorLike, split_size_or_sections, dim: int = 0) -> tuple:
    """Split into pieces of ``split_size`` (the last may be smaller) or of the given sizes."""
    x = _tensor(x)
    axis = _dim(dim, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and n > 0:
            raise RuntimeError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                f"size at dimension {axis}), but got split_sizes={sizes}"
            )
    pieces = []
    start = 0
    for s in sizes:
        index = (slice(None),) * axis + (slice(start, start + s),)
        pieces.append(GetItem.apply(x, index))
        start += s
    return tuple(pieces)


def chunk(x: TensorLike, chunks: int, dim: int = 0) -> tuple:
    """Split into ``chunks`` pieces of size ceil(n / chunks) (fewer if n is small)."""
    x = _tensor(x)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = x.shape[_dim(dim, x.ndim, "chunk")]
    size = max(-(-n // chunks), 1)
    return split(x, size, dim)


# --------------------------------------------------------------------------- pad


class Pad(Function):
    """z = x with a constant border (negative pads crop).   dx = the interior of g."""

    @staticmethod
    def forward(ctx, x, pad, value):
        nd = len(pad) // 2
        src = [slice(None)] * x.ndim
        dst = [slice(None)] * x.ndim
        shape = list(x.shape)
        for i in range(nd):
            axis = x.ndim - 1 - i
            lo, hi = pad[2 * i], pad[2 * i + 1]
            n = x.shape[axis]
            shape[axis] = n + lo + hi
            if shape[axis] < 0:
                raise RuntimeError(
                    f"pad: the padded size of dim {axis} would be {shape[axis]} "
                    f"(input shape {tuple(x.shape)}, pad {tuple(pad)})"
                )
            src[axis] = slice(max(-lo, 0), n - max(-hi, 0))
            dst[axis] = slice(max(lo, 0), max(lo, 0) + max(n - max(-lo, 0) - max(-hi, 0), 0))
        out = np.full(shape, value, dtype=x.dtype)
        out[tuple(dst)] = x[tuple(src)]
        ctx.shape, ctx.src, ctx.dst = x.shape, tuple(src), tuple(dst)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        gx = np.zeros(ctx.shape, grad_output.dtype)
        gx[ctx.src] = grad_output[ctx.dst]
        return gx, None, None


def pad(x: TensorLike, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad with a constant; ``pad`` lists (left, right) pairs starting from the last dim."""
    x = _tensor(x)
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise RuntimeError(
            f"pad: padding length must be even and at most 2 * ndim ({2 * x.ndim}), "
            f"got {len(pad)} for input shape {tuple(x.shape)}"
        )
    return Pad.apply(x, pad, 0 if value is None else value)
