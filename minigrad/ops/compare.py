"""Comparisons and logical ops: they return bool tensors and carry no gradient."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .elementwise import TensorLike, _tensor, promote
from .reductions import normalize_dims


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _compare(fn, x, y) -> Tensor:
    x, y = promote(x, y)
    try:
        out = fn(_raw(x), _raw(y))
    except ValueError:
        raise RuntimeError(
            f"{fn.__name__}: shapes {tuple(np.shape(_raw(x)))} and {tuple(np.shape(_raw(y)))} "
            "cannot be broadcast together"
        ) from None
    return Tensor._make(np.asarray(out), False, None)


def eq(x: TensorLike, y: TensorLike) -> Tensor:
    """x == y elementwise (bool tensor, no gradient)."""
    return _compare(np.equal, x, y)


def ne(x: TensorLike, y: TensorLike) -> Tensor:
    """x != y elementwise (bool tensor, no gradient)."""
    return _compare(np.not_equal, x, y)


def lt(x: TensorLike, y: TensorLike) -> Tensor:
    """x < y elementwise (bool tensor, no gradient)."""
    return _compare(np.less, x, y)


def le(x: TensorLike, y: TensorLike) -> Tensor:
    """x <= y elementwise (bool tensor, no gradient)."""
    return _compare(np.less_equal, x, y)


def gt(x: TensorLike, y: TensorLike) -> Tensor:
    """x > y elementwise (bool tensor, no gradient)."""
    return _compare(np.greater, x, y)


def ge(x: TensorLike, y: TensorLike) -> Tensor:
    """x >= y elementwise (bool tensor, no gradient)."""
    return _compare(np.greater_equal, x, y)


def _logical(fn, x, y) -> Tensor:
    return Tensor._make(np.asarray(fn(_raw(_tensor(x)), _raw(_tensor(y)))), False, None)


def logical_and(x: TensorLike, y: TensorLike) -> Tensor:
    """Elementwise logical and (bool tensor)."""
    return _logical(np.logical_and, x, y)


def logical_or(x: TensorLike, y: TensorLike) -> Tensor:
    """Elementwise logical or (bool tensor)."""
    return _logical(np.logical_or, x, y)


def logical_xor(x: TensorLike, y: TensorLike) -> Tensor:
    """Elementwise logical xor (bool tensor)."""
    return _logical(np.logical_xor, x, y)


def logical_not(x: TensorLike) -> Tensor:
    """Elementwise logical not; bitwise not for integer tensors (``~x``)."""
    x = _tensor(x)
    fn = np.invert if x.data.dtype.kind in "iu" else np.logical_not
    return Tensor._make(np.asarray(fn(x.data)), False, None)


def isnan(x: TensorLike) -> Tensor:
    """Where x is NaN (bool tensor)."""
    return Tensor._make(np.isnan(_tensor(x).data), False, None)


def isinf(x: TensorLike) -> Tensor:
    """Where x is +-inf (bool tensor)."""
    return Tensor._make(np.isinf(_tensor(x).data), False, None)


def isfinite(x: TensorLike) -> Tensor:
    """Where x is neither NaN nor +-inf (bool tensor)."""
    return Tensor._make(np.isfinite(_tensor(x).data), False, None)


def _bool_reduce(fn, x, dim, keepdim, op) -> Tensor:
    x = _tensor(x)
    axes = normalize_dims(dim, x.ndim, op)
    return Tensor._make(np.asarray(fn(x.data, axis=axes, keepdims=keepdim)), False, None)


def all(x: TensorLike, dim=None, keepdim: bool = False) -> Tensor:
    """Whether every element (over ``dim``) is nonzero (bool tensor)."""
    return _bool_reduce(np.all, x, dim, keepdim, "all")


def any(x: TensorLike, dim=None, keepdim: bool = False) -> Tensor:
    """Whether some element (over ``dim``) is nonzero (bool tensor)."""
    return _bool_reduce(np.any, x, dim, keepdim, "any")


def allclose(
    x: TensorLike, y: TensorLike, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> bool:
    """True if |x - y| <= atol + rtol * |y| everywhere."""
    return bool(np.allclose(_raw(_tensor(x)), _raw(_tensor(y)), rtol, atol, equal_nan))


def isclose(
    x: TensorLike, y: TensorLike, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> Tensor:
    """Where |x - y| <= atol + rtol * |y| (bool tensor)."""
    out = np.isclose(_raw(_tensor(x)), _raw(_tensor(y)), rtol, atol, equal_nan)
    return Tensor._make(np.asarray(out), False, None)


def equal(x: TensorLike, y: TensorLike) -> bool:
    """True if both have the same shape and elements."""
    a, b = _raw(_tensor(x)), _raw(_tensor(y))
    return a.shape == b.shape and bool(np.array_equal(a, b))
