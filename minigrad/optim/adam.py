"""Adam and AdamW (decoupled weight decay), with optional AMSGrad."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .optimizer import Optimizer, _check_float


def _zeros_like(p: Tensor) -> Tensor:
    return Tensor._make(np.zeros_like(p.data), False, None)


def _step_tensor() -> Tensor:
    # torch keeps the step count in a float32 scalar tensor.
    return Tensor._make(np.zeros((), np.float32), False, None)


class Adam(Optimizer):
    """``torch.optim.Adam``.

    Args:
        params: tensors or parameter groups.
        lr: learning rate.
        betas: decay rates of the first and second moment averages.
        eps: added to the bias-corrected ``sqrt`` of the second moment (torch's placement).
        weight_decay: L2 penalty added to the gradient (coupled; see ``AdamW``).
        amsgrad: normalise by the running maximum of the second moment.
        maximize: ascend instead of descend.
        decoupled_weight_decay: decay the weights directly (makes this AdamW).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        lr = _check_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam step over every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        for group, params in self._groups_to_update():
            amsgrad = group["amsgrad"]
            m, v, vmax, steps = [], [], [], []
            for p in params:
                st = self.state[p]
                if not st:
                    st["step"] = _step_tensor()
                    st["exp_avg"] = _zeros_like(p)
                    st["exp_avg_sq"] = _zeros_like(p)
                    if amsgrad:
                        st["max_exp_avg_sq"] = _zeros_like(p)
                m.append(st["exp_avg"].data)
                v.append(st["exp_avg_sq"].data)
                if amsgrad:
                    vmax.append(st["max_exp_avg_sq"].data)
                steps.append(st["step"].data)
            beta1, beta2 = group["betas"]
            F.adam(
                [p.data for p in params], [p.grad.data for p in params], m, v, vmax, steps,
                lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                weight_decay=group["weight_decay"], amsgrad=amsgrad,
                maximize=group["maximize"],
                decoupled_weight_decay=group.get("decoupled_weight_decay", False),
            )
        return loss


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (``p *= 1 - lr * wd`` before the
    Adam update). Same arguments as ``Adam``; ``weight_decay`` defaults to ``1e-2``."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
