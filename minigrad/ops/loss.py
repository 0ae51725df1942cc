"""Loss ops: fused cross-entropy (log-softmax + NLL), NLL, binary cross-entropy (+ logits).

``cross_entropy`` is on the hot path of every classification step, so it is one ``Function``
whose forward also computes the input gradient (softmax minus the weighted one-hot, scaled
for the reduction); backward only multiplies it by the incoming gradient. The class weights
are constants (no gradient flows to ``weight`` or ``pos_weight``).

Targets are validated before any arithmetic so a wrong label tensor fails with a message
that names the op, the shapes and the fix instead of producing a silently wrong loss.
"""

from __future__ import annotations

import numpy as np

from .. import backend, dtypes
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor

__all__ = [
    "CrossEntropy",
    "CrossEntropyProbs",
    "NLLLoss",
    "BinaryCrossEntropy",
    "BinaryCrossEntropyWithLogits",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "reduction_from_legacy",
]


# --------------------------------------------------------------------------- helpers


def _rows(x: np.ndarray) -> np.ndarray:
    """(C,) -> (1, C); (N, C) stays; (N, C, d1, ...) -> (N*d1*..., C) with classes last."""
    if x.ndim == 1:
        return x[None, :]
    if x.ndim == 2:
        return x
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Inverse of ``_rows`` for a gradient of the rows."""
    if len(shape) == 1:
        return g.reshape(shape)
    if len(shape) == 2:
        return g
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.moveaxis(g.reshape(moved), -1, 1)


def _softmax_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x - max, log-partition (N, 1), softmax) along axis 1; stable for huge and -inf logits.

    log_softmax is ``shifted - logz``. A row of only -inf gives NaNs, as in torch.
    """
    m = x.max(axis=1, keepdims=True)
    if np.isfinite(m).all():  # then every row's sum of exps is >= 1: no warnings possible
        shifted = x - m
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        logz = np.log(s)
        e /= s
        return shifted, logz, e
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        shifted = x - m
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        logz = np.log(s)
        e /= s
    return shifted, logz, e


