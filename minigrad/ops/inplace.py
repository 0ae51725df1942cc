"""In-place updates: ``x += y``, ``x.add_(y)``, ``x[idx] = v``, ``fill_``, ``copy_``, and
``clone``.

Without a graph to record (under ``no_grad``, or when nothing requires grad) the tensor's
array is written in place and its version counter is bumped, so a backward that saved the
old values raises instead of using modified data. When a graph is recorded, the op is
computed out of place and the tensor is rebased onto it: the same Python object now holds
the new values and the new ``grad_fn``, and arrays saved earlier stay intact. A tensor whose
memory another live tensor shares (a view of it, the tensor it views, a detached alias) is not
rebased: that tensor would keep the old values, so the write raises instead.
"""

from __future__ import annotations

import numpy as np

from .. import autograd
from ..autograd import Function
from ..tensor import Tensor, _memory_sharers, _VersionCounter
from .elementwise import _tensor, cast


class Clone(Function):
    """z = copy of x.   dx = g."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class SetItem(Function):
    """z = x with z[index] = v.   dx = g with zeros at index,   dv = g[index]."""

    @staticmethod
    def forward(ctx, x, index, value):
        ctx.index = index
        out = x.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, grad_output):
        gx = None
        if ctx.needs_input_grad[0]:
            gx = grad_output.copy()
            gx[ctx.index] = 0
        gv = grad_output[ctx.index] if ctx.needs_input_grad[2] else None
        return gx, None, gv


def clone(x) -> Tensor:
    return Clone.apply(_tensor(x))


def _check_leaf(x: Tensor, op: str) -> None:
    if autograd.is_grad_enabled() and x.grad_fn is None and x._requires_grad:
        raise RuntimeError(
            f"{op}: a leaf Variable that requires grad is being used in an in-place operation. "
            "Wrap parameter updates in `with minigrad.no_grad():`."
        )


def _check_unshared(x: Tensor, op: str) -> None:
    """Refuse to rebase a tensor whose memory another live tensor shares (a view of it, the
    tensor it views, a detached alias): that tensor would keep the old values and its graph
    would not see the write (torch rewrites the base's graph; minigrad does not)."""
    others = _memory_sharers(x)
    if not others:
        return
    if any(o.grad_fn is None and o._requires_grad for o in others):
        raise RuntimeError(
            f"{op}: a view of a leaf Variable that requires grad is being used in an in-place "
            "operation. Wrap parameter updates in `with minigrad.no_grad():`."
        )
    shapes = ", ".join(str(tuple(o.shape)) for o in others[:3])
    raise RuntimeError(
        f"{op}: in-place operation on a tensor of shape {tuple(x.shape)} that shares memory with "
        f"another live tensor (of shape {shapes}: a view of it, the tensor it is a view of, or a "
        "detached alias) while the graph is recorded; minigrad would have to give the other "
        "tensor new values and gradients too. Compute out of place (y = y * 2, not y.mul_(2)) "
        "or .clone() before modifying."
    )


def _rebase(x: Tensor, result: Tensor, op: str = "inplace") -> Tensor:
    """Make ``x`` the output of ``result``'s op (graph recorded)."""
    _check_unshared(x, op)
    retained = x.retains_grad
    x.data = result.data
    x.grad_fn = result.grad_fn
    if retained:  # as in torch, .grad then holds the gradient for the new value
        x.retain_grad()
    x._requires_grad = True
    x._version = _VersionCounter([x._version[0] + 1])
    return x


def _write(x: Tensor, values: np.ndarray, op: str, index=Ellipsis) -> Tensor:
    """Write ``values`` into ``x.data[index]`` and bump the version counter."""
    if not x.data.flags.writeable:
        raise RuntimeError(
            f"{op}: this tensor's memory is read-only (an expanded/broadcast view); "
            "call .clone() first"
        )
    try:
        x.data[index] = values
    except ValueError as e:
        raise RuntimeError(
            f"{op}: cannot write a value of shape {tuple(values.shape)} into a tensor of shape "
            f"{tuple(x.data[index].shape)}: {e}"
        ) from None
    x._version[0] += 1
    return x


def inplace(x: Tensor, fn, *args, **kwargs) -> Tensor:
    """Run ``fn(x, *args)`` and store the result in ``x`` (keeping x's dtype)."""
    op = getattr(fn, "__name__", "inplace") + "_"
    _check_leaf(x, op)
    result = fn(x, *args, **kwargs)
    if result.shape != x.shape:
        raise RuntimeError(
            f"{op}: output with shape {tuple(x.shape)} doesn't match the broadcast shape "
            f"{tuple(result.shape)}"
        )
    if result.data.dtype.kind == "f" and x.data.dtype.kind in "biu":
        raise RuntimeError(
            f"{op}: result type {result.data.dtype.name} can't be cast to the desired output "
            f"type {x.data.dtype.name}"
        )
    if result.requires_grad:
        if result.data.dtype != x.data.dtype:
            result = cast(result, x.data.dtype)
        return _rebase(x, result, op)
    return _write(x, result.data, op)


def setitem(x: Tensor, index, value) -> None:
    """``x[index] = value`` (value: number, array or tensor; broadcast to the slot)."""
    from .indexing import normalize_index

    idx = normalize_index(index)
    _check_leaf(x, "setitem")
    v = value
    if isinstance(v, Tensor) and v.data.dtype != x.data.dtype:
        v = cast(v, x.data.dtype) if x.data.dtype.kind == "f" or v.data.dtype.kind != "f" else v
    track = autograd.is_grad_enabled() and (
        x._requires_grad or (isinstance(v, Tensor) and v._requires_grad)
    )
    if track:
        _check_unshared(x, "setitem")
        _rebase(x, SetItem.apply(x, idx, v if isinstance(v, Tensor) else np.asarray(v)), "setitem")
        return
    raw = v.data if isinstance(v, Tensor) else np.asarray(v)
    _write(x, raw, "setitem", idx)


def fill_(x: Tensor, value) -> Tensor:
    setitem(x, Ellipsis, value)
    return x


def copy_(x: Tensor, src) -> Tensor:
    src = _tensor(src)
    if src.data.dtype != x.data.dtype:
        src = cast(src, x.data.dtype)
    setitem(x, Ellipsis, src)
    return x
