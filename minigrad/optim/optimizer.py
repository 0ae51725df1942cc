"""``Optimizer``: parameter groups, per-parameter state and torch's state-dict format.

Subclasses gather the arrays of the parameters that have a gradient and hand them to one
plain function in ``minigrad.optim.functional`` that holds the update math. Updates write
the parameters' arrays in place, so every reference to a parameter sees the new values.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor


class _RequiredParameter:
    """Marks a hyper-parameter that has no default (``torch.optim.optimizer.required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _as_state_tensor(value: Any, dtype: np.dtype | None) -> Tensor:
    """A fresh minigrad Tensor holding a copy of ``value`` (minigrad/torch tensor or array)."""
    if isinstance(value, Tensor):
        arr = value.data
    elif isinstance(value, np.ndarray):
        arr = value
    else:  # e.g. a torch tensor from torch.optim's state_dict
        detach = getattr(value, "detach", None)
        arr = np.asarray(detach().cpu().numpy() if detach is not None else value)
    arr = np.array(arr, dtype=dtype if dtype is not None else arr.dtype, copy=True)
    return Tensor._make(arr, False, None)


def _is_tensor_like(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray)) or (
        hasattr(value, "detach") and hasattr(value, "numpy")
    )


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``).

    Args:
        params: an iterable of tensors that require grad, or of dicts (parameter groups)
            with a ``"params"`` entry and per-group options overriding ``defaults``.
        defaults: the default value of every option.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` and every option filled in.
        state: ``state[p]`` is a dict of per-parameter buffers, created on the first step.
    """

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__module__}.{type(params).__name__}"
            )
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own options) to ``param_groups``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):  # named parameters: (name, tensor)
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are missing"
                )
            param_group["param_names"] = names

        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}"
                )
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)

        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default, cheapest) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.grad_fn is not None:
                        g.detach_()
                    if g.data.flags.writeable:
                        g.data.fill(0)
                    else:
                        g.data = np.zeros_like(g.data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once; ``closure`` re-evaluates the loss and is returned."""
        raise NotImplementedError

    def _closure_loss(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        from ..autograd import enable_grad

        with enable_grad():
            return closure()

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in torch's layout.

        ``{"state": {id: {name: value}}, "param_groups": [{option: value, "params": [ids]}]}``,
        where parameter ids count the parameters in group order. State tensors are the
        optimizer's own (not copies), as in torch; ``minigrad.save`` writes them out.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()`` (from minigrad or from ``torch.optim``).

        State tensors are copied (floating ones cast to their parameter's dtype; ``step``
        kept as it is), and each group's options are replaced by the saved ones.
        """
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = {
            saved_id: p
            for s, g in zip(saved_groups, groups)
            for saved_id, p in zip(s["params"], g["params"])
        }

        def cast(param: Tensor, value: Any, key: Any = None) -> Any:
            if key == "step" and isinstance(value, (int, float)):  # older plain-number steps
                return Tensor._make(np.array(value, np.float32), False, None)
            if _is_tensor_like(value):
                if key == "step":
                    return _as_state_tensor(value, None)
                dt = param.data.dtype if param.data.dtype.kind == "f" else None
                arr = _as_state_tensor(value, None)
                if arr.data.shape != param.data.shape and arr.data.size != 1:
                    raise ValueError(
                        f"loaded state dict has optimizer state {key!r} of shape "
                        f"{tuple(arr.data.shape)} for a parameter of shape {tuple(param.data.shape)}"
                    )
                if dt is not None and arr.data.dtype.kind == "f" and arr.data.dtype != dt:
                    arr = Tensor._make(arr.data.astype(dt), False, None)
                return arr
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return copy.deepcopy(value)

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            k = int(k) if isinstance(k, str) and k.isdigit() else k
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v)
            else:
                state[k] = v

        new_groups = []
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            for name, default in self.defaults.items():
                s.setdefault(name, default)
            if isinstance(s.get("betas"), list):
                s["betas"] = tuple(s["betas"])
            new_groups.append(s)
        self.state = state
        self.param_groups = new_groups

    # ------------------------------------------------------------------ helpers
    def _groups_to_update(self) -> Iterator[tuple[dict, list[Tensor]]]:
        """Yield ``(group, params that have a gradient)`` under ``no_grad``; after each group
        is updated, its parameters are marked modified in place (a backward that saved them
        then raises)."""
        with no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                yield group, params
                for p in params:
                    p._version[0] += 1


def _check_float(name: str, value: Any) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"Tensor {name} must be 1-element")
        return float(value.item())
    return value

