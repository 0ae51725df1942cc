"""Elementwise ops: arithmetic, math functions and activations (forward + backward each).

Binary ops broadcast like torch; the engine sums gradients back to each input's shape.
Operands are promoted to a common dtype with torch's rules before the op runs.
"""

from __future__ import annotations

import math
from numbers import Number

import numpy as np
from scipy.special import erf as _erf

from .. import backend, dtypes
from ..autograd import Function
from ..tensor import Tensor

# --------------------------------------------------------------------------- operands

#: What the ops accept as an operand: a tensor, a NumPy array or a Python/NumPy number.
TensorLike = Tensor | np.ndarray | np.generic | float | int | bool


def promote(*operands):
    """Bring tensors, arrays and scalars to torch's common dtype.

    Returns the operands with tensors cast (differentiably) where needed, NumPy arrays
    wrapped as constant tensors, and scalars left as Python numbers (NumPy keeps a tensor's
    dtype for those) or made 0-d arrays when the category rises (``int_tensor * 0.5``).
    """
    if len(operands) == 2:  # fast paths: same-dtype tensors, float tensor with a Python number
        a, b = operands
        if isinstance(a, Tensor):
            if isinstance(b, Tensor):
                if a.data.dtype == b.data.dtype:
                    return a, b
            elif type(b) in (float, int) and a.data.dtype.kind == "f":
                return a, b
        elif isinstance(b, Tensor) and type(a) in (float, int) and b.data.dtype.kind == "f":
            return a, b
    raw = []
    for op in operands:
        if isinstance(op, Tensor):
            raw.append(op.data)
        elif isinstance(op, np.ndarray):
            raw.append(op)
        elif isinstance(op, np.generic):
            raw.append(op.item())
        elif isinstance(op, Number):
            raw.append(op)
        elif isinstance(op, (list, tuple)):
            raw.append(Tensor(op).data)
        else:
            raise TypeError(f"unsupported operand type: {type(op).__name__}")
    dt = dtypes.result_type(raw)
    out = []
    for op, r in zip(operands, raw):
        if isinstance(op, Tensor):
            out.append(op if op.data.dtype == dt else cast(op, dt))
        elif isinstance(r, np.ndarray):
            out.append(Tensor._make(r if r.dtype == dt else r.astype(dt), False, None))
        elif isinstance(r, bool) or dt.kind == "f":
            out.append(r)
        elif dt.kind in "iu" and isinstance(r, int):
            info = np.iinfo(dt)
            # out-of-range Python ints wrap around like torch's (NumPy would raise)
            out.append(r if info.min <= r <= info.max else np.array(r % 2**64, np.uint64).astype(dt))
        else:
            out.append(np.asarray(r, dtype=dt))
    return out


class Cast(Function):
    """z = x as another dtype.   dx = g (cast back by the engine)."""

    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


def cast(x: Tensor, dtype) -> Tensor:
    """x converted to ``dtype`` (differentiable between floating dtypes; x itself if unchanged)."""
    dt = dtypes.as_dtype(dtype)
    if x.data.dtype == dt:
        return x
    return Cast.apply(x, dt)


# --------------------------------------------------------------------------- arithmetic


class Add(Function):
    """z = x + y.   dx = g,   dy = g."""

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, grad_output