def _log_softmax_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log_softmax, softmax) along axis 1."""
    if x.shape[0] == 0:
        return x.copy(), x.copy()
    shifted, logz, p = _softmax_parts(x)
    with np.errstate(invalid="ignore"):
        return shifted - logz, p


def _reduce(loss: np.ndarray, reduction: str, denom: float) -> np.ndarray:
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return np.asarray(total, loss.dtype)
    return np.asarray(total / denom if denom != 0 else np.nan, loss.dtype)


def _scale_rows(grad: np.ndarray, grad_output: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return grad * grad_output.reshape(-1)[:, None]
    return grad * grad_output


# --------------------------------------------------------------------------- Functions


class CrossEntropy(Function):
    """z = -w[t] * log_softmax(x)[t] (+ smoothing), reduced.
    dx = g * w[t] * (softmax(x) - onehot(t)) / W.

    ``x``: logits ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``; ``target``: int class indices.
    With label smoothing eps the per-row loss is
    ``(1 - eps) * nll + eps / C * (-sum_c w_c log p_c)`` and the gradient gains
    ``eps / C * (p * sum(w) - w)``. ``mean`` divides by W = sum of w[t] over non-ignored rows.
    """

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        rows = _rows(x)
        t = target.reshape(-1)
        n, c = rows.shape
        dt = x.dtype
        if n == 0:
            out = _reduce(np.zeros(0, dt), reduction, 0)
            ctx.save_for_backward(np.zeros_like(rows))
            ctx.shape, ctx.reduction = x.shape, reduction
            return out.reshape(target.shape) if reduction == "none" else out
        if weight is None and label_smoothing == 0 and x.ndim == 2:
            return _cross_entropy_plain(ctx, x, t, ignore_index, reduction)
        shifted, logz, p = _softmax_parts(rows)
        r = np.arange(n)
        valid = t != ignore_index
        all_valid = bool(valid.all())
        safe_t = t if all_valid else np.where(valid, t, 0)
        picked = shifted[r, safe_t] - logz[:, 0]  # log p of the target class
        eps = label_smoothing
        if weight is None and all_valid:  # the common case: every row counts once
            wt = None
            denom = n
            loss = -picked
        else:
            wt = valid.astype(dt) if weight is None else np.where(valid, weight[safe_t], 0).astype(dt)
            denom = wt.sum()
            with np.errstate(invalid="ignore"):
                loss = np.where(valid, -wt * picked, 0).astype(dt, copy=False)
        if eps > 0:
            with np.errstate(invalid="ignore"):
                logp = shifted - logz
                smooth = -(logp.sum(1) if weight is None else (logp * weight).sum(1))
            if not all_valid:
                smooth = np.where(valid, smooth, 0)
            loss = (1 - eps) * loss + (eps / c) * smooth
        out = _reduce(loss, reduction, denom)
        if reduction == "none":
            out = out.reshape(target.shape)
        if ctx.needs_input_grad[0]:
            grad = p  # the softmax, turned into the gradient in place
            if wt is None:  # (1 - eps) * (p - onehot) + eps / C * (C * p - 1)
                grad[r, safe_t] -= 1 - eps
                if eps > 0:
                    grad -= eps / c
            else:
                row_scale = (1 - eps) * wt
                if eps > 0:
                    sw = c if weight is None else weight.sum()
                    row_scale = row_scale + (eps / c) * sw * valid
                grad *= row_scale[:, None]
                grad[r, safe_t] -= (1 - eps) * wt
                if eps > 0:
                    w_row = 1 if weight is None else weight[None, :]
                    grad -= (eps / c) * valid[:, None] * w_row
            _divide_for_mean(grad, reduction, denom)
            ctx.save_for_backward(grad)
            ctx.shape, ctx.reduction = x.shape, reduction
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        g = _scale_rows(grad, grad_output, ctx.reduction)
        return _unrows(g, ctx.shape), None, None, None, None, None


def _divide_for_mean(grad: np.ndarray, reduction: str, denom: float) -> None:
    """For 'mean', the gradient of the summed row losses divided by the weight total, in
    place (all rows ignored: the loss is NaN and the gradient 0, as in torch)."""
    if reduction == "mean":
        if denom != 0:
            grad /= denom
        else:
            grad[...] = 0


def _cross_entropy_plain(ctx, x: np.ndarray, t: np.ndarray, ignore_index: int, reduction: str
                         ) -> np.ndarray:
    """The common case of ``CrossEntropy.forward`` (logits (N, C), no class weights, no label
    smoothing): the backend's fused log-softmax + NLL gives the row losses and the gradient
    of their sum in one pass."""
    loss, grad = backend.log_softmax_nll_forward(x, t, ignore_index)
    denom = int(np.count_nonzero(t != ignore_index))
    out = _reduce(loss, reduction, denom)
    if ctx.needs_input_grad[0]:
        _divide_for_mean(grad, reduction, denom)
        ctx.save_for_backward(grad)
        ctx.shape, ctx.reduction = x.shape, reduction
    return out


class CrossEntropyProbs(Function):
    """z = -sum_c w_c * t_c * log_softmax(x)_c, reduced.
    dx = g * (softmax(x) * sum(w*t) - w*t),   dt = -g * w * log_softmax(x).

    ``target`` holds class probabilities with the input's shape; with label smoothing eps it
    is replaced by ``t * (1 - eps) + eps / C``. ``mean`` divides by the number of rows.
    """

    @staticmethod
    def forward(ctx, x, target, weight, label_smoothing, reduction):
        rows = _rows(x)
        n, c = rows.shape
        t = _rows(target)
        eps = label_smoothing
        if eps > 0:
            t = t * (1 - eps) + eps / c
        logp, p = _log_softmax_rows(rows)
        wt = t if weight is None else t * weight
        with np.errstate(invalid="ignore"):
            loss = -(wt * logp).sum(1)
        out = _reduce(loss, reduction, n)
        if reduction == "none":
            out = out.reshape(x.shape[:1] + x.shape[2:] if x.ndim > 1 else ())
        scale = 1.0 / n if reduction == "mean" and n else 1.0
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = (p * wt.sum(1, keepdims=True) - wt) * scale
        if ctx.needs_input_grad[1]:
            gt = -(logp if weight is None else logp * weight) * ((1 - eps) * scale)
        ctx.save_for_backward(gx, gt)
        ctx.shape, ctx.reduction = x.shape, reduction
        return out

    @staticmethod
    def backward(ctx, grad_output):
        gx, gt = ctx.saved_tensors
        if gx is not None:
            gx = _unrows(_scale_rows(gx, grad_output, ctx.reduction), ctx.shape)
        if gt is not None:
            gt = _unrows(_scale_rows(gt, grad_output, ctx.reduction), ctx.shape)
        return gx, gt, None, None, None


class NLLLoss(Function):
    """z = -w[t] * x[t], reduced (x holds log-probabilities).
    dx = -g * w[t] / W at the target class."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        rows = _rows(x)
        t = target.reshape(-1)
        n = rows.shape[0]
        valid = t != ignore_index
        safe_t = np.where(valid, t, 0)
        wt = valid.astype(x.dtype) if weight is None else np.where(valid, weight[safe_t], 0).astype(x.dtype)
        with np.errstate(invalid="ignore"):
            loss = np.where(valid, -wt * rows[np.arange(n), safe_t], 0).astype(x.dtype, copy=False)
        denom = wt.sum()
        out = _reduce(loss, reduction, denom)
        if reduction == "none":
            out = out.reshape(target.shape)
        if reduction == "mean":
            wt = wt / denom if denom != 0 else np.zeros_like(wt)
        ctx.save_for_backward(wt, safe_t)
        ctx.shape, ctx.reduction = x.shape, reduction
        return out

    @staticmethod
    def backward(ctx, grad_output):
        wt, t = ctx.saved_tensors
        n = t.shape[0]
        c = ctx.shape[0] if len(ctx.shape) == 1 else ctx.shape[1]
        g = -wt * (grad_output.reshape(-1) if ctx.reduction == "none" else grad_output)
        grad = np.zeros((n, c), wt.dtype)
        grad[np.arange(n), t] = g
        return _unrows(grad, ctx.shape), None, None, None, None


