"""Functional interface (``torch.nn.functional``): stateless layer ops and losses.

Thin wrappers over the differentiable ops in ``minigrad.ops``: they add torch's signatures,
argument normalisation (``padding="same"``, unbatched inputs, legacy loss flags) and the
shape checks that turn common mistakes into messages naming the op and the shapes.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from .. import dtypes
from .. import ops as _ops
from ..ops.linalg import linear as _linear
from ..ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    nll_loss,
    reduction_from_legacy,
)
from ..ops.nn_ops import batch_norm, dropout, embedding
from ..tensor import Tensor

__all__ = [
    "linear",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "relu",
    "relu_",
    "leaky_relu",
    "elu",
    "sigmoid",
    "tanh",
    "gelu",
    "softplus",
    "softmax",
    "log_softmax",
    "dropout",
    "batch_norm",
    "embedding",
    "one_hot",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "pad",
]

_lazy: dict[str, Any] = {}


def _op(module: str, name: str) -> Any:
    """``minigrad.ops.<module>.<name>``, imported on first use (None if it does not exist)."""
    key = module + "." + name
    fn = _lazy.get(key)
    if fn is None:
        try:
            fn = getattr(importlib.import_module(f"minigrad.ops.{module}"), name)
        except (ImportError, AttributeError):
            return None
        _lazy[key] = fn
    return fn


def _require(module: str, name: str) -> Any:
    fn = _op(module, name)
    if fn is None:
        raise NotImplementedError(f"{name}: minigrad.ops.{module}.{name} is not available")
    return fn


# --------------------------------------------------------------------------- linear / conv


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias.   input: (*, in), weight: (out, in), bias: (out,) -> (*, out)."""
    x_shape, w_shape = input.shape, weight.shape
    if len(w_shape) == 2 and (not x_shape or x_shape[-1] != w_shape[1]):
        raise RuntimeError(
            f"linear: input of shape {tuple(input.shape)} has {input.shape[-1] if input.ndim else 0} "
            f"features in its last dim, but the weight of shape {tuple(weight.shape)} expects "
            f"{weight.shape[1]} (mat1 and mat2 shapes cannot be multiplied)"
        )
    return _linear(input, weight, bias)


