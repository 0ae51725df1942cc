"""Dtype names and torch's type-promotion rules.

minigrad's dtypes are NumPy dtypes under torch's names, so ``x.dtype == minigrad.float32``
and ``x.numpy().dtype`` agree.
"""

from __future__ import annotations

import builtins

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)

_default_float = float32


def get_default_dtype() -> np.dtype:
    """The dtype given to tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (float32 or float64), as ``torch.set_default_dtype``."""
    global _default_float
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are supported, got {dt}")
    _default_float = dt


def as_dtype(dtype) -> np.dtype | None:
    """Normalise anything dtype-like (``minigrad.float32``, ``np.float64``, ``"int64"``)."""
    if dtype is None:
        return None
    if dtype is builtins.float:
        return _default_float
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool
    return np.dtype(dtype)


def is_floating(dtype: np.dtype) -> builtins.bool:
    """Whether ``dtype`` is a floating-point dtype."""
    return dtype.kind == "f"


def dtype_name(dtype: np.dtype) -> str:
    """``'minigrad.float32'`` for float32 (the name repr shows)."""
    return f"minigrad.{dtype.name}"


# Category of a dtype for promotion: bool < integer < floating.
def _category(dtype: np.dtype) -> builtins.int:
    kind = dtype.kind
    if kind == "b":
        return 0
    if kind in "iu":
        return 1
    return 2


def _scalar_category(value) -> builtins.int:
    if isinstance(value, (builtins.bool, np.bool_)):
        return 0
    if isinstance(value, (builtins.int, np.integer)):
        return 1
    return 2


def result_type(operands) -> np.dtype:
    """torch's promotion for a mix of arrays and scalars.

    ``operands`` holds NumPy arrays (from tensors) and Python/NumPy scalars. As in torch,
    dimensioned arrays outrank 0-d arrays, which outrank scalars, unless a lower tier has a
    higher category (bool < int < float): ``float32 tensor * 2.5`` stays float32, but
    ``int64 tensor * 2.5`` becomes the default float dtype.
    """
    dims, zero_dims, scalars = [], [], []
    for op in operands:
        if isinstance(op, np.ndarray):
            (dims if op.ndim else zero_dims).append(op.dtype)
        else:
            scalars.append(op)
    best_dt = None
    best_cat = -1
    for tier in (dims, zero_dims):
        if not tier:
            continue
        cat = max(_category(d) for d in tier)
        if cat > best_cat:
            members = [d for d in tier if _category(d) == cat]
            best_dt = np.result_type(*members)
            best_cat = cat
    if scalars:
        cat = max(_scalar_category(s) for s in scalars)
        if cat > best_cat:
            best_dt = (bool, int64, _default_float)[cat]
            best_cat = cat
    return best_dt if best_dt is not None else _default_float
