"""Tensor factories: ``tensor``, ``zeros``, ``ones``, ``full``, ``arange``, ``rand``... (torch names)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .random import Generator, rng
from .tensor import Tensor


def _size(size: tuple) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list, np.ndarray)):
        size = tuple(size[0])
    out = tuple(int(s) for s in size)
    if any(s < 0 for s in out):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(out)}")
    return out


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr, False, None)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype: Any) -> np.dtype:
    return dtypes.as_dtype(dtype) or dtypes.get_default_dtype()


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    NumPy arrays keep their dtype; Python floats give float32 (the default dtype), ints
    int64, bools bool.
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array or tensor when it can."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)):
        return Tensor._make(data, False, None)
    return Tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (same dtype)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return Tensor._make(array, False, None)


def zeros(*size, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))`` (default float dtype)."""
    return _finish(np.zeros(_size(size), _float_dtype(dtype)), requires_grad)


def ones(*size, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))`` (default float dtype)."""
    return _finish(np.ones(_size(size), _float_dtype(dtype)), requires_grad)


def empty(*size, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of the given size (default float dtype)."""
    return _finish(np.empty(_size(size), _float_dtype(dtype)), requires_grad)


def _fill_dtype(value: Any) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return dtypes.bool
    if isinstance(value, (int, np.integer)):
        return dtypes.int64
    return dtypes.get_default_dtype()


def full(size, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred from the value)."""
    dt = dtypes.as_dtype(dtype) or _fill_dtype(fill_value)
    return _finish(np.full(_size((size,)), fill_value, dt), requires_grad)


def zeros_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with x's shape (and dtype unless given)."""
    return _finish(np.zeros(x.shape, dtypes.as_dtype(dtype) or x.dtype), requires_grad)


def ones_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with x's shape (and dtype unless given)."""
    return _finish(np.ones(x.shape, dtypes.as_dtype(dtype) or x.dtype), requires_grad)


def empty_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor with x's shape (and dtype unless given)."""
    return _finish(np.empty(x.shape, dtypes.as_dtype(dtype) or x.dtype), requires_grad)


def full_like(x: Tensor, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with x's shape (and dtype unless given)."""
    return _finish(np.full(x.shape, fill_value, dtypes.as_dtype(dtype) or x.dtype), requires_grad)


def arange(start, end=None, step=1, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 for integer arguments."""
    if end is None:
        start, end = 0, start
    args = (start, end, step)
    if dtype is None:
        ints = all(isinstance(a, (int, np.integer)) for a in args)
        dtype = dtypes.int64 if ints else dtypes.get_default_dtype()
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"arange: upper bound and lower bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    dt = dtypes.as_dtype(dtype)
    n = max(int(np.ceil((end - start) / step)), 0)
    arr = (start + step * np.arange(n, dtype=np.float64)).astype(dt) if dt.kind == "f" else \
        np.arange(start, end, step).astype(dt)
    return _finish(arr, requires_grad)


def linspace(start, end, steps: int, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    return _finish(np.linspace(start, end, int(steps)).astype(_float_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The (n, m) identity matrix (m defaults to n)."""
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def _random_float_dtype(dtype: Any, op: str) -> np.dtype:
    dt = _float_dtype(dtype)
    if dt.kind != "f":
        raise RuntimeError(f"{op}: expected a floating dtype, got {dtypes.dtype_name(dt)}")
    return dt


def rand(*size, generator: Generator | None = None, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    dt = _random_float_dtype(dtype, "rand")
    arr = rng(generator).random(_size(size), dtype=np.float64).astype(dt)
    return _finish(arr, requires_grad)


def randn(*size, generator: Generator | None = None, dtype: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    dt = _random_float_dtype(dtype, "randn")
    arr = rng(generator).standard_normal(_size(size)).astype(dt)
    return _finish(arr, requires_grad)


def randint(low: int, high: int | None = None, size=(), *, generator: Generator | None = None,
            dtype: Any = None) -> Tensor:
    """Integers uniform in [low, high) (``randint(high, size)`` also works)."""
    if high is None or isinstance(high, (tuple, list)):
        if isinstance(high, (tuple, list)):
            size = high
        low, high = 0, low
    arr = rng(generator).integers(low, high, size=_size((size,)))
    return _finish(arr.astype(dtypes.as_dtype(dtype) or dtypes.int64), False)


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None) -> Tensor:
    """A random permutation of 0..n-1."""
    arr = rng(generator).permutation(n)
    return _finish(arr.astype(dtypes.as_dtype(dtype) or dtypes.int64), False)


def rand_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples with x's shape (and dtype unless given)."""
    return rand(*x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


def randn_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with x's shape (and dtype unless given)."""
    return randn(*x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


def randint_like(x: Tensor, low: int, high: int | None = None, *, dtype: Any = None) -> Tensor:
    """Integers in [low, high) with x's shape (and dtype unless given)."""
    return randint(low, high, x.shape, dtype=dtype or x.dtype)
