"""Checking gradients and training setups.

- ``gradcheck``: a backward against central finite differences (no torch needed);
- ``compare_with_torch``: a function's outputs and input gradients against PyTorch;
- ``check_module``: a whole module against its torch twin, every gradient by parameter name;
- ``check_initial_loss``, ``overfit_one_batch``, ``check_prediction_collapse``: the classic
  training sanity checks (loss at init, overfitting one batch, collapsed predictions).

All are public: anyone writing a custom ``Function`` or a model needs them.

    from minigrad.testing import gradcheck
    x = minigrad.randn(3, 4, dtype=minigrad.float64, requires_grad=True)
    gradcheck(lambda t: (t * t).sum(dim=1), x)          # True, or raises GradcheckError
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import autograd
from .tensor import Tensor

__all__ = [
    "GradcheckError",
    "gradcheck",
    "compare_with_torch",
    "check_module",
    "Report",
    "ReportItem",
    "check_initial_loss",
    "overfit_one_batch",
    "check_prediction_collapse",
    "OverfitResult",
    "CollapseReport",
    "SanityCheckError",
    "InitialLossWarning",
    "OverfitWarning",
    "PredictionCollapseWarning",
]


class GradcheckError(RuntimeError):
    """Analytic and numeric gradients disagree (raised by ``gradcheck``)."""


# --------------------------------------------------------------------------- gradcheck


def _as_outputs(out: Any, kind: type = Tensor) -> list:
    """A function's result as a flat list of tensors (a tensor, or nested tuples/lists of them)."""
    if isinstance(out, kind):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _as_outputs(o, kind)]
    raise TypeError(f"expected a tensor or a tuple of tensors as the result, got {type(out).__name__}")


def _floating_outputs(outs: list[Tensor]) -> list[Tensor]:
    return [o for o in outs if o.data.dtype.kind == "f"]


def gradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check ``fn``'s backward against central finite differences in float64.

    Every input that is a floating tensor with ``requires_grad=True`` is checked; other
    inputs (tensors that need no grad, numbers, index arrays) are passed through unchanged.
    The check runs on float64 copies of the checked inputs (a ``UserWarning`` is issued for
    a float32 input: its precision is too low for finite differences); the originals and
    their ``.grad`` are not touched.

    ``fn`` may return a tensor of any shape or a tuple of tensors (non-floating outputs,
    such as indices, are ignored). Rather than the full Jacobian, the check uses one fixed
    random cotangent ``c`` per output (seeded, so results are reproducible) and compares
    the vector-Jacobian product ``d/dx sum(c * fn(x))`` from backward with central
    differences ``(L(x + eps e_i) - L(x - eps e_i)) / (2 eps)`` of ``L = sum(c * fn(x))``,
    element by element. That costs two forward passes per input element and catches any
    wrong Jacobian entry unless the random cotangent happens to hide it (probability zero).

    An element passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Args:
        fn: the function under test; called as ``fn(*inputs)``.
        inputs: a tensor, or a tuple of tensors and non-tensor arguments.
        eps: finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance.

    Returns:
        True when every checked gradient agrees.

    Raises:
        GradcheckError: naming the input (index and shape), the worst element's index,
            the analytic and numeric values there and the tolerances.
    """
    single = isinstance(inputs, Tensor)
    args = [inputs] if single else list(inputs)
    checked: list[int] = []
    copies: list[Any] = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and a.requires_grad and a.data.dtype.kind == "f":
            if a.data.dtype != np.float64:
                warnings.warn(
                    f"gradcheck: input {i} has dtype {a.data.dtype.name}; the check runs on a "
                    "float64 copy (finite differences need float64 precision)",
                    UserWarning,
                    stacklevel=2,
                )
            copies.append(Tensor._make(np.array(a.data, dtype=np.float64, order="C"), True, None))
            checked.append(i)
        else:
            copies.append(a)
    if not checked:
        raise ValueError("gradcheck: no input is a floating tensor with requires_grad=True")

    # Analytic: backprop the fixed cotangents.
    with autograd.enable_grad():
        outs = _floating_outputs(_as_outputs(fn(*copies)))
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point tensor to differentiate")
    rng = np.random.default_rng(0)
    cots = [rng.standard_normal(o.shape).astype(o.data.dtype) for o in outs]
    for o, c in zip(outs, cots):
        if o.requires_grad:
            o.backward(c, retain_graph=True)
    analytic = {}
    for i in checked:
        g = copies[i].grad
        analytic[i] = np.zeros(copies[i].shape) if g is None else np.array(g.data, np.float64)

    def loss() -> float:
        with autograd.no_grad():
            res = _floating_outputs(_as_outputs(fn(*copies)))
        return float(sum(np.sum(np.asarray(r.data, np.float64) * c) for r, c in zip(res, cots)))

    # Numeric: central differences, one element at a time.
    for i in checked:
        data = copies[i].data
        flat = data.reshape(-1)  # a view: data is a fresh C-contiguous copy
        numeric = np.zeros(data.size)
        for k in range(data.size):
            orig = flat[k]
            flat[k] = orig + eps
            plus = loss()
            flat[k] = orig - eps
            minus = loss()
            flat[k] = orig
            numeric[k] = (plus - minus) / (2 * eps)
        numeric = numeric.reshape(data.shape)
        ana = analytic[i]
        err = np.abs(ana - numeric)
        bound = atol + rtol * np.abs(numeric)
        bad = ~(err <= bound)  # NaN counts as a failure
        if np.any(bad):
            ratio = np.where(np.isnan(err), np.inf, err / bound)
            worst = np.unravel_index(int(np.argmax(np.where(bad, ratio, -1.0))), data.shape)
            worst = tuple(int(w) for w in worst)
            raise GradcheckError(
                f"gradcheck: gradient mismatch for input {i} (shape {tuple(data.shape)}): "
                f"{int(bad.sum())} of {data.size} elements differ; worst at index {worst}: "
                f"analytic {float(ana[worst])!r} vs numeric {float(numeric[worst])!r} "
                f"(|diff| {err[worst]:.3e} > atol {atol:g} + rtol {rtol:g} * |numeric|; eps {eps:g})"
            )
    return True


# --------------------------------------------------------------------------- compare_with_torch


@dataclass
class ReportItem:
    """One compared quantity: an output or an input's gradient."""

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