class Sub(Function):
    """z = x - y.   dx = g,   dy = -g."""

    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, (-grad_output if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """z = x * y.   dx = g * y,   dy = g * x."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        gx = grad_output * y if ctx.needs_input_grad[0] else None
        gy = grad_output * x if ctx.needs_input_grad[1] else None
        return gx, gy


class Div(Function):
    """z = x / y.   dx = g / y,   dy = -g * x / y^2."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x / y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        gx = grad_output / y if ctx.needs_input_grad[0] else None
        gy = -grad_output * x / (y * y) if ctx.needs_input_grad[1] else None
        return gx, gy


class Neg(Function):
    """z = -x.   dx = -g."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad_output):
        return -grad_output


class Pow(Function):
    """z = x ** y.   dx = g * y * x^(y-1) (0 where y == 0),   dy = g * z * log(x) (0 where x == 0, y >= 0)."""

    @staticmethod
    def forward(ctx, x, y):
        out = np.power(x, y)
        ctx.save_for_backward(x, y, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x, y, out = ctx.saved_tensors
        gx = gy = None
        if ctx.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gx = grad_output * y * np.power(x, y - 1)
            if np.ndim(y) or y == 0:  # (a scalar exponent other than 0 needs no masking)
                gx = np.where(np.asarray(y) == 0, 0, gx).astype(gx.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gy = grad_output * out * np.log(x)
            zero = (np.asarray(x) == 0) & (np.asarray(y) >= 0)
            gy = np.where(zero, 0, gy).astype(gy.dtype, copy=False)
        return gx, gy


class Maximum(Function):
    """z = max(x, y).   dx = g where not x < y (g/2 at ties),   dy likewise."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return np.maximum(x, y)

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        return _select_grads(ctx, grad_output, x > y, x < y, x == y)


class Minimum(Function):
    """z = min(x, y).   dx = g where not x > y (g/2 at ties),   dy likewise."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return np.minimum(x, y)

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        return _select_grads(ctx, grad_output, x < y, x > y, x == y)


def _select_grads(ctx, g, x_wins, y_wins, tie):
    # torch masks out only the strict loser: with a NaN operand both sides receive g
    half = g * 0.5
    gx = np.where(tie, half, np.where(y_wins, 0, g)) if ctx.needs_input_grad[0] else None
    gy = np.where(tie, half, np.where(x_wins, 0, g)) if ctx.needs_input_grad[1] else None
    return (
        None if gx is None else gx.astype(g.dtype, copy=False),
        None if gy is None else gy.astype(g.dtype, copy=False),
    )


class Where(Function):
    """z = x where cond else y.   dx = g where cond,   dy = g where not cond."""

    @staticmethod
    def forward(ctx, cond, x, y):
        ctx.save_for_backward(cond)
        return np.where(cond, x, y)

    @staticmethod
    def backward(ctx, grad_output):
        (cond,) = ctx.saved_tensors
        zero = np.zeros((), grad_output.dtype)
        gx = np.where(cond, grad_output, zero) if ctx.needs_input_grad[1] else None
        gy = np.where(cond, zero, grad_output) if ctx.needs_input_grad[2] else None
        return None, gx, gy


# --------------------------------------------------------------------------- math functions


class Exp(Function):
    """z = exp(x).   dx = g * z."""

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return grad_output * out


class Log(Function):
    """z = log(x).   dx = g / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        with np.errstate(divide="ignore"):
            return grad_output / x


class Log1p(Function):
    """z = log(1 + x).   dx = g / (1 + x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        with np.errstate(divide="ignore"):
            return grad_output / (1 + x)


class Sqrt(Function):
    """z = sqrt(x).   dx = g / (2 z)."""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        with np.errstate(divide="ignore"):
            return grad_output / (2 * out)


class Abs(Function):
    """z = |x|.   dx = g * sign(x) (0 at x == 0 and at NaN)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        # sign without NaN: torch's gradient at a NaN input is 0
        return grad_output * ((x > 0).astype(grad_output.dtype) - (x < 0))


class Sin(Function):
    """z = sin(x).   dx = g * cos(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * np.cos(x)


class Cos(Function):
    """z = cos(x).   dx = -g * sin(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return -grad_output * np.sin(x)


class Tanh(Function):
    """z = tanh(x).   dx = g * (1 - z^2)."""

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return grad_output * (1 - out * out)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, computed as torch does: exp(-x) overflows to inf for very negative
    x (below about -88 in float32), and 1 / (1 + inf) is exactly 0."""
    with np.errstate(over="ignore"):
        e = np.exp(-x)
    return 1 / (1 + e)


class Sigmoid(Function):
    """z = 1 / (1 + exp(-x)).   dx = g * z * (1 - z)."""

    @staticmethod
    def forward(ctx, x):
        out = _sigmoid(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return grad_output * out * (1 - out)


class Relu(Function):
    """z = max(x, 0).   dx = g where z > 0."""

    @staticmethod
    def forward(ctx, x):
        out = backend.relu_forward(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return backend.relu_backward(grad_output, out)


class LeakyRelu(Function):
    """z = x if x > 0 else a*x.   dx = g if x > 0 else a*g."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        g = np.where(x > 0, grad_output, grad_output * ctx.negative_slope)
        return g.astype(grad_output.dtype, copy=False), None


class Elu(Function):
    """z = x if x > 0 else a*(exp(x) - 1).   dx = g if x > 0 else g * (z + a)."""

    @staticmethod
    def forward(ctx, x, alpha):
        out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, out)
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x, out = ctx.saved_tensors
        g = np.where(x > 0, grad_output, grad_output * (out + ctx.alpha))
        return g.astype(grad_output.dtype, copy=False), None


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class Gelu(Function):
    """z = x * Phi(x) (or its tanh approximation).   dx = g * (Phi(x) + x * phi(x))."""

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
            return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
        return (0.5 * x * (1 + _erf(x * _INV_SQRT_2))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
            t = np.tanh(inner)
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner
        else:
            cdf = 0.5 * (1 + _erf(x * _INV_SQRT_2))
            pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
            d = cdf + x * pdf
        return (grad_output * d).astype(grad_output.dtype, copy=False), None


class Softplus(Function):
    """z = log(1 + exp(b*x)) / b (x where b*x > threshold).   dx = g * sigmoid(b*x) (g there)."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        bx = x * beta
        soft = (np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)
        return np.where(bx > threshold, x, soft)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        bx = x * ctx.beta
        g = np.where(bx > ctx.threshold, grad_output, grad_output * _sigmoid(bx))
        return g.astype(grad_output.dtype, copy=False), None, None


class Clamp(Function):
    """z = min(max(x, lo), hi).   dx = g where lo <= x <= hi."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        out = x
        if lo is not None:
            out = np.maximum(out, np.asarray(lo, x.dtype))
        if hi is not None:
            out = np.minimum(out, np.asarray(hi, x.dtype))
        return out if out is not x else x.copy()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        keep = np.ones(x.shape, bool)
        if ctx.lo is not None:
            keep &= x >= ctx.lo
        if ctx.hi is not None:
            keep &= x <= ctx.hi
        return np.where(keep, grad_output, 0).astype(grad_output.dtype, copy=False), None, None


# --------------------------------------------------------------------------- public functions


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _float_input(x, op: str) -> Tensor:
    """Math functions of integer tensors give the default float dtype, as in torch."""
    x = _tensor(x)
    if x.data.dtype.kind != "f":
        return cast(x, dtypes.get_default_dtype())
    return x


def add(x: TensorLike, y: TensorLike, *, alpha=1) -> Tensor:
    """x + alpha * y, broadcasting; tensors, NumPy arrays and numbers on either side."""
    if alpha != 1:
        y = mul(y, alpha)
    return Add.apply(*promote(x, y))


def _is_bool(v: TensorLike) -> bool:
    if isinstance(v, Tensor):
        return v.data.dtype == np.bool_
    if isinstance(v, np.ndarray):
        return v.dtype == np.bool_
    return isinstance(v, (bool, np.bool_))


def sub(x: TensorLike, y: TensorLike, *, alpha=1) -> Tensor:
    """x - alpha * y, broadcasting; tensors, NumPy arrays and numbers on either side. Like
    torch, refuses bool operands (a mask is inverted with ``~``, not ``1 - mask``)."""
    x_bool, y_bool = _is_bool(x), _is_bool(y)
    if x_bool or y_bool:
        if x_bool and y_bool:
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                               "supported. Use the `^` or `logical_xor()` operator instead.")
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or "
                           "`logical_not()` operator instead.")
    if alpha != 1:
        y = mul(y, alpha)
    return Sub.apply(*promote(x, y))


