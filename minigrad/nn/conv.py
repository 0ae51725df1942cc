"""``Conv2d``: 2-D convolution with torch's constructor, weight layout and init."""

from __future__ import annotations

import math
from typing import Any

from ..creation import empty
from ..tensor import Tensor
from . import functional as F
from . import init
from .linear import _factory_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d"]


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[0]), int(v[1]))
    return (int(v), int(v))


class Conv2d(Module):
    """2-D convolution over (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    Args:
        in_channels, out_channels: channel counts; both divisible by ``groups``.
        kernel_size, stride, dilation: int or (h, w).
        padding: int, (h, w), ``"valid"`` or ``"same"`` (stride 1 only).
        groups: split channels into independent groups.
        bias: learn a per-output-channel bias.
        padding_mode: only ``"zeros"``.

    ``weight`` is ``(out_channels, in_channels / groups, KH, KW)``; weight and bias are
    initialised from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups*KH*KW.
    H_out = floor((H + 2*padding - dilation*(KH - 1) - 1) / stride + 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = _factory_dtype(device, dtype)
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                f"padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], "
                f"but got padding_mode='{padding_mode}'"
            )
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"Conv2d: padding_mode={padding_mode!r} is not supported; only 'zeros'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.dilation = _pair(dilation)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of ['valid', 'same']"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _pair(padding)
        self.transposed = False
        self.output_padding = (0, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size, dtype=dt))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise RuntimeError(
                f"{self!r} expects a 4-D input (N, C, H, W) or an unbatched 3-D input (C, H, W), "
                f"got input of shape {tuple(input.shape)}"
            )
        if input.shape[-3] != self.in_channels:
            hint = ""
            if input.shape[-1] == self.in_channels:
                perm = "x.permute(0, 3, 1, 2)" if input.ndim == 4 else "x.permute(2, 0, 1)"
                hint = (f". The input looks channels-last (NHWC), but minigrad expects NCHW "
                        f"(batch, channels, height, width): use {perm}")
            raise RuntimeError(
                f"{self!r} expects input with {self.in_channels} channels in dim "
                f"{input.ndim - 3} (NCHW), got input of shape {tuple(input.shape)} with "
                f"{input.shape[-3]} channels{hint}"
            )
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
             f", stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