@dataclass
class Report:
    """The result of ``compare_with_torch`` or ``check_module``: one row per compared quantity
    (outputs, the loss, input gradients, parameter gradients, buffers)."""

    items: list[ReportItem] = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0
    title: str = "compare_with_torch"

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        rows = [("item", "shape", "max abs diff", "max rel diff", "ok", "")]
        for it in self.items:
            rows.append(
                (
                    it.name,
                    str(it.shape),
                    f"{it.max_abs:.3e}",
                    f"{it.max_rel:.3e}",
                    "ok" if it.ok else "MISMATCH",
                    it.note,
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = [f"{self.title} (atol={self.atol:g}, rtol={self.rtol:g})"]
        for r in rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        return "\n".join(lines)

    __repr__ = __str__


def _diff(name: str, got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> ReportItem:
    """Compare ``got`` (minigrad) with ``want`` (torch) like ``np.allclose(got, want)``."""
    shape = tuple(want.shape)
    if got.shape != want.shape:
        return ReportItem(name, shape, np.inf, np.inf, False, f"shape {tuple(got.shape)} != {shape}")
    notes = []
    ok = True
    if got.dtype != want.dtype:
        notes.append(f"dtype {got.dtype.name} != {want.dtype.name}")
        ok = False
    if got.size == 0:
        return ReportItem(name, shape, 0.0, 0.0, ok, "; ".join(notes))
    g = got.astype(np.float64) if got.dtype.kind in "biuf" else got
    w = want.astype(np.float64) if want.dtype.kind in "biuf" else want
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    if np.any(nan_g != nan_w):
        notes.append("NaN positions differ")
        ok = False
    both = ~(nan_g | nan_w)
    same_inf = (g == w) & both  # equal infinities count as equal
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(same_inf | ~both, 0.0, np.abs(g - w))
        nonzero = both & (w != 0)
        rel = np.where(nonzero, err / np.abs(np.where(nonzero, w, 1)), np.where(err > 0, np.inf, 0.0))
    max_abs = float(err.max())
    max_rel = float(rel.max())
    close = err <= atol + rtol * np.abs(np.where(both, w, 0))
    if not np.all(close):
        ok = False
        worst = tuple(int(k) for k in np.unravel_index(int(np.argmax(np.where(close, -1, err))), err.shape))
        notes.append(f"worst at {worst}: minigrad {float(g[worst])!r} vs torch {float(w[worst])!r}")
    return ReportItem(name, shape, max_abs, max_rel, ok, "; ".join(notes))


def _compare_outputs(report: Report, mg_outs: list, th_outs: list) -> bool:
    """Add one row per output (``output``, or ``output[k]`` for several); True when the
    outputs agree in number and shapes (so gradients can be compared)."""
    if len(mg_outs) != len(th_outs):
        report.items.append(
            ReportItem(
                "outputs",
                (),
                np.inf,
                np.inf,
                False,
                f"minigrad returned {len(mg_outs)} tensors, torch {len(th_outs)}",
            )
        )
    multi = len(th_outs) > 1
    for k, (m, t) in enumerate(zip(mg_outs, th_outs)):
        name = f"output[{k}]" if multi else "output"
        report.items.append(_diff(name, m.detach().data, t.detach().numpy(), report.atol, report.rtol))
    return len(mg_outs) == len(th_outs) and all(
        tuple(m.shape) == tuple(t.shape) for m, t in zip(mg_outs, th_outs)
    )


def _cotangent_losses(mg_outs: list, th_outs: list, seed: int) -> tuple[Any, Any]:
    """``sum((out * c).sum())`` in both frameworks, with the same random ``c`` per floating
    output (drawn from ``seed``); None for a framework whose outputs need no grad."""
    import torch

    rng = np.random.default_rng(seed)
    mg_loss = None
    th_loss = None
    for m, t in zip(mg_outs, th_outs):
        if not t.dtype.is_floating_point:
            continue
        c = rng.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype)
        if t.requires_grad:
            tl = (t * torch.from_numpy(c)).sum()
            th_loss = tl if th_loss is None else th_loss + tl
        if m.requires_grad:
            ml = (m * Tensor._make(c, False, None)).sum()
            mg_loss = ml if mg_loss is None else mg_loss + ml
    return mg_loss, th_loss


def _grad_item(name: str, m: Any, t: Any, atol: float, rtol: float) -> ReportItem | None:
    """Compare ``m.grad`` (minigrad) with ``t.grad`` (torch); a missing one counts as zeros
    and the row says so. None when neither has a gradient."""
    want = t.grad
    got = m.grad
    if want is None and got is None:
        return None
    w = np.zeros(t.shape, t.detach().numpy().dtype) if want is None else want.numpy()
    g = np.zeros(m.shape, m.data.dtype) if got is None else got.data
    item = _diff(name, g, w, atol, rtol)
    if got is None or want is None:
        item.note = ("minigrad grad is None" if got is None else "torch grad is None") + (
            "; " + item.note if item.note else ""
        )
    return item


def compare_with_torch(
    mg_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    *arrays: Any,
    requires_grad: bool = True,
    dtype: Any = np.float64,
    atol: float = 1e-9,
    rtol: float = 1e-7,
    seed: int = 0,
    raise_on_mismatch: bool = True,
) -> Report:
    """Run ``mg_fn`` and ``torch_fn`` on the same data and compare outputs and gradients.

    Each NumPy array (or NumPy scalar, as a 0-d array) in ``arrays`` becomes a minigrad
    tensor and a torch tensor with the same values (floating arrays are first cast to
    ``dtype``; integer and bool arrays keep their dtype and never require grad); any other
    argument (Python numbers, tuples, None) is passed to both functions unchanged. Both
    functions may return a tensor or a (nested) tuple of tensors, such as ``max(dim)``'s
    ``(values, indices)``.

    The same random cotangent ``c`` (from ``seed``, one per floating output) is
    backpropagated in both frameworks as ``sum((out * c).sum())``; then every output and
    every input gradient are compared, torch being the reference: an element passes when
    ``|mg - torch| <= atol + rtol * |torch|``, NaNs must sit at the same places, and shapes
    and dtypes must match. A gradient that one framework leaves as None counts as zeros
    (and the report says so).

    Args:
        mg_fn: the minigrad function, called with minigrad tensors.
        torch_fn: the reference, called with torch tensors.
        arrays: NumPy arrays (become tensors) and pass-through arguments.
        requires_grad: make the floating tensors require grad and compare gradients.
        dtype: floating dtype for the floating arrays (float64 for tight checks).
        atol: absolute tolerance.
        rtol: relative tolerance.
        seed: seed of the random cotangent.
        raise_on_mismatch: raise ``AssertionError`` with the report table on any mismatch.

    Returns:
        The ``Report``: ``report.ok``, ``report.items`` (one ``ReportItem`` per output and
        per input gradient: max abs diff, max rel diff, ok) and a table via ``str(report)``::

            compare_with_torch (atol=1e-09, rtol=1e-07)
            item     shape   max abs diff  max rel diff  ok
            output   (3, 4)  0.000e+00     0.000e+00     ok
            grad[0]  (3, 4)  2.220e-16     1.117e-16     ok

    Example::

        compare_with_torch(lambda x, y: (x @ y).relu(), lambda x, y: (x @ y).relu(),
                           np.random.randn(3, 4), np.random.randn(4, 2))
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the table, not this body
    import torch

    dtype = np.dtype(dtype)
    mg_args: list[Any] = []
    th_args: list[Any] = []
    leaves: list[tuple[int, Tensor, Any]] = []
    for i, a in enumerate(arrays):
        if isinstance(a, (np.ndarray, np.generic)):  # NumPy scalars act as 0-d arrays
            arr = np.asarray(a)
            if arr.dtype.kind == "f":
                arr = arr.astype(dtype)
            grad = requires_grad and arr.dtype.kind == "f"
            m = Tensor._make(arr.copy(), False, None)
            if grad:
                m.requires_grad_(True)
            t = torch.tensor(arr.copy(), requires_grad=grad)
            mg_args.append(m)
            th_args.append(t)
            if grad:
                leaves.append((i, m, t))
        else:
            mg_args.append(a)
            th_args.append(a)

    mg_outs = _as_outputs(mg_fn(*mg_args))
    th_outs = _as_outputs(torch_fn(*th_args), torch.Tensor)
    report = Report(atol=atol, rtol=rtol)
    same_shapes = _compare_outputs(report, mg_outs, th_outs)
    if leaves and not same_shapes:
        report.items.append(
            ReportItem("gradients", (), np.inf, np.inf, False, "not compared: the outputs differ in shape")
        )
    elif leaves:
        mg_loss, th_loss = _cotangent_losses(mg_outs, th_outs, seed)
        if th_loss is not None:
            th_loss.backward()
        if mg_loss is not None:
            mg_loss.backward()
        for i, m, t in leaves:
            item = _grad_item(f"grad[{i}]", m, t, atol, rtol)
            if item is not None:
                report.items.append(item)

    if raise_on_mismatch and not report.ok:
        raise AssertionError("minigrad and torch differ\n" + str(report))
    return report


# --------------------------------------------------------------------------- check_module


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[dtype]


def _module_inputs(input: Any, dtype: np.dtype) -> list[np.ndarray]:
    """``input`` (an array, a tensor of either framework, or a tuple of them) as arrays."""
    items = list(input) if isinstance(input, (tuple, list)) else [input]
    arrays = []
    for a in items:
        if isinstance(a, Tensor):
            a = a.detach().data
        elif hasattr(a, "detach") and hasattr(a, "numpy"):  # a torch tensor
            a = a.detach().cpu().numpy()
        arr = np.array(a, copy=True)
        if arr.dtype.kind == "f":
            arr = arr.astype(dtype)
        arrays.append(arr)
    return arrays


def _loss_pair(loss: Any, target: np.ndarray) -> tuple[Callable, Callable, str]:
    """(minigrad loss fn, torch loss fn, name) from a name in both ``functional`` modules, a
    pair of callables, or the default for ``target`` (cross-entropy for integer targets, else
    mean squared error)."""
    import torch.nn.functional as TF

    from .nn import functional as F

    if loss is None:
        loss = "cross_entropy" if target.dtype.kind in "iu" else "mse_loss"
    if isinstance(loss, str):
        if not hasattr(F, loss) or not hasattr(TF, loss):
            raise ValueError(
                f"check_module: loss={loss!r} is not a function of both minigrad.nn.functional and "
                "torch.nn.functional; pass a pair (minigrad_fn, torch_fn) instead"
            )
        return getattr(F, loss), getattr(TF, loss), loss
    if isinstance(loss, (tuple, list)) and len(loss) == 2 and all(callable(f) for f in loss):
        return loss[0], loss[1], "loss"
    raise TypeError(
        "check_module: loss must be None, a name such as 'cross_entropy', or a pair "
        f"(minigrad_fn, torch_fn), got {type(loss).__name__}"
    )


def check_module(
    mg_module: Any,
    torch_module: Any,
    input: Any,
    *,
    direction: str = "torch_to_minigrad",
    dtype: Any = np.float64,
    atol: float = 1e-9,
    rtol: float = 1e-7,
    target: Any = None,
    loss: Any = None,
    seed: int = 0,
    raise_on_mismatch: bool = True,
) -> Report:
    """Check a minigrad module against its torch twin: same weights, same input, compare the
    outputs and every gradient by parameter name.

    Steps: both modules are cast to ``dtype`` (in place); the weights are copied across
    through ``state_dict`` (torch's keys: ``0.weight``, ``fc1.bias``; from torch into minigrad,
    or the reverse with ``direction="minigrad_to_torch"``); both run forward on the same
    input, then backward: with the same random cotangent ``c`` (``sum(out * c)``, from
    ``seed``), or with ``loss(out, target)`` when ``target`` is given. Existing ``.grad`` are
    cleared first, so after the call both modules hold the compared gradients.

    The report has one row per output, for the loss (if any), for the input gradient
    (``input.grad``, ``input[i].grad`` for several inputs), for every parameter's gradient
    (``<name>.grad``, e.g. ``0.weight.grad``) and for every floating buffer after the
    forward (``<name>``, e.g. BatchNorm's ``1.running_mean``). An element passes when
    ``|minigrad - torch| <= atol + rtol * |torch|``. Modules stay in their current
    train/eval mode; put modules with randomness (Dropout) in eval mode first.

    Args:
        mg_module: the minigrad ``nn.Module`` under test.
        torch_module: the reference ``torch.nn.Module`` with the same structure.
        input: a NumPy array (or a tensor of either framework), or a tuple of them for a
            module that takes several inputs. Floating inputs are cast to ``dtype`` and get
            a gradient; integer ones (indices) are passed as they are.
        direction: ``"torch_to_minigrad"`` (default) or ``"minigrad_to_torch"``: which
            module's weights are copied into the other.
        dtype: ``np.float64`` (default, for tight tolerances) or ``np.float32``.
        atol, rtol: tolerances.
        target: if given, backpropagate ``loss(output, target)`` instead of a cotangent.
        loss: with ``target``: a name of both ``minigrad.nn.functional`` and
            ``torch.nn.functional`` (``"cross_entropy"``, ``"mse_loss"``, ...) or a pair
            ``(minigrad_fn, torch_fn)``; default cross-entropy for an integer target, else
            ``mse_loss``.
        seed: seed of the random cotangent.
        raise_on_mismatch: raise ``AssertionError`` with the report table on any mismatch.

    Returns:
        The ``Report`` (``report.ok``, ``report.items``, ``str(report)`` for the table)::

            check_module Sequential (train), torch_to_minigrad (atol=1e-09, rtol=1e-07)
            item           shape   max abs diff  max rel diff  ok
            output         (5, 3)  0.000e+00     0.000e+00     ok
            input.grad     (5, 4)  0.000e+00     0.000e+00     ok
            0.weight.grad  (8, 4)  0.000e+00     0.000e+00     ok
            0.bias.grad    (8,)    5.551e-17     1.790e-16     ok
            2.weight.grad  (3, 8)  2.327e+00     1.000e+00     MISMATCH  worst at (2, 3): ...
            2.bias.grad    (3,)    4.441e-16     2.160e-16     ok

    Raises:
        ValueError: the two modules' state_dict keys or shapes differ, or a bad argument.
        AssertionError: with the table, when something differs and ``raise_on_mismatch``.
    """
    __tracebackhide__ = True
    import torch

    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"check_module: dtype must be float32 or float64, got {dtype}")
    if direction not in ("torch_to_minigrad", "minigrad_to_torch"):
        raise ValueError(
            f"check_module: direction must be 'torch_to_minigrad' or 'minigrad_to_torch', got {direction!r}"
        )
    if not isinstance(torch_module, torch.nn.Module):
        raise TypeError(
            f"check_module: torch_module must be a torch.nn.Module, got {type(torch_module).__name__}"
        )
    if not hasattr(mg_module, "state_dict") or not hasattr(mg_module, "named_parameters"):
        raise TypeError(
            f"check_module: mg_module must be a minigrad nn.Module, got {type(mg_module).__name__}"
        )

    # Same dtype, same weights.
    mg_module._apply_to_floats(dtype)
    torch_module.to(_torch_dtype(dtype))
    mg_state = mg_module.state_dict()
    th_state = torch_module.state_dict()
    if set(mg_state) != set(th_state):
        only_mg = [k for k in mg_state if k not in th_state]
        only_th = [k for k in th_state if k not in mg_state]
        raise ValueError(
            "check_module: the modules' state_dict keys differ: only in minigrad "
            f"{only_mg}, only in torch {only_th}"
        )
    for k in th_state:
        if tuple(mg_state[k].shape) != tuple(th_state[k].shape):
            raise ValueError(
                f"check_module: {k} has shape {tuple(mg_state[k].shape)} in minigrad but "
                f"{tuple(th_state[k].shape)} in torch"
            )
    if direction == "torch_to_minigrad":
        mg_module.load_state_dict({k: v.detach().cpu().numpy() for k, v in th_state.items()})
    else:
        torch_module.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in mg_state.items()})
    mg_module.zero_grad(set_to_none=True)
    torch_module.zero_grad(set_to_none=True)

    # Same input.
    arrays = _module_inputs(input, dtype)
    mg_in = [Tensor._make(a.copy(), a.dtype.kind == "f", None) for a in arrays]
    th_in = [torch.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]

    kind = "train" if getattr(torch_module, "training", True) else "eval"
    report = Report(
        atol=atol, rtol=rtol, title=f"check_module {type(torch_module).__name__} ({kind}), {direction}"
    )
    with autograd.enable_grad(), torch.enable_grad():
        mg_outs = _as_outputs(mg_module(*mg_in))
        th_outs = _as_outputs(torch_module(*th_in), torch.Tensor)
        same_shapes = _compare_outputs(report, mg_outs, th_outs)
        if not same_shapes:
            report.items.append(
                ReportItem(
                    "gradients", (), np.inf, np.inf, False, "not compared: the outputs differ in shape"
                )
            )
        else:
            if target is not None:
                tgt = np.array(target.detach().numpy() if hasattr(target, "detach") else target, copy=True)
                if tgt.dtype.kind == "f":
                    tgt = tgt.astype(dtype)
                mg_fn, th_fn, name = _loss_pair(loss, tgt)
                mg_loss = mg_fn(mg_outs[0], Tensor._make(tgt.copy(), False, None))
                th_loss = th_fn(th_outs[0], torch.from_numpy(tgt.copy()))
                report.items.append(
                    _diff(f"loss ({name})", mg_loss.detach().data, th_loss.detach().numpy(), atol, rtol)
                )
            else:
                mg_loss, th_loss = _cotangent_losses(mg_outs, th_outs, seed)
            if th_loss is not None and th_loss.requires_grad:
                th_loss.backward()
            if mg_loss is not None and mg_loss.requires_grad:
                mg_loss.backward()
            several = len(mg_in) > 1
            for i, (m, t) in enumerate(zip(mg_in, th_in)):
                if m.requires_grad:
                    item = _grad_item(f"input[{i}].grad" if several else "input.grad", m, t, atol, rtol)
                    if item is not None:
                        report.items.append(item)
            mg_params = dict(mg_module.named_parameters())
            for name, tp in torch_module.named_parameters():
                mp = mg_params.pop(name, None)
                if mp is None:
                    report.items.append(
                        ReportItem(f"{name}.grad", tuple(tp.shape), np.inf, np.inf, False,
                                   "not a parameter of the minigrad module")
                    )
                    continue
                item = _grad_item(f"{name}.grad", mp, tp, atol, rtol)
                if item is not None:
                    report.items.append(item)
            for name, mp in mg_params.items():
                report.items.append(
                    ReportItem(f"{name}.grad", tuple(mp.shape), np.inf, np.inf, False,
                               "not a parameter of the torch module")
                )
    mg_buffers = dict(mg_module.named_buffers())
    for name, tb in torch_module.named_buffers():
        mb = mg_buffers.get(name)
        if mb is not None and tb.dtype.is_floating_point:
            report.items.append(_diff(name, mb.data, tb.detach().numpy(), atol, rtol))

    if raise_on_mismatch and not report.ok:
        raise AssertionError("minigrad and torch differ\n" + str(report))
    return report


# --------------------------------------------------------------------------- training sanity checks
#
# Cheap checks from the classic list of neural-network training pitfalls: the loss at
# initialisation, overfitting a single batch, and predictions that collapse to one class.


class SanityCheckError(AssertionError):
    """A training sanity check failed (raised by the ``check_*`` helpers when asked to raise)."""


class InitialLossWarning(UserWarning):
    """The loss at initialisation is far from ``ln(C)`` (see ``check_initial_loss``)."""


class OverfitWarning(UserWarning):
    """The model could not overfit one batch (see ``overfit_one_batch``)."""


class PredictionCollapseWarning(UserWarning):
    """The predictions collapsed to one class, or accuracy is at chance level
    (see ``check_prediction_collapse``)."""


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _fail(message: str, category: type[Warning], raise_on_failure: bool) -> None:
    if raise_on_failure:
        raise SanityCheckError(message)
    warnings.warn(message, category, stacklevel=3)


def check_initial_loss(
    model: Callable[[Tensor], Tensor],
    inputs: Any,
    targets: Any,
    num_classes: int | None = None,
    tolerance: float = 0.25,
    raise_on_failure: bool = False,
) -> float:
    """Check that the cross-entropy at initialisation is about ``ln(C)``.

    A freshly initialised classifier should spread its probability evenly over the ``C``
    classes, so its mean cross-entropy is close to ``-ln(1/C) = ln(C)`` (2.303 for 10
    classes). Far above: the logits are too large at init (a last layer with too large
    weights, unnormalised inputs) and the first steps are wasted undoing that; far below:
    the labels leak into the inputs or the loss is not what you think.

    The forward runs under ``no_grad``; the module's buffers (BatchNorm running statistics)
    are restored afterwards, so the check leaves the model as it was.

    Args:
        model: a module or any callable mapping ``inputs`` to logits (N, C).
        inputs: a batch of inputs (a tensor or array).
        targets: class indices (N,).
        num_classes: C (default: the logits' second dimension).
        tolerance: allowed relative distance, ``|loss - ln C| <= tolerance * ln C``.
        raise_on_failure: raise ``SanityCheckError`` instead of warning.

    Returns:
        The loss at initialisation.

    Warns:
        InitialLossWarning: with the expected value and advice, when the loss is off.
    """
    from .nn import functional as F

    saved = []
    if hasattr(model, "named_buffers"):
        saved = [(b, b.data.copy()) for _, b in model.named_buffers()]
    try:
        with autograd.no_grad():
            logits = model(_as_tensor(inputs))
            if logits.ndim != 2:
                raise ValueError(
                    f"check_initial_loss: expected logits of shape (N, C), got {tuple(logits.shape)}"
                )
            y = _as_tensor(targets).long()
            loss = float(F.cross_entropy(logits, y).item())
    finally:
        for b, data in saved:
            b.data[...] = data
    C = int(num_classes if num_classes is not None else logits.shape[1])
    if C < 2:
        raise ValueError(f"check_initial_loss: need at least 2 classes, got {C}")
    expected = float(np.log(C))
    if not np.isfinite(loss) or abs(loss - expected) > tolerance * expected:
        std = float(np.std(np.asarray(logits.data, np.float64)))
        if not np.isfinite(loss) or loss > expected:
            advice = (
                "The model is confidently wrong before training: the logits are too large at "
                f"init (their std is {std:.3g}; near 0 is right). Scale the last layer's "
                "weights down (e.g. multiply them by 0.01) and zero its bias, normalise the "
                "inputs (mean 0, std 1), check the init of the other layers, and make sure the "
                "loss gets raw logits (no softmax before cross_entropy)."
            )
        else:
            advice = (
                "The loss is lower than a uniform guess can give: the labels may leak into "
                "the inputs, the batch may hold one class only, or the loss is not the mean "
                "cross-entropy of these logits."
            )
        _fail(
            f"check_initial_loss: cross-entropy at init is {loss:.4g}, expected about "
            f"ln({C}) = {expected:.4g} for {C} classes (tolerance {tolerance:g} * ln C). {advice}",
            InitialLossWarning,
            raise_on_failure,
        )
    return loss


@dataclass
class OverfitResult:
    """What ``overfit_one_batch`` did: the loss at every step and whether it got near 0."""

    losses: list[float]
    target_loss: float
    ok: bool
    model: Any = None
    no_grad_params: list[str] = field(default_factory=list)

    @property
    def initial_loss(self) -> float:
        return self.losses[0]

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    def __bool__(self) -> bool:
        return self.ok


def overfit_one_batch(
    model: Any,
    inputs: Any,
    targets: Any,
    optimizer: Callable[[Any], Any] | float = 1e-2,
    steps: int = 200,
    target_loss: float = 0.05,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    copy_model: bool = True,
    raise_on_failure: bool = False,
) -> OverfitResult:
    """Train on one small batch until the loss is near 0: the first test of a new model.

    Any model with enough parameters can memorise a handful of examples. If the loss does
    not go near 0, the bug is in the model or the training loop, not in the data or the
    hyper-parameters: the loss gets probabilities instead of logits, ``zero_grad`` is
    missing, the optimizer was given the wrong parameters, a layer is cut from the graph
    (``detach``, ``.data``, ``numpy()``), or the learning rate is far off.

    Args:
        model: an ``nn.Module``.
        inputs, targets: one batch (a few to a few dozen examples is enough).
        optimizer: a factory ``params -> Optimizer`` (e.g.
            ``lambda p: mg.optim.SGD(p, lr=0.1, momentum=0.9)``), or a learning rate for
            ``Adam`` (default 1e-2).
        steps: training steps (the loop stops early once the loss is below ``target_loss``).
        target_loss: the loss that counts as "overfitted".
        loss_fn: ``loss_fn(output, targets)``; default cross-entropy for integer targets,
            else mean squared error.
        copy_model: train a deep copy (default), so ``model`` is not changed; the trained
            copy is ``result.model``.
        raise_on_failure: raise ``SanityCheckError`` instead of warning.

    Returns:
        An ``OverfitResult``: ``losses`` per step, ``final_loss``, ``ok``, the trained
        ``model`` and ``no_grad_params`` (names of parameters that never got a gradient).

    Warns:
        OverfitWarning: when the loss stayed above ``target_loss``, with advice.
    """
    import copy

    from . import optim
    from .nn import functional as F

    net = copy.deepcopy(model) if copy_model else model
    x = _as_tensor(inputs)
    y = _as_tensor(targets)
    if loss_fn is None:
        if y.data.dtype.kind in "iu":
            loss_fn = F.cross_entropy
        else:
            loss_fn = F.mse_loss
    params = list(net.parameters())
    if isinstance(optimizer, (int, float)):
        opt = optim.Adam(params, lr=float(optimizer))
    else:
        opt = optimizer(params)
    if hasattr(net, "train"):
        net.train()
    got_grad: set[int] = set()
    losses: list[float] = []
    for _ in range(steps):
        loss = loss_fn(net(x), y)
        value = float(loss.item())
        losses.append(value)
        if not np.isfinite(value) or value <= target_loss:
            break
        opt.zero_grad()
        loss.backward()
        for p in params:
            if p.grad is not None and np.any(p.grad.data != 0):
                got_grad.add(id(p))
        opt.step()
    names = dict(net.named_parameters()) if hasattr(net, "named_parameters") else {}
    no_grad = [n for n, p in names.items() if p.requires_grad and id(p) not in got_grad]
    ok = bool(np.isfinite(losses[-1]) and losses[-1] <= target_loss)
    result = OverfitResult(losses, target_loss, ok, net, no_grad)
    if not ok:
        hints = []
        if not np.isfinite(losses[-1]):
            hints.append("the loss became NaN/inf: lower the learning rate")
        if no_grad:
            hints.append(f"these parameters never got a nonzero gradient: {', '.join(no_grad)}")
        hints.append(
            "check that the loss gets raw logits (no softmax before cross_entropy), that "
            "zero_grad() runs every step, that the optimizer holds model.parameters(), that "
            "nothing cuts the graph (detach, .data, numpy()), and try another learning rate"
        )
        _fail(
            f"overfit_one_batch: the loss went from {losses[0]:.4g} to {losses[-1]:.4g} in "
            f"{len(losses)} steps on one batch of {x.shape[0]} examples, not below "
            f"{target_loss:g}. A model that cannot overfit one batch has a bug; "
            + "; ".join(hints) + ".",
            OverfitWarning,
            raise_on_failure,
        )
    return result


@dataclass
class CollapseReport:
    """What ``check_prediction_collapse`` found."""

    counts: np.ndarray
    num_classes: int
    majority_class: int
    majority_fraction: float
    accuracy: float | None
    reasons: list[str] = field(default_factory=list)

    @property
    def collapsed(self) -> bool:
        return bool(self.reasons)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def __bool__(self) -> bool:
        return self.ok


def check_prediction_collapse(
    model_or_predictions: Any,
    inputs: Any = None,
    targets: Any = None,
    num_classes: int | None = None,
    max_fraction: float = 0.9,
    chance_margin: float = 0.05,
    raise_on_failure: bool = False,
) -> CollapseReport:
    """Detect the classic "stuck at ~10% accuracy" failure: every prediction is one class.

    A learning rate that is too large (or a NaN in the weights) can throw a classifier into
    a state where it predicts the same class for every input; on a balanced 10-class data set
    its accuracy then sits at ~10% however long it trains. This check flags it when the
    most frequent predicted class takes more than ``max_fraction`` of the predictions, or,
    given ``targets``, when the accuracy is within ``chance_margin`` of chance (``1/C``).

    Args:
        model_or_predictions: a model (called on ``inputs`` under ``no_grad``), logits
            (N, C), or predicted class indices (N,).
        inputs: the batch for a model.
        targets: true classes (N,), to check the accuracy too.
        num_classes: C (default: the logits' second dimension, else the largest class
            index seen + 1).
        max_fraction: share of one class above which the predictions count as collapsed.
        chance_margin: accuracy at most ``1/C + chance_margin`` counts as chance.
        raise_on_failure: raise ``SanityCheckError`` instead of warning.

    Returns:
        A ``CollapseReport`` (``counts`` per class, ``majority_class``,
        ``majority_fraction``, ``accuracy``, ``collapsed``, ``reasons``).

    Warns:
        PredictionCollapseWarning: when collapsed, with advice.
    """
    preds = model_or_predictions
    has_nan = False
    if callable(preds) and not isinstance(preds, (Tensor, np.ndarray)):
        if inputs is None:
            raise ValueError("check_prediction_collapse: a model needs inputs")
        with autograd.no_grad():
            preds = preds(_as_tensor(inputs))
    arr = preds.data if isinstance(preds, Tensor) else np.asarray(preds)
    if arr.ndim == 2:
        has_nan = arr.dtype.kind == "f" and bool(np.isnan(arr).any())
        if num_classes is None:
            num_classes = arr.shape[1]
        arr = np.argmax(arr, axis=1)
    elif arr.ndim != 1:
        raise ValueError(
            f"check_prediction_collapse: expected logits (N, C) or classes (N,), got shape {arr.shape}"
        )
    classes = arr.astype(np.int64)
    if classes.size == 0:
        raise ValueError("check_prediction_collapse: no predictions")
    y = None
    if targets is not None:
        y = np.asarray(targets.data if isinstance(targets, Tensor) else targets).astype(np.int64).reshape(-1)
        if y.shape != classes.shape:
            raise ValueError(
                f"check_prediction_collapse: {classes.size} predictions but {y.size} targets"
            )
    if num_classes is None:
        num_classes = int(max(classes.max(), -1 if y is None else y.max())) + 1
    C = max(int(num_classes), 1)
    counts = np.bincount(classes, minlength=C)
    major = int(np.argmax(counts))
    frac = float(counts[major] / classes.size)
    acc = None if y is None else float(np.mean(classes == y))
    reasons = []
    if frac > max_fraction:
        reasons.append(f"{frac:.1%} of the {classes.size} predictions are class {major}")
    if acc is not None and C > 1 and acc <= 1.0 / C + chance_margin:
        reasons.append(f"accuracy {acc:.1%} is at chance level (1/{C} = {1.0 / C:.1%})")
    report = CollapseReport(counts, C, major, frac, acc, reasons)
    if reasons:
        nan = " The logits hold NaN: training diverged." if has_nan else ""
        _fail(
            "check_prediction_collapse: the predictions collapsed: " + "; ".join(reasons) + "."
            + nan + " Usual causes: a learning rate that is too large (try 10x smaller; watch "
            "the loss for NaN or a jump in the first steps), dead ReLUs after a large update, "
            "unnormalised inputs, or labels that do not match the inputs (shuffled separately).",
            PredictionCollapseWarning,
            raise_on_failure,
        )
    return report