def mul(x: TensorLike, y: TensorLike) -> Tensor:
    """x * y, broadcasting; tensors, NumPy arrays and numbers on either side."""
    return Mul.apply(*promote(x, y))


def div(x: TensorLike, y: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    """x / y. Integer inputs give the default float dtype; ``rounding_mode`` 'trunc' or
    'floor' rounds the quotient (no gradient, as in torch)."""
    x, y = promote(x, y)
    dt = next(o.data.dtype for o in (x, y) if isinstance(o, Tensor))
    if rounding_mode is not None:
        xa = x.data if isinstance(x, Tensor) else x
        ya = y.data if isinstance(y, Tensor) else y
        if rounding_mode == "floor":
            q = np.floor_divide(xa, ya) if dt.kind != "f" else np.floor(xa / ya)
        elif rounding_mode == "trunc":
            q = np.trunc(np.true_divide(xa, ya))
        else:
            raise ValueError(f"div: rounding_mode must be 'trunc', 'floor' or None, got {rounding_mode!r}")
        return Tensor._make(np.asarray(q).astype(dt, copy=False), False, None)
    if dt.kind != "f":
        fdt = dtypes.get_default_dtype()
        x = cast(x, fdt) if isinstance(x, Tensor) else x
        y = cast(y, fdt) if isinstance(y, Tensor) else y
        x, y = promote(x, y)
    return Div.apply(x, y)


def neg(x: TensorLike) -> Tensor:
    """-x."""
    return Neg.apply(_tensor(x))


def pow(x: TensorLike, y: TensorLike) -> Tensor:
    """x ** y (either may be a number); d/dx is 0 where y == 0, d/dy is 0 where x == 0 and y >= 0."""
    return Pow.apply(*promote(x, y))


def maximum(x: TensorLike, y: TensorLike) -> Tensor:
    """Elementwise max(x, y); at ties each side gets half the gradient (as torch)."""
    return Maximum.apply(*promote(x, y))


def minimum(x: TensorLike, y: TensorLike) -> Tensor:
    """Elementwise min(x, y); at ties each side gets half the gradient (as torch)."""
    return Minimum.apply(*promote(x, y))


def where(condition, x, y: TensorLike) -> Tensor:
    """Elementwise ``x if condition else y`` (broadcasting all three)."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        if cond.dtype != np.uint8:  # torch still takes (deprecated) uint8 masks
            raise RuntimeError(
                "where: expected condition to be a boolean tensor, but got a tensor with dtype "
                f"{dtypes.dtype_name(cond.dtype)}"
            )
        cond = cond.astype(bool)
    x, y = promote(x, y)
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        # two scalars: the result has their promoted dtype (float32 for floats), not NumPy's
        dt = dtypes.result_type([x, y])
        x, y = np.asarray(x, dt), np.asarray(y, dt)
    return Where.apply(cond, x, y)


def exp(x: TensorLike) -> Tensor:
    """e ** x (integer inputs give the default float dtype)."""
    return Exp.apply(_float_input(x, "exp"))


def log(x: TensorLike) -> Tensor:
    """Natural logarithm (integer inputs give the default float dtype)."""
    return Log.apply(_float_input(x, "log"))


def log1p(x: TensorLike) -> Tensor:
    """log(1 + x), accurate for small x."""
    return Log1p.apply(_float_input(x, "log1p"))


def sqrt(x: TensorLike) -> Tensor:
    """Square root (integer inputs give the default float dtype)."""
    return Sqrt.apply(_float_input(x, "sqrt"))


def abs(x: TensorLike) -> Tensor:
    """|x|; the gradient is 0 at x == 0."""
    return Abs.apply(_tensor(x))


def sin(x: TensorLike) -> Tensor:
    """Sine (radians)."""
    return Sin.apply(_float_input(x, "sin"))


def cos(x: TensorLike) -> Tensor:
    """Cosine (radians)."""
    return Cos.apply(_float_input(x, "cos"))


def tanh(x: TensorLike) -> Tensor:
    """Hyperbolic tangent."""
    return Tanh.apply(_float_input(x, "tanh"))


def sigmoid(x: TensorLike) -> Tensor:
    """1 / (1 + exp(-x)), overflow-free for any input."""
    return Sigmoid.apply(_float_input(x, "sigmoid"))


def relu(x: TensorLike) -> Tensor:
    """max(x, 0); the gradient is 0 at x == 0."""
    return Relu.apply(_tensor(x))


def leaky_relu(x: TensorLike, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return LeakyRelu.apply(_tensor(x), negative_slope)


def elu(x: TensorLike, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return Elu.apply(_tensor(x), alpha)


def gelu(x: TensorLike, approximate: str = "none") -> Tensor:
    """x * Phi(x) (``approximate='none'``) or its tanh approximation (``'tanh'``)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_tensor(x), approximate)


