"""Pooling ops: ``max_pool2d`` and ``avg_pool2d`` with ``torch.nn.functional`` semantics.

Inputs are (N, C, H, W) or unbatched (C, H, W). ``kernel_size``, ``stride``, ``padding`` and
``dilation`` are an int or a pair (height, width); ``stride`` defaults to ``kernel_size``.
Parameters are validated here, before any kernel runs, and bad ones raise ``ValueError``
naming the op and the shapes. The loops live in ``backend`` (``max_pool2d_forward`` ...).
"""

from __future__ import annotations

from numbers import Integral

from .. import backend
from ..autograd import Function
from ..backend.reference import pool2d_output_shape
from ..tensor import Tensor

__all__ = ["MaxPool2d", "AvgPool2d", "max_pool2d", "avg_pool2d"]


def _pair(op: str, name: str, value, default=None) -> tuple[int, int]:
    """An int or a 1/2-sequence of ints as a (height, width) pair."""
    if value is None or (isinstance(value, (tuple, list)) and len(value) == 0 and default is not None):
        return default
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2):
        if all(isinstance(v, Integral) and not isinstance(v, bool) for v in value):
            return (int(value[0]), int(value[-1]))
    raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def _as_batch(op: str, x: Tensor) -> tuple[int, int, int, int]:
    """The (N, C, H, W) shape the kernels see (unbatched inputs get N = 1)."""
    shape = tuple(x.shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {shape}")
    return shape if len(shape) == 4 else (1, *shape)


class MaxPool2d(Function):
    """z = max of x over each window (first maximum wins ties; NaN wins).   dx = g at each window's winner."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode, indices_sink):
        unbatched = x.ndim == 3
        x4 = x[None] if unbatched else x
        out, argmax = backend.max_pool2d_forward(x4, kernel, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(argmax)
        ctx.input_shape = x4.shape
        ctx.unbatched = unbatched
        ctx.params = (kernel, stride, padding, dilation)
        if indices_sink is not None:
            indices = backend.max_pool2d_indices(argmax, x4.shape, kernel, stride, padding, dilation)
            indices_sink.append(indices[0] if unbatched else indices)
        return out[0] if unbatched else out

    @staticmethod
    def backward(ctx, grad_output):
        (argmax,) = ctx.saved_tensors
        g = grad_output[None] if ctx.unbatched else grad_output
        gx = backend.max_pool2d_backward(g, argmax, ctx.input_shape, *ctx.params)
        return (gx[0] if ctx.unbatched else gx), None, None, None, None, None, None


class AvgPool2d(Function):
    """z = sum of x over each window / divisor.   dx = g / divisor spread over each window."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        unbatched = x.ndim == 3
        x4 = x[None] if unbatched else x
        out = backend.avg_pool2d_forward(
            x4, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
        )
        ctx.input_shape = x4.shape
        ctx.unbatched = unbatched
        ctx.params = (kernel, stride, padding, count_include_pad, divisor_override)
        return out[0] if unbatched else out

    @staticmethod
    def backward(ctx, grad_output):
        g = grad_output[None] if ctx.unbatched else grad_output
        gx = backend.avg_pool2d_backward(g, ctx.input_shape, *ctx.params)
        return (gx[0] if ctx.unbatched else gx), None, None, None, None, None, None


def max_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """2-D max pooling (``torch.nn.functional.max_pool2d``).

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding, dilation: int or (height, width); stride defaults to
            kernel_size, padding (implicitly -inf) at most half the kernel.
        ceil_mode: round the output size up (a last window may hang over the bottom/right
            edge if it starts inside the input or the top/left padding).
        return_indices: also return, per output element, the flat index ``ih * W + iw`` of
            the winner in its input plane (int64, torch's convention).

    Returns:
        (N, C, OH, OW) (or (C, OH, OW)), and the indices tensor of the same shape if asked.
    """
    op = "max_pool2d"
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.data.dtype.kind not in "fiu":
        raise TypeError(f"{op}: expected a floating point or integer input, got dtype {x.data.dtype}")
    shape4 = _as_batch(op, x)
    kernel = _pair(op, "kernel_size", kernel_size)
    stride = _pair(op, "stride", stride, default=kernel)
    padding = _pair(op, "padding", padding)
    dilation = _pair(op, "dilation", dilation)
    pool2d_output_shape(op, shape4, kernel, stride, padding, dilation, bool(ceil_mode))
    sink: list | None = [] if return_indices else None
    out = MaxPool2d.apply(x, kernel, stride, padding, dilation, bool(ceil_mode), sink)
    if return_indices:
        return out, Tensor._make(sink[0], False, None)
    return out


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling (``torch.nn.functional.avg_pool2d``).

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        kernel_size, stride, padding: int or (height, width); stride defaults to kernel_size,
            padding (zeros) at most half the kernel.
        ceil_mode: round the output size up (see ``max_pool2d``).
        count_include_pad: count the padding in the divisor (never a ceil_mode overhang).
        divisor_override: divide every window's sum by this nonzero int instead.

    Returns:
        (N, C, OH, OW) (or (C, OH, OW)).
    """
    op = "avg_pool2d"
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point input, got dtype {x.data.dtype}")
    shape4 = _as_batch(op, x)
    kernel = _pair(op, "kernel_size", kernel_size)
    stride = _pair(op, "stride", stride, default=kernel)
    padding = _pair(op, "padding", padding)
    if divisor_override is not None:
        if not isinstance(divisor_override, Integral) or isinstance(divisor_override, bool):
            raise ValueError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero (input shape {tuple(x.shape)})")
        divisor_override = int(divisor_override)
    pool2d_output_shape(op, shape4, kernel, stride, padding, (1, 1), bool(ceil_mode))
    return AvgPool2d.apply(
        x, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad), divisor_override
    )

