"""Checking gradients: finite differences (``gradcheck``) and parity with PyTorch
(``compare_with_torch``).

Both are public: anyone writing a custom ``Function`` needs them.

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

__all__ = ["GradcheckError", "gradcheck", "compare_with_torch", "Report", "ReportItem"]


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
    """The result of ``compare_with_torch``: one row per output and per input gradient."""

    items: list[ReportItem] = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0

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
        lines = [f"compare_with_torch (atol={self.atol:g}, rtol={self.rtol:g})"]
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
        report.items.append(_diff(name, m.detach().data, t.detach().numpy(), atol, rtol))

    same_shapes = len(mg_outs) == len(th_outs) and all(
        tuple(m.shape) == tuple(t.shape) for m, t in zip(mg_outs, th_outs)
    )
    if leaves and not same_shapes:
        report.items.append(
            ReportItem("gradients", (), np.inf, np.inf, False, "not compared: the outputs differ in shape")
        )
    elif leaves:
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
        if th_loss is not None:
            th_loss.backward()
        if mg_loss is not None:
            mg_loss.backward()
        for i, m, t in leaves:
            want = t.grad
            got = m.grad
            name = f"grad[{i}]"
            if want is None and got is None:
                continue
            w = np.zeros(t.shape, t.detach().numpy().dtype) if want is None else want.numpy()
            g = np.zeros(m.shape, m.data.dtype) if got is None else got.data
            item = _diff(name, g, w, atol, rtol)
            if got is None or want is None:
                item.note = ("minigrad grad is None" if got is None else "torch grad is None") + (
                    "; " + item.note if item.note else ""
                )
            report.items.append(item)

    if raise_on_mismatch and not report.ok:
        raise AssertionError("minigrad and torch differ\n" + str(report))
    return report