def softplus(x: TensorLike, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold."""
    return Softplus.apply(_tensor(x), beta, threshold)


def clamp(x: TensorLike, min=None, max=None) -> Tensor:
    """Clamp into ``[min, max]``; either bound may be None, a number or a tensor."""
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    x = _tensor(x)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        bounds = [b for b in (min, max) if b is not None]
        x, *bounds = promote(x, *bounds)
        x = _tensor(x)
        lo = bounds.pop(0) if min is not None else None
        hi = bounds.pop(0) if max is not None else None
        lo, hi = (b if b is None or isinstance(b, Tensor) else np.asarray(b, x.data.dtype) for b in (lo, hi))
        return ClampTensor.apply(x, lo, hi)
    dt = dtypes.result_type([x.data] + [b for b in (min, max) if b is not None])
    if dt != x.data.dtype:  # int tensor, float bound: the result is floating, as in torch
        x = cast(x, dt)
    return Clamp.apply(x, min, max)


class ClampTensor(Function):
    """z = min(max(x, lo), hi) with tensor bounds.   dx = g where lo <= x <= hi,
    dlo = g where x < lo (and lo < hi),   dhi = g where x > hi (or hi < lo)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, lo, hi)
        out = x
        if lo is not None:
            out = np.maximum(out, lo)
        if hi is not None:
            out = np.minimum(out, hi)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x, lo, hi = ctx.saved_tensors
        zero = np.zeros((), grad_output.dtype)
        gx = glo = ghi = None
        if ctx.needs_input_grad[0]:
            keep = np.ones(x.shape, bool)
            if lo is not None:
                keep = keep & (x >= lo)
            if hi is not None:
                keep = keep & (x <= hi)
            gx = np.where(keep, grad_output, zero)
        if ctx.needs_input_grad[1]:
            below = x < lo if hi is None else (x < lo) & (lo < hi)
            glo = np.where(below, grad_output, zero)
        if ctx.needs_input_grad[2]:
            above = x > hi if lo is None else (x > hi) | (hi < lo)
            ghi = np.where(above, grad_output, zero)
        return gx, glo, ghi


clip = clamp


class Sign(Function):
    """z = sign(x).   dx = 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return np.sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        return np.zeros(ctx.shape, grad_output.dtype)


class Remainder(Function):
    """z = x - floor(x / y) * y.   dx = g,   dy = -g * floor(x / y)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return np.remainder(x, y)

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        gy = -grad_output * np.floor_divide(x, y) if ctx.needs_input_grad[1] else None
        return grad_output, gy


def sign(x: TensorLike) -> Tensor:
    """-1, 0 or 1 by the sign of x; zero gradient."""
    return Sign.apply(_tensor(x))


def remainder(x: TensorLike, y: TensorLike) -> Tensor:
    """x - floor(x / y) * y (Python's %, the sign of y)."""
    return Remainder.apply(*promote(x, y))


def square(x: TensorLike) -> Tensor:
    """x * x."""
    x = _tensor(x)
    return Mul.apply(x, x)
