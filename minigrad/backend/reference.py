"""Pure-NumPy reference kernels: the readable specification of every compiled kernel.

Each function here has a compiled twin with the same name and signature (see ``csrc/``).
NumPy arrays in, NumPy arrays out; no autograd. Tests hold the compiled kernels to these.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matmul", "relu_forward", "relu_backward"]


def matmul(
    a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False
) -> np.ndarray:
    """``op(a) @ op(b)``, where ``op`` swaps the last two dims when its flag is set.

    a: (..., M, K) (or (..., K, M) with transpose_a), b: (..., K, N) (or (..., N, K)).
    1-D operands follow ``np.matmul``. Returns (..., M, N).
    """
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


def relu_forward(x: np.ndarray) -> np.ndarray:
    """max(x, 0) elementwise; NaN stays NaN."""
    out = np.maximum(x, 0)
    return out if isinstance(out, np.ndarray) else np.asarray(out, dtype=x.dtype)


def relu_backward(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """grad_output where the forward output is positive, else 0."""
    return np.where(out > 0, grad_output, np.zeros((), grad_output.dtype))