# torch's clamp of x * (1 - x) in the BCE gradient: 1e-12 rounded to float32.
_BCE_EPS = float(np.float32(1e-12))


class BinaryCrossEntropy(Function):
    """z = -w * (t * max(log x, -100) + (1 - t) * max(log(1 - x), -100)).
    dx = g * w * (x - t) / max(x * (1 - x), 1e-12),   dt = g * w * (max(log(1-x), -100) - max(log x, -100)).
    """

    @staticmethod
    def forward(ctx, x, t, w):
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        loss = (t - 1) * log_1mx - t * log_x
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w, log_x if ctx.needs_input_grad[1] else None,
                              log_1mx if ctx.needs_input_grad[1] else None)
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        x, t, w, log_x, log_1mx = ctx.saved_tensors
        g = grad_output if w is None else grad_output * w
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = g * (x - t) / np.maximum((1 - x) * x, _BCE_EPS)
        if ctx.needs_input_grad[1]:
            gt = g * (log_1mx - log_x)
        return gx, gt, None


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class BinaryCrossEntropyWithLogits(Function):
    """z = w * ((1 - t) * x - (1 + (pw - 1) * t) * log_sigmoid(x)).
    dx = g * w * ((1 + (pw - 1) * t) * sigmoid(x) - pw * t),   dt = -g * w * (x + (pw - 1) * log_sigmoid(x)).
    """

    @staticmethod
    def forward(ctx, x, t, w, pos_weight):
        ls = _log_sigmoid(x)
        lw = 1 if pos_weight is None else (pos_weight - 1) * t + 1
        loss = (1 - t) * x - lw * ls
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w, pos_weight)
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        x, t, w, pw = ctx.saved_tensors
        g = grad_output if w is None else grad_output * w
        gx = gt = None
        if ctx.needs_input_grad[0]:
            s = _sigmoid(x)
            gx = g * (s - t) if pw is None else g * ((pw * t + 1 - t) * s - pw * t)
        if ctx.needs_input_grad[1]:
            gt = -g * x if pw is None else -g * (x + (pw - 1) * _log_sigmoid(x))
        return gx, gt, None, None


# --------------------------------------------------------------------------- public functions

_REDUCTIONS = ("none", "mean", "sum")


def reduction_from_legacy(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """Map torch's deprecated ``size_average``/``reduce`` flags to a ``reduction`` string."""
    if size_average is None and reduce is None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction} is not a valid value for reduction")
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _tensor(x, op: str, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x, False, None)
    raise TypeError(f"{op}: {name} must be a minigrad Tensor, got {type(x).__name__}")


