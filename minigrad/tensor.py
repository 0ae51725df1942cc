"""``Tensor``: a NumPy array plus what reverse-mode autograd needs.

A tensor holds ``data`` (an ``np.ndarray``), ``grad`` (a Tensor or None), ``requires_grad``
and ``grad_fn`` (the graph node of the op that made it, None for leaves). Operators and
methods call the differentiable ops in ``minigrad/ops``; this file holds no derivative.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from . import dtypes


def _to_array(data: Any, dtype: np.dtype | None) -> np.ndarray:
    """Build an array from Python data with torch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data.data.copy()
    elif isinstance(data, np.ndarray):
        arr = data.copy()
    elif isinstance(data, np.generic):
        arr = np.array(data)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flat(data)):
            data = _unwrap(data)
        arr = np.array(data)
        if dtype is None:
            kind = arr.dtype.kind
            if kind == "f":
                arr = arr.astype(dtypes.get_default_dtype())
            elif kind in "iu":
                arr = arr.astype(np.int64)
            elif kind == "b":
                pass
            elif arr.size == 0:
                arr = arr.astype(dtypes.get_default_dtype())
            else:
                raise TypeError(
                    f"tensor(): could not infer dtype of {type(data).__name__} "
                    f"(numpy made {arr.dtype})"
                )
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


def _flat(data):
    for d in data:
        if isinstance(d, (list, tuple)):
            yield from _flat(d)
        else:
            yield d


def _unwrap(data):
    if isinstance(data, Tensor):
        return data.data
    if isinstance(data, (list, tuple)):
        return [_unwrap(d) for d in data]
    return data


