"""``Tensor``: a NumPy array plus what reverse-mode autograd needs.

A tensor holds ``data`` (an ``np.ndarray``), ``grad`` (a Tensor or None), ``requires_grad``
and ``grad_fn`` (the graph node of the op that made it, None for leaves). Operators and
methods call the differentiable ops in ``minigrad/ops``; this file holds no derivative.
"""

from __future__ import annotations

import builtins
import weakref
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


# A tensor's version counter: a one-element list ``[n]`` shared by a tensor, its views and
# its detached copies. In-place writes bump it; backward compares it for saved arrays.
# (A plain list: ``[0]`` is the cheapest thing to make for every op's output.)
_VersionCounter = list


class _Sharers:
    """Weak references to the tensors that share one version counter (and memory)."""

    __slots__ = ("refs",)

    def __init__(self) -> None:
        self.refs: list = []

    def __reduce__(self):
        return (_Sharers, ())  # a copied or unpickled tensor shares memory with nobody


def _share_version(counter: list, *tensors: Tensor) -> None:
    """Note that ``tensors`` share ``counter`` (and memory): the list then holds, after the
    version, weak references to them, so an in-place op that has to move a tensor onto new
    memory can tell whether another live tensor still shares the old one (``ops/inplace.py``)."""
    if len(counter) == 1:
        counter.append(_Sharers())
    refs = counter[1].refs
    if len(refs) > 16:
        refs[:] = [r for r in refs if r() is not None]
    for t in tensors:
        for r in refs:
            if r() is t:
                break
        else:
            refs.append(weakref.ref(t))


def _memory_sharers(t: Tensor) -> list:
    """Live tensors other than ``t`` recorded as sharing its memory (views, bases, detached)."""
    counter = t._version
    if len(counter) < 2:
        return []
    out = []
    for r in counter[1].refs:
        other = r()
        if other is not None and other is not t:
            out.append(other)
    return out


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
        self._version = [0]
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
        t._version = [0]
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
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
        *,
        trace: bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (summing with what is there).

        Args:
            gradient: d(loss)/d(self), same shape as ``self``; required unless ``self`` has
                one element.
            retain_graph: keep saved arrays so backward can run through the graph again.
            create_graph: not supported (raises NotImplementedError when True).
            inputs: only these tensors (leaves or not) receive ``.grad``.
            trace: print each backward node as it runs, with the shapes of the gradient it
                received and of those it returned (see ``minigrad.autograd.trace_backward``).
        """
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs, trace=trace)

    def retain_grad(self) -> None:
        """Fill ``.grad`` of this non-leaf tensor during backward (leaves always get one).

        The gradient is summed over backward calls, like a leaf's. After an in-place update
        it is the gradient for the new value, as in torch.
        """
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        import weakref

        self.grad_fn._retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor."""
        if self.grad_fn is None or self.grad_fn._retained is None:
            return False
        return self.grad_fn._retained() is self

    def register_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(grad)`` each time backward has computed this tensor's gradient.

        ``grad`` is a tensor of this tensor's shape (the sum of everything flowing in). If
        the hook returns a tensor (same shape and dtype), it replaces the gradient: that is
        what flows on and, for a leaf, what is added to ``.grad``. Hooks run in the order
        they were registered, with graph recording off.

        Returns:
            A handle; ``handle.remove()`` unregisters the hook.

        Example::

            w.register_hook(lambda g: g.clamp(-1, 1))   # clip this gradient
        """
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
        """The same data (shared memory and version counter), cut from the graph: the
        result needs no grad, and in-place changes to it are seen by this tensor."""
        t = Tensor._make(self.data, False, None)
        t._version = self._version
        _share_version(t._version, self, t)
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place (it becomes a leaf without grad)."""
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
            what = "no values" if self.data.size == 0 else "more than one value"
            raise RuntimeError(
                f"Boolean value of Tensor with {what} is ambiguous (shape {tuple(self.shape)})"
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
        text = "tensor(" + body
        line_len = len(text) - text.rfind("\n") + 1
        for e in extras:  # a suffix that would overflow the line goes on its own line
            if line_len + len(e) + 2 > _LINEWIDTH:
                text += ",\n" + " " * len("tensor(") + e
                line_len = len("tensor(") + len(e)
            else:
                text += ", " + e
                line_len += len(e) + 2
        return text + ")"

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


_PRECISION, _THRESHOLD, _EDGEITEMS, _LINEWIDTH = 4, 1000, 3, 80


def _summarized(data: np.ndarray) -> np.ndarray:
    """The elements a summarized print shows (first and last ``_EDGEITEMS`` of each dim)."""
    for axis, n in enumerate(data.shape):
        if n > 2 * _EDGEITEMS:
            keep = list(range(_EDGEITEMS)) + list(range(n - _EDGEITEMS, n))
            data = np.take(data, keep, axis=axis)
    return data


class _Formatter:
    """One number format and width for every element of a tensor, chosen as torch chooses it:
    integers-with-a-dot when every float is whole, scientific when magnitudes span more than
    1000x or leave [1e-4, 1e8), else 4 decimals; elements are right-aligned to a common width."""

    def __init__(self, data: np.ndarray) -> None:
        self.floating = data.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = data.reshape(-1)
        if not self.floating:
            self.width = builtins.max([1] + [len(str(v)) for v in flat.tolist()])
            return
        flat = flat.astype(np.float64)
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        amin, amax = float(np.abs(vals).min()), float(np.abs(vals).max())
        self.int_mode = builtins.bool(np.all(vals == np.ceil(vals)))
        wide = amax / amin > 1000.0 or amax > 1.0e8
        if self.int_mode:
            self.sci_mode = wide
            extra = 0 if wide else 1  # the trailing "."
        else:
            self.sci_mode = wide or amin < 1.0e-4
            extra = 0
        self.width = builtins.max(len(self._text(v)) + extra for v in vals.tolist())

    def _text(self, v: Any) -> str:
        if self.sci_mode:
            return f"{v:.{_PRECISION}e}"
        if self.int_mode:
            return f"{v:.0f}"
        return f"{v:.{_PRECISION}f}"

    def format(self, v: Any) -> str:
        if not self.floating:
            text = str(v)
        else:
            text = self._text(v)
            if self.int_mode and not self.sci_mode and np.isfinite(v):
                text += "."
        return " " * (self.width - len(text)) + text


def _format_nested(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if data.ndim == 0:
        return fmt.format(data.item())
    n = data.shape[0]
    cut = summarize and n > 2 * _EDGEITEMS
    if data.ndim == 1:
        per_line = builtins.max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
        if cut:
            head, tail = data[:_EDGEITEMS].tolist(), data[-_EDGEITEMS:].tolist()
            items = [fmt.format(v) for v in head] + [" ..."] + [fmt.format(v) for v in tail]
        else:
            items = [fmt.format(v) for v in data.tolist()]
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = range(n) if not cut else [*range(_EDGEITEMS), None, *range(n - _EDGEITEMS, n)]
    parts = ["..." if i is None else _format_nested(data[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (data.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _format_data(data: np.ndarray) -> str:
    """Array text laid out like torch's (``tensor([[1., 2.],\\n        [3., 4.]])``)."""
    if data.size == 0:
        return "[]"
    summarize = data.size > _THRESHOLD
    if data.dtype == np.float16:
        data = data.astype(np.float32)
    fmt = _Formatter(_summarized(data) if summarize else data)
    return _format_nested(data, len("tensor("), summarize, fmt)


from . import autograd as _autograd  # noqa: E402
from . import ops as _ops  # noqa: E402  (ops import Tensor)
