"""``Identity`` and ``Linear``."""

from __future__ import annotations

import math
from typing import Any

from .. import dtypes
from ..creation import empty
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Identity", "Linear"]


def _factory_dtype(device: Any, dtype: Any) -> Any:
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"minigrad runs on the CPU only, got device {device!r}")
    return dtypes.as_dtype(dtype) or dtypes.get_default_dtype()


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as in torch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x @ W.T + b.

    Args:
        in_features: size of the last input dim.
        out_features: size of the last output dim.
        bias: learn an additive bias.

    Shapes: input ``(*, in_features)`` -> output ``(*, out_features)``; ``weight`` is
    ``(out_features, in_features)`` and ``bias`` ``(out_features,)``, torch's layout. Both are
    initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = _factory_dtype(device, dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features, dtype=dt))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's default.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            hint = ""
            if input.ndim >= 3 and math.prod(input.shape[1:]) == self.in_features:
                hint = (f"; the per-sample size {math.prod(input.shape[1:])} matches, so flatten "
                        "the input first: x.flatten(1) or put nn.Flatten() before this layer")
            elif input.ndim >= 2:
                hint = (f"; flatten the input (x.flatten(1) or nn.Flatten()) and check the previous "
                        f"layer's output size ({input.shape[-1]})")
            raise RuntimeError(
                f"{self!r} expects input of shape (*, {self.in_features}), got input of shape "
                f"{tuple(input.shape)} whose last dim is {input.shape[-1] if input.ndim else 'missing'}"
                f"{hint}"
            )
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
