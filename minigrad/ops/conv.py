"""2-D convolution (``torch.nn.functional.conv2d``): validation, the ``Conv2d`` op.

The kernels (``backend.conv2d_forward`` / ``conv2d_backward``) lay the input out as
"columns" and run one matrix product per group; see the convolution section of
``minigrad/backend/reference.py``. Everything a kernel trusts is checked here first.
"""

from __future__ import annotations

import numbers

from .. import backend, dtypes
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import _tensor

__all__ = ["Conv2d", "conv2d"]

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]


class Conv2d(Function):
    """out = sum_{c,kh,kw} w[o,c,kh,kw] x_pad[n,c,oh*s+kh*d,ow*s+kw*d] + b[o] (cross-correlation).
    dx = col2im(w_g^T @ g_g),   dw_g = g_g @ columns_g^T,   db = g summed over (n, oh, ow).
    """

    @staticmethod
    def forward(ctx, x, w, b, stride: Pair, padding: Padding, dilation: Pair, groups: int):
        ctx.conf = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        if ctx.needs_input_grad[1]:
            # The weight gradient reuses the forward's columns (no second im2col).
            out, cols = backend.conv2d_forward(
                x, w, b, stride, padding, dilation, groups, keep_columns=True
            )
            ctx.save_for_backward(x, w, cols)
        else:
            out = backend.conv2d_forward(x, w, b, stride, padding, dilation, groups)
            ctx.save_for_backward(x, w, None)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x, w, cols = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx, gw, gb = backend.conv2d_backward(
            grad_output, x, w, *ctx.conf, needs[0], needs[1], ctx.has_bias and needs[2],
            columns=cols,
        )
        return gx, gw, gb, None, None, None, None


def _pair(name: str, value, minimum: int) -> Pair:
    """An int or a pair of ints, each >= minimum, as a pair."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"conv2d: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        kind = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"conv2d: {name} must be {kind}, got {value!r}")
    return pair


def conv2d_padding(padding, kernel_size: Pair, stride: Pair, dilation: Pair) -> Padding:
    """Normalise ``padding`` (int, pair, 'same' or 'valid') to ((top, bottom), (left, right)).

    'same' keeps the input size (stride 1 only, like torch); when the total padding of a
    dim is odd the extra row/column goes to the bottom/right, as in torch.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"conv2d: padding='same' is not supported for strided convolutions "
                    f"(stride={stride})"
                )
            out = []
            for k, d in zip(kernel_size, dilation):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            return out[0], out[1]
        raise ValueError(f"conv2d: invalid padding string {padding!r}, expected 'same' or 'valid'")
    ph, pw = _pair("padding", padding, 0)
    return (ph, ph), (pw, pw)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Pair = 1,
    padding: int | Pair | str = 0,
    dilation: int | Pair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution over NCHW input (torch.nn.functional.conv2d).

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        weight: (Cout, C/groups, KH, KW).
        bias: (Cout,) or None.
        stride, dilation: int or (h, w), positive.
        padding: int or (h, w) zero padding on both sides, 'valid' (none) or 'same'
            (output size = input size; stride 1 only).
        groups: split input and output channels into this many independent groups.

    Returns:
        (N, Cout, OH, OW) (or (Cout, OH, OW)) with
        OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1, likewise OW.
    """
    input, weight = _tensor(input), _tensor(weight)
    if bias is not None:
        bias = _tensor(bias)
    x_shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: expected weight of shape (out_channels, in_channels/groups, kH, kW), "
            f"got weight of shape {w_shape}"
        )
    if input.ndim not in (3, 4):
        raise ValueError(
            f"conv2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input (weight {w_shape}), "
            f"got input of shape {x_shape}"
        )
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive integer, got {groups!r}")
    groups = int(groups)
    for t, name in ((input, "input"), (weight, "weight"), (bias, "bias")):
        if t is not None and not dtypes.is_floating(t.dtype):
            raise TypeError(f"conv2d: expected a floating-point {name}, got dtype {t.dtype}")
    if weight.dtype != input.dtype or (bias is not None and bias.dtype != input.dtype):
        raise TypeError(
            f"conv2d: input ({input.dtype}), weight ({weight.dtype})"
            + (f" and bias ({bias.dtype})" if bias is not None else "")
            + " must have the same dtype"
        )
    cout, cin_g, kh, kw = w_shape
    if cout % groups:
        raise ValueError(
            f"conv2d: out_channels must be divisible by groups, got weight {w_shape} "
            f"with groups={groups}"
        )
    channels = x_shape[-3]
    if channels != cin_g * groups:
        raise ValueError(
            f"conv2d: expected input with {cin_g * groups} channel(s) (weight {w_shape}, "
            f"groups={groups}) but got input of shape {x_shape}; minigrad expects "
            f"{'NCHW' if input.ndim == 4 else 'CHW'}"
        )
    if bias is not None and tuple(bias.shape) != (cout,):
        raise ValueError(
            f"conv2d: expected bias of shape ({cout},) for weight {w_shape}, got bias of "
            f"shape {tuple(bias.shape)}"
        )
    if min(w_shape) < 1 or min(x_shape[-3:]) < 1:
        raise ValueError(
            f"conv2d: expected non-empty weight and input, got weight {w_shape}, input {x_shape}"
        )
    stride = _pair("stride", stride, 1)
    dilation = _pair("dilation", dilation, 1)
    pads = conv2d_padding(padding, (kh, kw), stride, dilation)
    h, w = x_shape[-2:]
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    padded = (h + sum(pads[0]), w + sum(pads[1]))
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"conv2d: kernel (weight {w_shape}, dilation {dilation}) spans {span[0]}x{span[1]} "
            f"but the padded input is only {padded[0]}x{padded[1]} (input of shape {x_shape}, "
            f"padding {padding!r})"
        )
    if input.ndim == 3:
        out = Conv2d.apply(input.unsqueeze(0), weight, bias, stride, pads, dilation, groups)
        return out.squeeze(0)
    return Conv2d.apply(input, weight, bias, stride, pads, dilation, groups)