class _VersionCounter(list):
    """A one-element list shared by a tensor and its in-place history."""


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class Tensor:
    """An n-dimensional array that can record the ops applied to it for autograd.

    Args:
        data: array-like (nested lists, numbers, NumPy arrays, tensors).
        dtype: e.g. ``minigrad.float64``; inferred like torch when None.
        requires_grad: record ops on this tensor so ``backward()`` can fill ``.grad``.
    """

    __slots__ = ("data", "grad", "_requires_grad", "grad_fn", "_version", "_hooks", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor -> Tensor's reflected operator
    __array_priority__ = 1000

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        self.data = _to_array(data, dtypes.as_dtype(dtype))
        self.grad: Tensor | None = None
        self.grad_fn = None
        self._version = _VersionCounter([0])
        self._hooks: list | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, grad_fn: Any) -> Tensor:
        """Wrap an array without copying (the fast path every op uses)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        t._version = _VersionCounter([0])
        t._hooks = None
        return t

    # ------------------------------------------------------------------ autograd state
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None and not value:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to "
                "use a computed variable in a subgraph that doesn't require differentiation "
                "use var_no_grad = var.detach()."
            )
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only; floating dtypes only)."""
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(
                "Only Tensors of floating point dtype can require gradients "
                f"(got dtype {dtypes.dtype_name(self.data.dtype)}); convert with .float() first"
            )
        if self.grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want "
                    "to use a computed variable in a subgraph that doesn't require "
                    "differentiation use var_no_grad = var.detach()."
                )
            return self
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self.grad_fn is None

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, inputs: Any = None,
        **kwargs: Any,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            gradient: d(loss)/d(self); required unless ``self`` has one element.
            retain_graph: keep saved arrays so backward can run through the graph again.
            inputs: only these leaves receive ``.grad``.
        """
        from . import autograd

        if kwargs:
            hook = autograd.backward_hook_from_options(**kwargs)
            if hook is not None:
                return hook(self, gradient, retain_graph, inputs)
        autograd.backward(self, gradient, retain_graph, inputs)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        import weakref

        self.grad_fn._retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and self.grad_fn._retained is not None

    def register_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            if self.grad_fn._hooks is None:
                self.grad_fn._hooks = []
            hooks = self.grad_fn._hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def detach(self) -> Tensor:
        """The same data (shared), cut from the graph."""
        t = Tensor._make(self.data, False, None)
        t._version = self._version
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ------------------------------------------------------------------ array facts
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_floating_point(self) -> Callable[[], bool]:
        return lambda: self.data.dtype.kind == "f"

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        """The shape, or the size of one dim."""
        if dim is None:
            return self.data.shape
        return self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def element_size(self) -> int:
        return self.data.itemsize

    def stride(self, dim: int | None = None):
        strides = tuple(s // self.data.itemsize for s in self.data.strides)
        return strides if dim is None else strides[dim]

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self.data.size} elements cannot be converted to Scalar"
            )
        return self.data.reshape(()).item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared memory). Fails if the tensor requires grad."""
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous "
                f"(shape {tuple(self.shape)})"
            )
        return builtins.bool(self.data.reshape(()))

    def __int__(self) -> int:
        return int(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ copies and casts
    def clone(self) -> Tensor:
        """A copy that stays in the graph (gradient flows back to self)."""
        return _ops.clone(self)

    def astype(self, dtype: Any) -> Tensor:
        """This tensor as ``dtype`` (differentiable between floating dtypes)."""
        return _ops.cast(self, dtype)

    to = astype

    def type(self, dtype: Any = None):
        if dtype is None:
            return f"minigrad.{self.data.dtype.name}"
        return self.astype(dtype)

    def float(self) -> Tensor:
        return _ops.cast(self, dtypes.float32)

    def double(self) -> Tensor:
        return _ops.cast(self, dtypes.float64)

    def half(self) -> Tensor:
        return _ops.cast(self, dtypes.float16)

    def long(self) -> Tensor:
        return _ops.cast(self, dtypes.int64)

    def int(self) -> Tensor:
        return _ops.cast(self, dtypes.int32)

    def bool(self) -> Tensor:
        return _ops.cast(self, dtypes.bool)

    def cpu(self) -> Tensor:
        return self

    # ------------------------------------------------------------------ repr
    def __repr__(self) -> str:
        body = _format_data(self.data)
        extras = []
        if self.data.size == 0 and self.data.ndim != 1:
            extras.append(f"size={tuple(self.data.shape)}")
        if self.data.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool):
            extras.append(f"dtype={dtypes.dtype_name(self.data.dtype)}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __str__ = __repr__

    # ------------------------------------------------------------------ operators
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __floordiv__(self, other): return _ops.div(self, other, rounding_mode="floor")
    def __rfloordiv__(self, other): return _ops.div(other, self, rounding_mode="floor")
    def __mod__(self, other): return _ops.remainder(self, other)
    def __pow__(self, other): return _ops.pow(self, other)
    def __rpow__(self, other): return _ops.pow(other, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)
    def __invert__(self): return _ops.logical_not(self)
    def __and__(self, other): return _ops.logical_and(self, other)
    def __or__(self, other): return _ops.logical_or(self, other)
    def __xor__(self, other): return _ops.logical_xor(self, other)
    def __eq__(self, other): return _ops.eq(self, other)  # type: ignore[override]
    def __ne__(self, other): return _ops.ne(self, other)  # type: ignore[override]
    def __lt__(self, other): return _ops.lt(self, other)
    def __le__(self, other): return _ops.le(self, other)
    def __gt__(self, other): return _ops.gt(self, other)
    def __ge__(self, other): return _ops.ge(self, other)
    def __getitem__(self, index): return _ops.getitem(self, index)
    def __setitem__(self, index, value): _ops.setitem(self, index, value)
    def __iadd__(self, other): return _ops.inplace(self, _ops.add, other)
    def __isub__(self, other): return _ops.inplace(self, _ops.sub, other)
    def __imul__(self, other): return _ops.inplace(self, _ops.mul, other)
    def __itruediv__(self, other): return _ops.inplace(self, _ops.div, other)

    # ------------------------------------------------------------------ in-place methods
    def add_(self, other, *, alpha=1): return _ops.inplace(self, _ops.add, other, alpha=alpha)
    def sub_(self, other, *, alpha=1): return _ops.inplace(self, _ops.sub, other, alpha=alpha)
    def mul_(self, other): return _ops.inplace(self, _ops.mul, other)
    def div_(self, other): return _ops.inplace(self, _ops.div, other)
    def pow_(self, other): return _ops.inplace(self, _ops.pow, other)
    def clamp_(self, min=None, max=None): return _ops.inplace(self, _ops.clamp, min, max)
    def fill_(self, value): return _ops.fill_(self, value)
    def zero_(self): return _ops.fill_(self, 0)
    def copy_(self, src): return _ops.copy_(self, src)

    # ------------------------------------------------------------------ math methods
    def add(self, other, *, alpha=1): return _ops.add(self, other, alpha=alpha)
    def sub(self, other, *, alpha=1): return _ops.sub(self, other, alpha=alpha)
    def mul(self, other): return _ops.mul(self, other)
    def div(self, other, *, rounding_mode=None): return _ops.div(self, other, rounding_mode=rounding_mode)
    def pow(self, other): return _ops.pow(self, other)
    def neg(self): return _ops.neg(self)
    def matmul(self, other): return _ops.matmul(self, other)
    def mm(self, other): return _ops.matmul(self, other)
    def dot(self, other): return _ops.matmul(self, other)
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def log1p(self): return _ops.log1p(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def sin(self): return _ops.sin(self)
    def cos(self): return _ops.cos(self)
    def tanh(self): return _ops.tanh(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def relu(self): return _ops.relu(self)
    def clamp(self, min=None, max=None): return _ops.clamp(self, min, max)
    clip = clamp
    def maximum(self, other): return _ops.maximum(self, other)
    def minimum(self, other): return _ops.minimum(self, other)
    def sign(self): return _ops.sign(self)
    def square(self): return _ops.mul(self, self)
    def eq(self, other): return _ops.eq(self, other)
    def ne(self, other): return _ops.ne(self, other)
    def lt(self, other): return _ops.lt(self, other)
    def le(self, other): return _ops.le(self, other)
    def gt(self, other): return _ops.gt(self, other)
    def ge(self, other): return _ops.ge(self, other)
    def isnan(self): return _ops.isnan(self)
    def isinf(self): return _ops.isinf(self)
    def isfinite(self): return _ops.isfinite(self)
    def all(self, dim=None, keepdim=False): return _ops.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return _ops.any(self, dim, keepdim)
    def allclose(self, other, rtol=1e-5, atol=1e-8): return _ops.allclose(self, other, rtol, atol)
    def equal(self, other): return _ops.equal(self, other)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False, *, dtype=None): return _ops.sum(self, dim, keepdim, dtype=dtype)
    def mean(self, dim=None, keepdim=False, *, dtype=None): return _ops.mean(self, dim, keepdim, dtype=dtype)
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _ops.var(self, dim, unbiased, keepdim, correction=correction)
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _ops.std(self, dim, unbiased, keepdim, correction=correction)
    def prod(self, dim=None, keepdim=False, *, dtype=None): return _ops.prod(self, dim, keepdim, dtype=dtype)
    def max(self, dim=None, keepdim=False): return _ops.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _ops.min(self, dim, keepdim)
    def amax(self, dim=(), keepdim=False): return _ops.amax(self, dim, keepdim)
    def amin(self, dim=(), keepdim=False): return _ops.amin(self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return _ops.logsumexp(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return _ops.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _ops.argmin(self, dim, keepdim)
    def softmax(self, dim, dtype=None): return _ops.softmax(self, dim, dtype)
    def log_softmax(self, dim, dtype=None): return _ops.log_softmax(self, dim, dtype)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape): return _ops.reshape(self, *shape)
    def view(self, *shape): return _ops.view(self, *shape)
    def view_as(self, other): return _ops.view(self, other.shape)
    def reshape_as(self, other): return _ops.reshape(self, other.shape)
    def flatten(self, start_dim=0, end_dim=-1): return _ops.flatten(self, start_dim, end_dim)
    def unflatten(self, dim, sizes): return _ops.unflatten(self, dim, sizes)
    def squeeze(self, dim=None): return _ops.squeeze(self, dim)
    def unsqueeze(self, dim): return _ops.unsqueeze(self, dim)
    def transpose(self, dim0, dim1): return _ops.transpose(self, dim0, dim1)
    def permute(self, *dims): return _ops.permute(self, *dims)
    def t(self): return _ops.t(self)
    def expand(self, *sizes): return _ops.expand(self, *sizes)
    def expand_as(self, other): return _ops.expand(self, other.shape)
    def broadcast_to(self, shape): return _ops.broadcast_to(self, shape)
    def contiguous(self): return _ops.contiguous(self)
    def split(self, split_size, dim=0): return _ops.split(self, split_size, dim)
    def chunk(self, chunks, dim=0): return _ops.chunk(self, chunks, dim)

    @property
    def T(self) -> Tensor:
        """All dims reversed (the matrix transpose for 2-D tensors)."""
        return _ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        return _ops.transpose(self, -2, -1)


def _format_data(data: np.ndarray) -> str:
    """Array text laid out like torch's (``tensor([[1., 2.],\\n        [3., 4.]])``)."""
    kw: dict[str, Any] = {"separator": ", ", "prefix": "tensor(", "threshold": 1000, "edgeitems": 3}
    if data.dtype.kind == "f":
        finite = data[np.isfinite(data)]
        amax = float(np.abs(finite).max()) if finite.size else 0.0
        amin = float(np.abs(finite[finite != 0]).min()) if np.any(finite != 0) else 0.0
        if np.all(finite == np.round(finite)) and amax < 1e8:
            kw["formatter"] = {"float_kind": lambda v: _int_like(v)}
        elif amax >= 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1000):
            kw["formatter"] = {"float_kind": lambda v: f"{v:.4e}"}
        else:
            kw["formatter"] = {"float_kind": lambda v: f"{v:.4f}"}
    text = np.array2string(data, **kw)
    return text


def _int_like(v: float) -> str:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{int(v)}."


from . import ops as _ops  # noqa: E402  (ops import Tensor)
