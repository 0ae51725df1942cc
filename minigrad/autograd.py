"""Reverse-mode automatic differentiation: grad mode, ``Function``, and the backward engine.

The graph is dynamic. Every differentiable op is a ``Function`` subclass with a static
``forward(ctx, *arrays)`` and ``backward(ctx, grad_output)``; ``Function.apply`` runs the
forward on raw NumPy arrays and, when a gradient will be needed, returns a ``Tensor`` whose
``grad_fn`` is the op's ``Context``. The context is the graph node: it holds what backward
needs and links to the nodes (or leaf tensors) that produced the op's inputs.

``backward`` sorts the nodes reachable from the root topologically (iteratively, so deep
graphs never hit the recursion limit), runs each node's backward once with the sum of the
gradients flowing into it, undoes broadcasting centrally, and accumulates into the ``.grad``
of leaves (and of tensors that called ``retain_grad()``).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import dtypes

__all__ = [
    "Function",
    "Context",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
    "grad",
]

# --------------------------------------------------------------------------- grad mode

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph."""
    return _grad_enabled


class _GradMode:
    """Base for the grad-mode switches: a context manager and a decorator."""

    mode = True

    def __enter__(self) -> None:
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator that disables graph recording (``torch.no_grad``)."""

    mode = False


class enable_grad(_GradMode):
    """Context manager / decorator that enables graph recording (``torch.enable_grad``)."""

    mode = True


class set_grad_enabled(_GradMode):
    """Set grad mode on or off: as a call, a context manager or a decorator."""

    def __init__(self, mode: bool) -> None:
        global _grad_enabled
        self.mode = bool(mode)
        self._prev = _grad_enabled
        _grad_enabled = self.mode  # takes effect immediately, like torch

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        global _grad_enabled
        _grad_enabled = self._prev
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


# --------------------------------------------------------------------------- graph nodes

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward(). Specify retain_graph=True if you need to backward through "
    "the graph a second time or if you need to access saved tensors after calling backward."
)


class Context:
    """What an op's forward leaves for its backward; also the op's node in the graph.

    Attributes:
        needs_input_grad: one bool per forward input: does that input need a gradient?
        saved_tensors: the arrays given to ``save_for_backward``.
        next: one entry per forward input: the producing ``Context`` for a non-leaf
            tensor, the tensor itself for a leaf that requires grad, else ``None``.
    """

    __slots__ = (
        "fn",
        "needs_input_grad",
        "next",
        "_shapes",
        "_dtypes",
        "_saved",
        "_recording",
        "_hooks",
        "_retained",
        "_versions",
        "__dict__",
        "__weakref__",
    )

    def __init__(self, fn: type[Function]) -> None:
        self.fn = fn
        self.needs_input_grad: tuple[bool, ...] = ()
        self.next: list = []
        self._saved: tuple | None = ()
        self._recording = False
        self._hooks: list | None = None
        self._retained: weakref.ref | None = None
        self._versions: list | None = None

    # torch API -----------------------------------------------------------------
    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for backward. A no-op when no input needs a gradient."""
        if self._recording:
            self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(_FREED)
        return self._saved

    def name(self) -> str:
        return f"{self.fn.__name__}Backward"

    @property
    def next_functions(self) -> tuple:
        """``(node, 0)`` pairs like torch: a Context, an ``AccumulateGrad`` leaf, or None."""
        out = []
        for item in self.next:
            if item is None or isinstance(item, Context):
                out.append((item, 0))
            else:
                out.append((AccumulateGrad(item), 0))
        return tuple(out)

    def register_hook(self, hook: Callable) -> None:
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)

    def release(self) -> None:
        """Drop the saved arrays (after backward, unless retain_graph)."""
        if self._saved:
            self._saved = None

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad:
    """The node that writes a leaf's gradient into ``.grad`` (shown in ``next_functions``)."""

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


# --------------------------------------------------------------------------- Function


