"""Python face of the compiled kernels in ``csrc/``: same names and signatures as
``reference.py``. The wrappers make inputs C-contiguous and allocate outputs; the
extension loops see plain buffers."""

from __future__ import annotations

import numpy as np

from . import _elementwise

__all__ = ["relu_forward", "relu_backward", "build_info"]

_FLOATS = (np.float32, np.float64)


def build_info() -> dict:
    return {
        "openmp": _elementwise.openmp_available(),
        "omp_threads": _elementwise.get_num_threads(),
    }


def relu_forward(x: np.ndarray) -> np.ndarray:
    if x.dtype.type not in _FLOATS:
        return np.maximum(x, 0)
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _elementwise._relu_forward(x.reshape(-1), out.reshape(-1))
    return out


def relu_backward(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    if out.dtype.type not in _FLOATS:
        return np.where(out > 0, grad_output, 0)
    g = np.ascontiguousarray(np.broadcast_to(grad_output, out.shape), dtype=out.dtype)
    out = np.ascontiguousarray(out)
    gx = np.empty_like(out)
    _elementwise._relu_backward(g.reshape(-1), out.reshape(-1), gx.reshape(-1))
    return gx


def set_num_threads(n: int) -> None:
    _elementwise.set_num_threads(n)
