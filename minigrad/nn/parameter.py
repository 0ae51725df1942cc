"""``Parameter``: a tensor that a ``Module`` registers as a learnable weight."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..tensor import Tensor, _VersionCounter


class Parameter(Tensor):
    """A leaf tensor that is a module's learnable weight (``torch.nn.Parameter``).

    Assigning a ``Parameter`` to a ``Module`` attribute registers it, so it shows up in
    ``parameters()`` and ``state_dict()``. Wrapping a tensor shares its memory.

    Args:
        data: a Tensor or array-like; an empty float tensor when None.
        requires_grad: whether the parameter is trained (True by default).
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = np.empty((0,), dtypes.get_default_dtype())
        elif isinstance(data, Tensor):
            arr = data.data
        elif isinstance(data, np.ndarray):
            arr = data
        else:
            arr = Tensor(data).data
        self.data = arr
        self.grad = None
        self.grad_fn = None
        self._version = data._version if isinstance(data, Tensor) else _VersionCounter([0])
        self._hooks = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self.data, self._requires_grad))

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.data.copy(), self._requires_grad)
        if self.grad is not None:
            p.grad = Tensor._make(self.grad.data.copy(), False, None)
        memo[id(self)] = p
        return p


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)
