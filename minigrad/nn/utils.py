"""Gradient clipping and parameter flattening (``torch.nn.utils``)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..ops import cat
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so their joint ``norm_type``-norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated; gradients are multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))`` in place.

    Returns:
        The total norm before clipping (a 0-d tensor).
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return Tensor._make(np.asarray(0.0, np.float32), False, None)
    dtype = grads[0].data.dtype
    if norm_type == np.inf:
        norms = [np.max(np.abs(g.data)) if g.data.size else np.asarray(0.0, dtype) for g in grads]
        total = np.max(np.stack(norms))
    else:
        norms = [np.linalg.norm(g.data.reshape(-1), ord=norm_type) for g in grads]
        total = np.linalg.norm(np.asarray(norms, np.float64), ord=norm_type)
    total = np.asarray(total, dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = np.minimum(np.asarray(max_norm, dtype) / (total + np.asarray(1e-6, dtype)),
                      np.asarray(1.0, dtype))
    for g in grads:
        g.data *= coef.astype(g.data.dtype)
        g._version[0] += 1
    return Tensor._make(total, False, None)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            np.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)
            p.grad._version[0] += 1


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (in place)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected minigrad.Tensor, but got: {type(vec).__name__}")
    data = vec.data
    offset = 0
    for p in parameters:
        n = p.data.size
        p.data[...] = data[offset:offset + n].reshape(p.data.shape)
        p._version[0] += 1
        offset += n
