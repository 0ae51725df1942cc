"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import functional as F
from .optimizer import Optimizer, _check_float, required


class SGD(Optimizer):
    """``torch.optim.SGD``: ``p -= lr * g`` with optional momentum buffer.

    Args:
        params: tensors or parameter groups.
        lr: learning rate (required, as in torch).
        momentum: momentum factor; the first step stores the gradient itself.
        dampening: scales the gradient added to the momentum buffer by ``1 - dampening``.
        weight_decay: L2 penalty added to the gradient (``g + weight_decay * p``).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Any,
        lr: float = required,  # type: ignore[assignment]
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        lr = _check_float("lr", lr)
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD step over every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        for group, params in self._groups_to_update():
            bufs: list = [None] * len(params)
            if group["momentum"] != 0:
                for i, p in enumerate(params):
                    buf = self.state[p].get("momentum_buffer")
                    bufs[i] = None if buf is None else buf.data
            F.sgd(
                [p.data for p in params], [p.grad.data for p in params], bufs,
                lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                maximize=group["maximize"],
            )
            if group["momentum"] != 0:
                for p, buf in zip(params, bufs):
                    st = self.state[p]
                    if "momentum_buffer" not in st or st["momentum_buffer"] is None:
                        st["momentum_buffer"] = _wrap(buf)
        return loss


def _wrap(arr):
    from ..tensor import Tensor

    return Tensor._make(arr, False, None)
