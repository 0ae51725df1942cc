"""Shape ops: reshape/view, squeeze/unsqueeze/flatten, transpose/permute, expand,
contiguous (forward + backward each). Forwards return NumPy views where NumPy can."""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .elementwise import TensorLike, _tensor


def _shape_arg(shape) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` like torch."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, np.ndarray)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


class Reshape(Function):
    """z = x viewed with a new shape.   dx = g reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.reshape(ctx.shape), None


class Permute(Function):
    """z = x with its dims reordered.   dx = g with the inverse order."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, grad_output):
        return np.transpose(grad_output, np.argsort(ctx.dims)), None


class Expand(Function):
    """z = x broadcast to a larger shape (a view).   dx = g summed over the new dims."""

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None  # the engine sums back to x's shape


class Contiguous(Function):
    """z = x in C order.   dx = g."""

    @staticmethod
    def forward(ctx, x):
        return np.ascontiguousarray(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def _infer_shape(shape: tuple, numel: int, op: str, in_shape: tuple) -> tuple:
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred, got shape {list(shape)}")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s} in {list(shape)}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(
                f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                f"(input shape {tuple(in_shape)})"
            )
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(
            f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
            f"(input shape {tuple(in_shape)})"
        )
    return shape


def reshape(x: TensorLike, *shape) -> Tensor:
    """The same elements in a new shape (one dim may be -1)."""
    x = _tensor(x)
    shape = _infer_shape(_shape_arg(shape), x.data.size, "reshape", x.shape)
    return Reshape.apply(x, shape)


def view(x: TensorLike, *shape) -> Tensor:
    """``x`` with a new shape, sharing its memory. As in torch, a layout that cannot be
    reshaped without a copy (e.g. a transposed matrix flattened) raises: ``reshape`` copies."""
    x = _tensor(x)
    shape = _infer_shape(_shape_arg(shape), x.data.size, "view", x.shape)
    if x.data.size and not np.may_share_memory(x.data.reshape(shape), x.data):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        )
    return Reshape.apply(x, shape)


def _dim(d: int, ndim: int, op: str) -> int:
    rank = max(ndim, 1)
    if not -rank <= d < rank:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], "
            f"but got {d})"
        )
    return d % rank


def flatten(x: TensorLike, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one."""
    x = _tensor(x)
    if x.ndim == 0:
        return Reshape.apply(x, (1,))
    s, e = _dim(start_dim, x.ndim, "flatten"), _dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (int(np.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
    return Reshape.apply(x, shape)


def unflatten(x: TensorLike, dim: int, sizes) -> Tensor:
    """Split dim ``dim`` into ``sizes``."""
    x = _tensor(x)
    d = _dim(dim, x.ndim, "unflatten")
    sizes = _infer_shape(tuple(sizes), x.shape[d], "unflatten", x.shape)
    return Reshape.apply(x, x.shape[:d] + sizes + x.shape[d + 1 :])


def squeeze(x: TensorLike, dim=None) -> Tensor:
    """Remove size-1 dims (all of them, or those in ``dim`` that have size 1)."""
    x = _tensor(x)
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        drop = {_dim(d, x.ndim, "squeeze") for d in dims} if x.ndim else set()
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in drop and s == 1))
    return Reshape.apply(x, shape)


def unsqueeze(x: TensorLike, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim``."""
    x = _tensor(x)
    d = _dim(dim, x.ndim + 1, "unsqueeze")
    return Reshape.apply(x, x.shape[:d] + (1,) + x.shape[d:])


def permute(x: TensorLike, *dims) -> Tensor:
    """Reorder dims: ``x.permute(2, 0, 1)``."""
    x = _tensor(x)
    dims = _shape_arg(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match "
            f"the length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} "
            f"is not equal to len(dims) = {len(dims)}"
        )
    dims = tuple(_dim(d, x.ndim, "permute") for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"permute(): duplicate dims are not allowed: {dims}")
    return Permute.apply(x, dims)


def transpose(x: TensorLike, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    x = _tensor(x)
    if x.ndim == 0:
        return x
    d0, d1 = _dim(dim0, x.ndim, "transpose"), _dim(dim1, x.ndim, "transpose")
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(x, tuple(dims))


def t(x: TensorLike) -> Tensor:
    """Transpose a tensor of at most 2 dims."""
    x = _tensor(x)
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def expand(x: TensorLike, *sizes) -> Tensor:
    """Broadcast to ``sizes`` without copying (-1 keeps a dim)."""
    x = _tensor(x)
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal "
            f"to the number of dimensions in the tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, new dimension ({i})")
            s = x.shape[i - lead]
        elif i >= lead and x.shape[i - lead] not in (1, s):
            raise RuntimeError(
                f"expand: the expanded size of the tensor ({s}) must match the existing size "
                f"({x.shape[i - lead]}) at non-singleton dimension {i}. "
                f"Target sizes: {list(sizes)}. Tensor sizes: {list(x.shape)}"
            )
        shape.append(s)
    return Expand.apply(x, tuple(shape))


def broadcast_to(x: TensorLike, shape) -> Tensor:
    """Broadcast to ``shape`` (as ``torch.broadcast_to``)."""
    return expand(x, tuple(shape))


def broadcast_shapes(*shapes) -> tuple:
    """The shape that ``shapes`` broadcast to (as ``torch.broadcast_shapes``)."""
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise RuntimeError(f"shapes {[tuple(s) for s in shapes]} cannot be broadcast together") from None


def contiguous(x: TensorLike) -> Tensor:
    """The tensor in C order (itself when it already is)."""
    x = _tensor(x)
    if x.data.flags.c_contiguous:
        return x
    return Contiguous.apply(x)