def _float_input(x: Tensor, op: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(
            f"{op}: input must be a floating point tensor (the model's scores), got dtype "
            f"{dtypes.dtype_name(x.dtype)}: convert with .float()"
        )


def _constant(weight, op: str, name: str) -> None:
    """Class weights are constants here: refuse silently dropping a gradient they would need."""
    if isinstance(weight, Tensor) and weight.requires_grad and is_grad_enabled():
        raise NotImplementedError(
            f"{op}: the derivative for '{name}' is not implemented; pass {name}.detach() (or "
            "compute the loss under no_grad)"
        )


def _weight_array(weight, c: int, dtype: np.dtype, op: str, name: str = "weight") -> np.ndarray | None:
    if weight is None:
        return None
    _constant(weight, op, name)
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.shape != (c,):
        raise ValueError(
            f"{op}: {name} must have one entry per class, shape ({c},), got {tuple(w.shape)}"
        )
    return w.astype(dtype, copy=False)


def _check_class_target(op: str, x: Tensor, target: Tensor, ignore_index: int, input_kind: str,
                        bounds: bool = True) -> np.ndarray:
    """Validate class-index targets; returns them as an int64 array. ``bounds=False`` leaves
    the range check to the caller (the fused cross-entropy kernel checks as it goes)."""
    t = target.data
    if x.data.ndim == 2 and t.dtype == np.int64 and t.shape == x.data.shape[:1]:  # the usual case
        if bounds:
            _check_class_bounds(op, t, x.data.shape[1], ignore_index, input_kind)
        return t
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    t = target.data
    if t.dtype.kind == "f":
        hint = ""
        if t.shape == tuple(expected):
            hint = (f"; if they are class indices stored as floats, pass target.long(); for "
                    f"class probabilities the target must have the input's shape {tuple(x.shape)}")
        raise TypeError(
            f"{op}: expected integer class indices as target (int64), got a float target of dtype "
            f"{dtypes.dtype_name(t.dtype)} and shape {tuple(t.shape)} for {input_kind} of shape "
            f"{tuple(x.shape)}{hint}"
        )
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: target must hold integer class indices (int64), got dtype "
            f"{dtypes.dtype_name(t.dtype)}: convert with .long()"
        )
    if t.shape != tuple(expected):
        hint = ""
        if t.shape == tuple(expected) + (1,):
            hint = f"; squeeze the trailing dim: target.squeeze({len(expected)})"
        elif t.shape == tuple(x.shape):
            hint = "; a one-hot target must be floating (class probabilities) or use target.argmax(1)"
        raise ValueError(
            f"{op}: {input_kind} of shape {tuple(x.shape)} (class dim {0 if x.ndim == 1 else 1} "
            f"of size {c}) needs a target of shape {tuple(expected)}, got target of shape "
            f"{tuple(t.shape)}{hint}"
        )
    t = t.astype(np.int64, copy=False)
    if bounds:
        _check_class_bounds(op, t, c, ignore_index, input_kind)
    return t


def _check_class_bounds(op: str, t: np.ndarray, c: int, ignore_index: int, input_kind: str) -> None:
    """IndexError naming the first target that is neither in 0..c-1 nor ``ignore_index``."""
    if t.size and (t.min() < 0 or t.max() >= c):
        bad = (t != ignore_index) & ((t < 0) | (t >= c))
    else:
        bad = None
    if bad is not None and bad.any():
        v = int(t[bad].reshape(-1)[0])
        raise IndexError(
            f"{op}: target contains class index {v}, but the {input_kind} has {c} classes, so "
            f"valid targets are 0..{c - 1} (or ignore_index={ignore_index}); check that the "
            f"last layer has one output per class and that labels start at 0"
        )


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits and targets (log-softmax + NLL in one op).

    Args:
        input: logits ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``.
        target: class indices ``(N,)`` / ``()`` / ``(N, d1, ...)`` (int), or class
            probabilities with the input's shape (float).
        weight: ``(C,)`` per-class weights.
        ignore_index: targets equal to it contribute nothing (class-index targets only).
        reduction: ``"mean"`` (weighted mean over non-ignored targets), ``"sum"`` or ``"none"``.
        label_smoothing: eps in [0, 1]: the target becomes ``(1 - eps) * onehot + eps / C``.
    """
    op = "cross_entropy"
    reduction = reduction_from_legacy(size_average, reduce, reduction)
    x = _tensor(input, op, "input")
    target = _tensor(target, op, "target")
    _float_input(x, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = _weight_array(weight, c, x.dtype, op)
    if target.dtype.kind == "f" and target.shape == x.shape:
        if ignore_index != -100:
            raise ValueError(f"{op}: ignore_index is not supported for class-probability targets")
        if target.dtype != x.dtype:
            target = target.astype(x.dtype)
        return CrossEntropyProbs.apply(x, target, w, float(label_smoothing), reduction)
    # The common case (N, C) logits without weights or smoothing runs the fused kernel,
    # which checks the class indices itself: no separate pass over the targets.
    fused = w is None and label_smoothing == 0 and x.ndim == 2
    t = _check_class_target(op, x, target, ignore_index, "input", bounds=not fused)
    if not fused:
        return CrossEntropy.apply(x, t, w, ignore_index, float(label_smoothing), reduction)
    try:
        return CrossEntropy.apply(x, t, None, ignore_index, 0.0, reduction)
    except IndexError:
        _check_class_bounds(op, t, c, ignore_index, "input")  # the message that explains it
        raise


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` ``(N, C, ...)`` at ``target``."""
    op = "nll_loss"
    reduction = reduction_from_legacy(size_average, reduce, reduction)
    x = _tensor(input, op, "input")
    target = _tensor(target, op, "target")
    _float_input(x, op)
    t = _check_class_target(op, x, target, ignore_index, "input (log-probabilities)")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = _weight_array(weight, c, x.dtype, op)
    return NLLLoss.apply(x, t, w, ignore_index, reduction)