def _check_conv_input(input: Tensor, weight: Tensor, groups: int, op: str) -> None:
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}"
        )
    c_in = weight.shape[1] * groups
    c = input.shape[-3]
    if c != c_in:
        hint = ""
        if input.shape[-1] == c_in:
            perm = "x.permute(0, 3, 1, 2)" if input.ndim == 4 else "x.permute(2, 0, 1)"
            hint = (f". The input looks channels-last (NHWC); minigrad expects NCHW "
                    f"(batch, channels, height, width): use {perm}")
        raise RuntimeError(
            f"{op}: weight of shape {tuple(weight.shape)} (groups={groups}) expects input with "
            f"{c_in} channels in dim {input.ndim - 3}, but got input of shape "
            f"{tuple(input.shape)} with {c} channels{hint}"
        )


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, torch's layout).

    input: (N, Cin, H, W) or (Cin, H, W); weight: (Cout, Cin/groups, KH, KW); bias: (Cout,).
    ``padding`` is an int, a pair, ``"valid"`` (no padding) or ``"same"`` (output size equals
    input size; stride 1 only; an odd total pads one more on the bottom/right, as torch).
    """
    if (isinstance(input, Tensor) and isinstance(weight, Tensor) and weight.ndim == 4
            and input.ndim in (3, 4) and isinstance(groups, int) and groups >= 1):
        # (other ranks and bad groups: the op raises a ValueError naming them)
        _check_conv_input(input, weight, groups, "conv2d")
    return _require("conv", "conv2d")(input, weight, bias, stride, padding, dilation, groups)


# --------------------------------------------------------------------------- pooling


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over (KH, KW) windows of (N, C, H, W) or (C, H, W); stride defaults to the kernel.

    With ``return_indices`` also the flat index ``ih * W + iw`` of each window's maximum.
    """
    return _require("pool", "max_pool2d")(input, kernel_size, stride, padding, dilation,
                                          ceil_mode, return_indices)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over (KH, KW) windows of (N, C, H, W) or (C, H, W); stride defaults to the kernel."""
    return _require("pool", "avg_pool2d")(input, kernel_size, stride, padding, ceil_mode,
                                          count_include_pad, divisor_override)


# --------------------------------------------------------------------------- activations


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    if inplace:
        return _ops.inplace(input, _ops.relu)
    return _ops.relu(input)


def relu_(input: Tensor) -> Tensor:
    """max(x, 0), written into ``input``."""
    return _ops.inplace(input, _ops.relu)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    if inplace:
        return _ops.inplace(input, _ops.leaky_relu, negative_slope)
    return _ops.leaky_relu(input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    if inplace:
        return _ops.inplace(input, _ops.elu, alpha)
    return _ops.elu(input, alpha)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), finite for any input."""
    return _ops.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return _ops.tanh(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (``approximate="tanh"``: the tanh approximation)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _ops.gelu(input, approximate)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold."""
    return _ops.softplus(input, beta, threshold)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (computed in ``dtype`` if given)."""
    return _ops.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """x - logsumexp(x) along ``dim``; stable for huge and -inf logits."""
    return _ops.log_softmax(input, dim, dtype)


# --------------------------------------------------------------------------- misc


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: shape ``tensor.shape + (num_classes,)``.

    ``num_classes=-1`` uses ``max + 1``.
    """
    t = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"one_hot is only applicable to index tensor (integer dtype), got "
            f"{dtypes.dtype_name(t.dtype)}: convert with .long()"
        )
    if t.size and t.min() < 0:
        raise RuntimeError("one_hot: Class values must be non-negative.")
    if num_classes == -1:
        if t.size == 0:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
        num_classes = int(t.max()) + 1
    elif t.size and t.max() >= num_classes:
        raise RuntimeError(
            f"one_hot: Class values must be smaller than num_classes (got value {int(t.max())} "
            f"with num_classes={num_classes})."
        )
    out = (t[..., None] == np.arange(num_classes)).astype(np.int64)
    return Tensor._make(out, False, None)


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims: ``pad = (left, right, top, bottom, ...)`` from the last dim backwards."""
    return _ops.pad(input, pad, mode, value)


# --------------------------------------------------------------------------- regression losses


def _check_pair(op: str, input: Tensor, target: Any) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=input.dtype)
    if tuple(input.shape) != tuple(target.shape):
        hint = ""
        if target.shape == input.shape + (1,) or input.shape == target.shape + (1,):
            hint = " (squeeze or unsqueeze the trailing size-1 dim so both match)"
        raise ValueError(
            f"{op}: target of shape {tuple(target.shape)} differs from input of shape "
            f"{tuple(input.shape)}{hint}; broadcasting them would give a wrong loss, so both must "
            "have the same shape"
        )
    if target.dtype != input.dtype and input.dtype.kind == "f":
        target = target.astype(input.dtype)
    return target


def _reduce_loss(loss: Tensor, reduction: str, weight: Tensor | None, op: str,
                 input: Tensor) -> Tensor:
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError(
                f"{op}: weight of shape {tuple(weight.shape)} must have the input's shape "
                f"{tuple(input.shape)}"
            )
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / weight.sum()
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean squared error; input and target must have the same shape.

    With ``weight`` (input's shape) the mean is ``sum(w * err^2) / sum(w)``, like torch.
    """
    reduction = reduction_from_legacy(size_average, reduce, reduction)
    target = _check_pair("mse_loss", input, target)
    diff = input - target
    return _reduce_loss(diff * diff, reduction, weight, "mse_loss", input)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean absolute error; input and target must have the same shape."""
    reduction = reduction_from_legacy(size_average, reduce, reduction)
    target = _check_pair("l1_loss", input, target)
    return _reduce_loss((input - target).abs(), reduction, weight, "l1_loss", input)