class Function:
    """Base class of every differentiable op, built-in or user-written (``torch.autograd.Function``).

    Subclasses define two static methods::

        class Mul(Function):
            @staticmethod
            def forward(ctx, x, y):          # NumPy arrays in (non-tensor args as given)
                ctx.save_for_backward(x, y)
                return x * y                 # one NumPy array out
            @staticmethod
            def backward(ctx, grad_output):  # one gradient per forward input (None to skip)
                x, y = ctx.saved_tensors
                return grad_output * y, grad_output * x

    and are called as ``Mul.apply(a, b)``. Gradients may have the broadcast shape of the
    output: the engine sums them back to each input's shape.
    """

    @staticmethod
    def forward(ctx: Context, *args: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        ctx = Context(cls)
        raw = []
        needs = []
        nxt = []
        any_grad = False
        record = _grad_enabled
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                if record and a.requires_grad:
                    any_grad = True
                    needs.append(True)
                    nxt.append(a if a.grad_fn is None else a.grad_fn)
                else:
                    needs.append(False)
                    nxt.append(None)
            else:
                raw.append(a)
                needs.append(False)
                nxt.append(None)
        ctx.needs_input_grad = tuple(needs)
        ctx._recording = any_grad
        out = cls.forward(ctx, *raw)
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        if not any_grad:
            return Tensor._make(out, False, None)
        ctx.next = nxt
        ctx._shapes = [a.shape if isinstance(a, Tensor) else None for a in args]
        ctx._dtypes = [a.data.dtype if isinstance(a, Tensor) else None for a in args]
        if _version_checks:
            ctx._versions = [
                (a._version, a._version[0]) if isinstance(a, Tensor) else None for a in args
            ]
        if not dtypes.is_floating(out.dtype):
            # Integer/bool outputs (argmax, comparisons) carry no gradient.
            return Tensor._make(out, False, None)
        return Tensor._make(out, True, ctx)


# In-place version checks can be switched off for speed-critical code (they are cheap).
_version_checks = True


# --------------------------------------------------------------------------- the engine


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing NumPy/torch broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        return grad.reshape(shape) if grad.size == int(np.prod(shape)) else grad
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if extra:
        grad = grad.reshape(grad.shape[extra:])
    return grad


def _check_versions(ctx: Context) -> None:
    if not ctx._versions or not ctx._saved:
        return
    for i, entry in enumerate(ctx._versions):
        if entry is not None and entry[0][0] != entry[1]:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: input {i} of {ctx.name()} is at version "
                f"{entry[0][0]}; expected version {entry[1]} instead."
            )