def _same_shape(op: str, x: Tensor, target: Tensor) -> None:
    if tuple(x.shape) != tuple(target.shape):
        hint = ""
        if target.shape == x.shape + (1,) or x.shape == target.shape + (1,):
            hint = " (squeeze or unsqueeze the trailing size-1 dim so both match)"
        raise ValueError(
            f"{op}: target of shape {tuple(target.shape)} differs from input of shape "
            f"{tuple(x.shape)}{hint}; broadcasting them would give a wrong loss, so both must "
            "have the same shape"
        )


def _float_target(op: str, x: Tensor, target: Tensor) -> Tensor:
    if target.dtype.kind != "f":
        raise TypeError(
            f"{op}: target must be floating point (values in [0, 1]), got dtype "
            f"{dtypes.dtype_name(target.dtype)}: convert with .float()"
        )
    return target if target.dtype == x.dtype else target.astype(x.dtype)


def _broadcast_weight(op: str, weight, x: Tensor, name: str = "weight") -> np.ndarray | None:
    if weight is None:
        return None
    _constant(weight, op, name)
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    try:
        fits = np.broadcast_shapes(w.shape, x.shape) == tuple(x.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: {name} of shape {tuple(w.shape)} cannot be broadcast to the input's shape "
            f"{tuple(x.shape)}"
        )
    return w.astype(x.dtype, copy=False)


def _reduce_tensor(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """BCE between probabilities ``input`` (in [0, 1]) and ``target`` of the same shape.

    The logs are clamped at -100 like torch, so a saturated prediction gives a large but
    finite loss; prefer ``binary_cross_entropy_with_logits`` on raw scores.
    """
    op = "binary_cross_entropy"
    reduction = reduction_from_legacy(size_average, reduce, reduction)
    x = _tensor(input, op, "input")
    target = _tensor(target, op, "target")
    _float_input(x, op)
    _same_shape(op, x, target)
    target = _float_target(op, x, target)
    xd = x.data
    if xd.size and not (np.all(xd >= 0) and np.all(xd <= 1)):
        raise ValueError(
            f"{op}: all elements of input should be between 0 and 1 (got values in "
            f"[{float(np.nanmin(xd)):.4g}, {float(np.nanmax(xd)):.4g}]); apply sigmoid first or "
            "use binary_cross_entropy_with_logits on the raw scores"
        )
    td = target.data
    if td.size and not (np.all(td >= 0) and np.all(td <= 1)):
        raise ValueError(f"{op}: all elements of target should be between 0 and 1")
    w = _broadcast_weight(op, weight, x)
    return _reduce_tensor(BinaryCrossEntropy.apply(x, target, w), reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + BCE in one numerically stable op, on raw scores ``input``.

    ``pos_weight`` (broadcast over the last dim, e.g. ``(C,)``) multiplies the positive
    term; ``weight`` broadcasts to the input and multiplies the whole loss.
    """
    op = "binary_cross_entropy_with_logits"
    reduction = reduction_from_legacy(size_average, reduce, reduction)
    x = _tensor(input, op, "input")
    target = _tensor(target, op, "target")
    _float_input(x, op)
    _same_shape(op, x, target)
    target = _float_target(op, x, target)
    w = _broadcast_weight(op, weight, x)
    pw = _broadcast_weight(op, pos_weight, x, "pos_weight")
    return _reduce_tensor(BinaryCrossEntropyWithLogits.apply(x, target, w, pw), reduction)
