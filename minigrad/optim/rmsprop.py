"""RMSprop, optionally centered and with momentum."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import functional as F
from .adam import _step_tensor, _zeros_like
from .optimizer import Optimizer, _check_float


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``.

    Args:
        params: tensors or parameter groups.
        lr: learning rate.
        alpha: smoothing constant of the squared-gradient average.
        eps: added to the root of the average.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor applied to ``g / avg``.
        centered: normalise by the estimated variance (subtract the squared mean gradient).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        lr = _check_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RMSprop step over every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        for group, params in self._groups_to_update():
            sq, ga, bufs, steps = [], [], [], []
            for p in params:
                st = self.state[p]
                if not st:
                    st["step"] = _step_tensor()
                    st["square_avg"] = _zeros_like(p)
                    if group["momentum"] > 0:
                        st["momentum_buffer"] = _zeros_like(p)
                    if group["centered"]:
                        st["grad_avg"] = _zeros_like(p)
                sq.append(st["square_avg"].data)
                ga.append(st["grad_avg"].data if "grad_avg" in st else None)
                bufs.append(st["momentum_buffer"].data if "momentum_buffer" in st else None)
                steps.append(st["step"].data)
            F.rmsprop(
                [p.data for p in params], [p.grad.data for p in params], sq, ga, bufs, steps,
                lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                weight_decay=group["weight_decay"], momentum=group["momentum"],
                centered=group["centered"], maximize=group["maximize"],
            )
        return loss