def _topological_order(root: Context) -> list[Context]:
    """Nodes reachable from ``root``, each before every node that feeds it."""
    order: list[Context] = []
    visited = {root}
    stack = [(root, iter(root.next))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if isinstance(child, Context) and child not in visited:
                visited.add(child)
                stack.append((child, iter(child.next)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def _run_hooks(hooks: list, grad: np.ndarray) -> tuple[np.ndarray, bool]:
    """Apply tensor hooks in order; returns the (maybe replaced) gradient and ownership."""
    owned = True
    for hook in hooks:
        result = hook(Tensor._make(grad, False, None))
        if result is not None:
            grad = result.data if isinstance(result, Tensor) else np.asarray(result)
            owned = False
    return grad, owned


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray, owned: bool) -> None:
    if leaf._hooks:
        grad, hook_owned = _run_hooks(leaf._hooks, grad)
        owned = owned and hook_owned
    if grad.dtype != leaf.data.dtype:
        grad = grad.astype(leaf.data.dtype)
        owned = True
    if grad.shape != leaf.data.shape:
        grad = np.broadcast_to(grad, leaf.data.shape)
        owned = False
    if leaf.grad is None:
        if not owned or not grad.flags.writeable:
            grad = np.array(grad)
        leaf.grad = Tensor._make(grad, False, None)
    else:
        acc = leaf.grad.data
        if acc.flags.writeable and acc.shape == grad.shape:
            np.add(acc, grad, out=acc, casting="unsafe")
        else:
            leaf.grad = Tensor._make(acc + grad, False, None)


def backward(
    tensor: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    inputs: list | None = None,
) -> None:
    """Compute the gradient of ``tensor`` w.r.t. graph leaves (``Tensor.backward``)."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "element 0 of tensors does not require grad and does not have a grad_fn: "
            "backward() needs a tensor computed from inputs with requires_grad=True "
            "(and outside no_grad())"
        )
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                "grad can be implicitly created only for scalar outputs: pass "
                f"gradient= of shape {tuple(tensor.shape)} to backward()"
            )
        grad = np.ones_like(tensor.data)
        owned = True
    else:
        grad = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
        if grad.shape != tensor.data.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[0] has a shape of {tuple(grad.shape)} and "
                f"output[0] has a shape of {tuple(tensor.data.shape)}."
            )
        if grad.dtype != tensor.data.dtype:
            grad = grad.astype(tensor.data.dtype)
        owned = False
    if tensor.grad_fn is None:
        _accumulate_leaf(tensor, grad, owned)
        return
    run_backward(tensor.grad_fn, grad, owned, bool(retain_graph), inputs)


def run_backward(
    root: Context,
    grad: np.ndarray,
    owned: bool,
    retain_graph: bool,
    inputs: list | None = None,
    hook: Callable | None = None,
) -> None:
    """Run backward from node ``root`` seeded with ``grad``.

    ``inputs`` restricts which leaves receive ``.grad``; ``hook(ctx, grad_output, grads)``,
    if given, is called after each node's backward (tracing and anomaly checks use it).
    """
    only = None if inputs is None else {id(t) for t in inputs}
    pending: dict[Context, list] = {root: [grad, owned]}
    leaves: dict[int, list] = {}
    for ctx in _topological_order(root):
        entry = pending.pop(ctx, None)
        if entry is None:
            continue
        g, g_owned = entry
        if ctx._hooks:
            g, hook_owned = _run_hooks(ctx._hooks, g)
            g_owned = g_owned and hook_owned
        if ctx._retained is not None:
            kept = ctx._retained()
            if kept is not None:
                if kept.grad is None:
                    kept.grad = Tensor._make(np.array(g), False, None)
                else:
                    kept.grad = Tensor._make(kept.grad.data + g, False, None)
        if ctx._saved is None:
            raise RuntimeError(_FREED)
        _check_versions(ctx)
        grads = ctx.fn.backward(ctx, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if hook is not None:
            hook(ctx, g, grads)
        n_in = len(ctx.next)
        if len(grads) != n_in:
            if len(grads) > n_in or any(ctx.needs_input_grad[len(grads):]):
                raise RuntimeError(
                    f"function {ctx.name()} returned an incorrect number of gradients "
                    f"(expected {n_in}, got {len(grads)})"
                )
        seen: set[int] = set()
        for i, gi in enumerate(grads):
            target = ctx.next[i]
            if target is None or gi is None:
                continue
            if not isinstance(gi, np.ndarray):
                gi = gi.data if isinstance(gi, Tensor) else np.asarray(gi)
            shape = ctx._shapes[i]
            gi_owned = gi is not g and gi.base is None and id(gi) not in seen
            seen.add(id(gi))
            if gi.shape != shape:
                reduced = unbroadcast(gi, shape)
                if reduced.shape != shape:
                    raise RuntimeError(
                        f"Function {ctx.name()} returned an invalid gradient at index {i} - "
                        f"got {list(gi.shape)} but expected shape compatible with {list(shape)}"
                    )
                gi_owned = gi_owned or reduced is not gi
                gi = reduced
            dt = ctx._dtypes[i]
            if gi.dtype != dt:
                gi = gi.astype(dt)
                gi_owned = True
            if isinstance(target, Context):
                slot = pending.get(target)
            else:
                if only is not None and id(target) not in only:
                    continue
                slot = leaves.get(id(target))
            if slot is None:
                if isinstance(target, Context):
                    pending[target] = [gi, gi_owned]
                else:
                    leaves[id(target)] = [gi, gi_owned, target]
            elif slot[1] and slot[0].flags.writeable:
                np.add(slot[0], gi, out=slot[0])
            else:
                slot[0] = slot[0] + gi
                slot[1] = True
        if not retain_graph:
            ctx.release()
    for g, g_owned, leaf in leaves.values():
        _accumulate_leaf(leaf, g, g_owned)


def grad(
    outputs: Tensor,
    inputs: Tensor | list[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    allow_unused: bool = False,
) -> tuple:
    """Return d(outputs)/d(inputs) without touching ``.grad`` (``torch.autograd.grad``).

    Works on leaf and non-leaf inputs; the result tuple has one entry per input.
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    saved = []
    for t in inputs:
        saved.append(t.grad)
        t.grad = None
        if t.grad_fn is not None:
            t.retain_grad()
    try:
        backward(outputs, grad_outputs, retain_graph, inputs=[t for t in inputs if t.is_leaf])
        result = tuple(t.grad for t in inputs)
    finally:
        for t, g in zip(inputs, saved):
            t.grad = g
            if t.grad_fn is not None:
                t.grad_fn._retained = None
    for r in result:
        if r is None and not allow_unused:
            raise RuntimeError(
                "One of the differentiated Tensors appears to not have been used in the "
                "graph. Set allow_unused=True if this is the desired behavior."
            )
    return result


from .tensor import Tensor  # noqa: E402  (Tensor needs this module first)
