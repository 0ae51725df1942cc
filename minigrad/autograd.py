"""Reverse-mode automatic differentiation: grad mode, ``Function``, the backward engine, and
tools to look inside backward.

The graph is dynamic. Every differentiable op is a ``Function`` subclass with a static
``forward(ctx, *arrays)`` and ``backward(ctx, grad_output)``; ``Function.apply`` runs the
forward on raw NumPy arrays and, when a gradient will be needed, returns a ``Tensor`` whose
``grad_fn`` is the op's ``Context``. The context is the graph node: it holds what backward
needs and links to the nodes (or leaf tensors) that produced the op's inputs. Nodes never
point at the tensors they produced, so a graph is freed by reference counting as soon as its
output is dropped.

``backward`` sorts the nodes reachable from the root topologically (iteratively, so deep
graphs never hit the recursion limit), runs each node's backward once with the sum of the
gradients flowing into it, undoes broadcasting centrally, and accumulates into the ``.grad``
of leaves (and of tensors that called ``retain_grad()``).

Looking inside:

- ``loss.backward(trace=True)`` / ``trace_backward(loss)`` print each node as it runs, with
  the shape of the gradient it received and of each gradient it returned.
- ``with detect_anomaly():`` makes the first op whose forward output or backward gradient
  holds NaN/inf raise, naming the op and the line of user code that created it.
- ``grad_fn.next_functions`` walks the graph like torch's.

Grad mode and anomaly mode are per thread, as in torch.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np

__all__ = [
    "Function",
    "Context",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
    "grad",
    "trace_backward",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
]

# --------------------------------------------------------------------------- per-thread modes


class _State(threading.local):
    """Switches that are per thread (a data-loading thread never turns off our graph)."""

    grad_enabled = True
    anomaly = False
    check_nan = True


_state = _State()


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph."""
    return _state.grad_enabled


class _GradMode:
    """Base for ``no_grad`` / ``enable_grad``: a context manager and a decorator.

    Like torch, the class itself also works as a bare decorator (``@no_grad``).
    """

    mode = True

    def __new__(cls, func: Callable | None = None):
        self = super().__new__(cls)
        if func is None:
            return self
        return self(func)

    def __enter__(self) -> None:
        self._prev = _state.grad_enabled
        _state.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        cls = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with cls():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator that disables graph recording (``torch.no_grad``).

    Ops inside produce tensors with ``requires_grad=False``; use it for inference and for
    parameter updates.
    """

    mode = False


class enable_grad(_GradMode):
    """Context manager / decorator that enables graph recording (``torch.enable_grad``)."""

    mode = True


class set_grad_enabled:
    """Turn graph recording on or off (``torch.set_grad_enabled``).

    Works three ways, like torch: as a plain call (``set_grad_enabled(False)`` takes effect
    immediately and stays), as a context manager (restores the previous mode on exit), and as
    a decorator (the mode applies inside the decorated function only).
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev = _state.grad_enabled
        _state.grad_enabled = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        _state.grad_enabled = self._prev  # decorating must not change the current mode
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


# --------------------------------------------------------------------------- anomaly mode

# True once any thread has turned anomaly mode on: ops read this plain global first, so the
# per-thread lookup costs nothing while nobody uses anomaly detection.
_anomaly_ever = False


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in this thread."""
    return _state.anomaly


class set_detect_anomaly:
    """Turn anomaly detection on or off: as a call, or as a context manager.

    Args:
        mode: on or off.
        check_nan: also raise on NaN/inf values (otherwise only record where ops were
            created, so that errors raised in backward say which line made the op).
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        global _anomaly_ever
        self._prev = (_state.anomaly, _state.check_nan)
        _state.anomaly = bool(mode)
        _state.check_nan = bool(check_nan)
        _anomaly_ever = _anomaly_ever or bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _state.anomaly, _state.check_nan = self._prev


class detect_anomaly:
    """Context manager that finds where NaN/inf first appear (``torch.autograd.detect_anomaly``).

    While active:

    - every op records the user's line of code that created it;
    - the first op whose forward output contains NaN/inf raises ``RuntimeError`` naming the
      op (its ``Function`` name) and that line (torch checks only backward; the forward check
      catches ``log(0)`` where it happens);
    - in backward, the first node that returns a gradient containing NaN/inf raises, naming
      the node and the line that created its op; any other error raised in a node's backward
      gets that line attached as a note.

    It slows every op down (a stack capture per op): use it to debug, not to train.

    Args:
        check_nan: raise on NaN/inf (False: only record creation sites).

    Example::

        with minigrad.autograd.detect_anomaly():
            loss = model(x).log().sum()   # raises here if log() produced -inf
            loss.backward()               # or here, naming e.g. SqrtBackward
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> detect_anomaly:
        global _anomaly_ever
        self._prev = (_state.anomaly, _state.check_nan)
        _state.anomaly = True
        _state.check_nan = self.check_nan
        _anomaly_ever = True
        return self

    def __exit__(self, *exc: object) -> None:
        _state.anomaly, _state.check_nan = self._prev


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_stack() -> list[traceback.FrameSummary]:
    """The current call stack without minigrad's own frames (innermost last)."""
    stack = traceback.extract_stack()
    return [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]


def _site(stack: list[traceback.FrameSummary] | None) -> str:
    """``file:line in function: code`` for the innermost user frame."""
    if not stack:
        return (
            "an unknown line (the op was created outside detect_anomaly(); run the forward "
            "pass inside it to see where)"
        )
    f = stack[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f"{f.filename}:{f.lineno} in {f.name}{code}"


def _bad_values(arr: np.ndarray) -> str | None:
    """'nan', 'inf' or None: what non-finite values a floating array holds."""
    if arr.dtype.kind not in "fc" or np.isfinite(arr).all():
        return None
    return "nan" if np.isnan(arr).any() else "inf"


def _check_forward(fn: type[Function], out: np.ndarray, stack: list | None) -> None:
    bad = _bad_values(out)
    if bad is not None:
        raise RuntimeError(
            f"Function '{fn.__name__}' returned {bad} values in its forward output "
            f"(shape {tuple(out.shape)}); the op was called at {_site(stack)}"
        )


# --------------------------------------------------------------------------- graph nodes

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class Context:
    """What an op's forward leaves for its backward; also the op's node in the graph.

    Attributes:
        needs_input_grad: one bool per forward input: does that input need a gradient?
        saved_tensors: the arrays given to ``save_for_backward``.
        next: one entry per forward input: the producing ``Context`` for a non-leaf
            tensor, the tensor itself for a leaf that requires grad, else ``None``.
        next_functions: the same as torch shows it: ``((node, 0), ...)``.

    Ops store their own settings (shapes, axes, flags) as further attributes. Only arrays
    passed to ``save_for_backward`` are freed after backward, so big arrays go there.
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
        "_stack",
        "__dict__",
        "__weakref__",
    )

    def __init__(self, fn: type[Function], needs_input_grad: tuple = (), recording: bool = False):
        self.fn = fn
        self.needs_input_grad = needs_input_grad
        self._recording = recording
        self._saved: tuple | None = ()

    # torch API -----------------------------------------------------------------
    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for backward (freed after it). A no-op when no input needs a gradient."""
        if self._recording:
            self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """The arrays given to ``save_for_backward`` (an error once backward freed them)."""
        if self._saved is None:
            raise RuntimeError(_FREED)
        return self._saved

    def mark_non_differentiable(self, *arrays: Any) -> None:
        """Declare the output not differentiable (torch's name): it will not require grad."""
        self._recording = False
        self._saved = ()

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for torch compatibility: ``grad_output`` is always an array here."""

    def mark_dirty(self, *arrays: Any) -> None:
        raise NotImplementedError(
            "ctx.mark_dirty: custom Functions that modify their inputs in place are not "
            "supported; return a new array instead"
        )

    def name(self) -> str:
        """``<Op>Backward``, e.g. ``MulBackward``."""
        return f"{self.fn.__name__}Backward"

    @property
    def next_functions(self) -> tuple:
        """``(node, 0)`` per forward input, like torch: the producing ``Context``, an
        ``AccumulateGrad`` for a leaf that requires grad, or ``None``."""
        return tuple(
            (item if item is None or type(item) is Context else _accumulate_node(item), 0)
            for item in self.next
        )

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad:
    """The node that writes a leaf's gradient into ``.grad`` (shown in ``next_functions``).

    One per leaf while anyone holds it, so ``a.next_functions[0][0] is b.next_functions[0][0]``
    when both ops read the same leaf, as in torch.
    """

    __slots__ = ("variable", "__weakref__")

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    @property
    def next_functions(self) -> tuple:
        return ()

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


_accumulators: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _accumulate_node(leaf: Any) -> AccumulateGrad:
    # Keyed by id: the AccumulateGrad holds the leaf, so the id cannot be reused meanwhile.
    node = _accumulators.get(id(leaf))
    if node is None:
        node = _accumulators[id(leaf)] = AccumulateGrad(leaf)
    return node


# --------------------------------------------------------------------------- Function


def _root(arr: np.ndarray) -> np.ndarray:
    """The array that owns ``arr``'s memory (NumPy collapses view chains to the owner)."""
    base = arr.base
    return arr if base is None or not isinstance(base, np.ndarray) else base


def _alias_input(out: np.ndarray, args: tuple) -> Any:
    """The tensor argument whose memory ``out`` is (a view of), else None."""
    root = _root(out)
    for a in args:
        if isinstance(a, Tensor) and (a.data is out or _root(a.data) is root):
            return a
    return None


def _saved_versions(saved: tuple, args: tuple, out: Tensor) -> list | None:
    """``(counter, version now, which)`` for every input/output whose memory was saved.

    Backward compares the counters with the recorded versions: an in-place write to a saved
    array (under ``no_grad``, or to a tensor that needs no grad) is then an error rather
    than a silently wrong gradient. Arrays an op computed itself cannot be written by anyone
    else and are not tracked.
    """
    entries = []
    for s in saved:
        if type(s) is not np.ndarray:
            continue
        root = s.base  # for a view: the array owning the memory (NumPy collapses chains)
        i = 0
        for a in args:
            if isinstance(a, Tensor):
                d = a.data
                if d is s or (root is not None and (d is root or d.base is root)):
                    v = a._version
                    entries.append((v, v[0], i))
            i += 1
        d = out.data
        if d is s or (root is not None and (d is root or d.base is root)):
            v = out._version
            entries.append((v, v[0], -1))
    return entries or None


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
    output: the engine sums them back to each input's shape and casts them to its dtype.
    ``ctx.needs_input_grad[i]`` says whether input ``i`` needs a gradient at all.

    Rules the engine relies on:

    - ``forward`` returns one array; it may be a view of an input (the output then shares
      the input's version counter, like a torch view).
    - ``backward`` returns one entry per ``forward`` argument (``None`` for non-tensors and
      skipped inputs; extra trailing ``None`` are allowed). It must not modify
      ``grad_output`` in place, and must return either new arrays, views, ``grad_output``
      itself or saved arrays, never a buffer it reuses later: the engine adopts a new array
      as a leaf's ``.grad`` (or adds into it in place) without copying.
    - Arrays go to ``ctx.save_for_backward`` (released after backward, checked against
      in-place writes); other settings go on ``ctx`` attributes.
    """

    @staticmethod
    def forward(ctx: Context, *args: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run the op on tensors (and plain values); record it when a gradient is needed."""
        record = False
        if _state.grad_enabled:
            raw = []
            needs = []
            for a in args:
                if isinstance(a, Tensor):
                    raw.append(a.data)
                    if a._requires_grad:
                        record = True
                        needs.append(True)
                    else:
                        needs.append(False)
                else:
                    raw.append(a)
                    needs.append(False)
            needs = tuple(needs)
        else:  # no_grad: nothing to record
            raw = [a.data if isinstance(a, Tensor) else a for a in args]
            needs = (False,) * len(args)
        ctx = Context(cls, needs, record)
        stack = None
        if _anomaly_ever and _state.anomaly:
            stack = _user_stack()
        try:
            out = cls.forward(ctx, *raw)
        except ValueError as exc:  # costs nothing unless the forward failed
            _raise_broadcast_error(cls, raw, exc)
            raise
        if type(out) is not np.ndarray:
            out = _as_output(cls, out)
        if stack is not None and _state.check_nan:
            _check_forward(cls, out, stack)
        if not ctx._recording or out.dtype.kind not in "fc":
            # Integer/bool outputs (argmax, comparisons) carry no gradient.
            result = Tensor._make(out, False, None)
        else:
            # The graph edges, and the input shapes/dtypes (for unbroadcasting, casting and
            # drawing the graph).
            nxt = []
            shapes = []
            dts = []
            for a in args:
                if isinstance(a, Tensor):
                    d = a.data
                    shapes.append(d.shape)
                    dts.append(d.dtype)
                    if a._requires_grad:
                        node = a.grad_fn
                        nxt.append(a if node is None else node)
                    else:
                        nxt.append(None)
                else:
                    nxt.append(None)
                    shapes.append(None)
                    dts.append(None)
            ctx.next = nxt
            ctx._shapes = shapes
            ctx._dtypes = dts
            ctx._hooks = None
            ctx._retained = None
            if stack is not None:
                ctx._stack = stack
            result = Tensor._make(out, True, ctx)
        # An output that is (a view of) an input shares its version counter, as torch's
        # views do: an in-place write through either one is seen by backward.
        alias = out.base is not None
        if not alias:
            for r in raw:
                if r is out:
                    alias = True
                    break
        if alias:
            src = _alias_input(out, args)
            if src is not None:
                result._version = src._version
                _share_version(src._version, src, result)
        if result._requires_grad:
            saved = ctx._saved
            ctx._versions = _saved_versions(saved, args, result) if saved else None
        return result


def _raise_broadcast_error(fn: type[Function], raw: list, exc: ValueError) -> None:
    """Turn NumPy's broadcasting ValueError into a RuntimeError naming the op and the shapes."""
    if "broadcast" not in str(exc):
        return
    shapes = [tuple(r.shape) for r in raw if isinstance(r, np.ndarray)]
    if len(shapes) < 2:
        return
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + s for s in shapes]
    detail = ""
    for dim in range(ndim):
        sizes = [p[dim] for p in padded]
        big = [n for n in sizes if n != 1]
        if big and any(n != big[0] for n in big):
            i = next(k for k, n in enumerate(sizes) if n != 1)
            j = next(k for k, n in enumerate(sizes) if n != 1 and n != sizes[i])
            detail = (
                f": the size of operand {i} ({sizes[i]}) must match the size of operand {j} "
                f"({sizes[j]}) at non-singleton dimension {dim}"
            )
            break
    if not detail:
        return
    listed = " and ".join(str(s) for s in shapes)
    raise RuntimeError(
        f"{fn.__name__}: shapes {listed} cannot be broadcast together{detail}"
    ) from None


def _as_output(fn: type[Function], out: Any) -> np.ndarray:
    if isinstance(out, (tuple, list)):
        raise TypeError(
            f"{fn.__name__}.forward returned a {type(out).__name__}: a Function returns one "
            "array (split multi-output ops into several Functions)"
        )
    if isinstance(out, Tensor):
        return out.data
    return np.asarray(out)


# --------------------------------------------------------------------------- the engine


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing NumPy/torch broadcasting.

    Returns ``grad`` itself when the shapes match, a new array when it summed, and an array
    of some other shape when ``shape`` does not broadcast to ``grad.shape`` (the caller
    reports that).
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        return grad
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if not axes:
        return grad
    summed = grad.sum(axis=axes, keepdims=True)
    return summed.reshape(summed.shape[extra:]) if extra else summed


def _run_hooks(hooks: list, grad: np.ndarray, owned: bool) -> tuple[np.ndarray, bool]:
    """Apply tensor hooks in order; a hook may return a replacement gradient.

    A hook that keeps the gradient it was given (or a view of it) makes the array shared:
    the engine then copies instead of adopting it, so the kept value never changes later.
    """
    for hook in tuple(hooks):  # a hook may remove itself
        refs = sys.getrefcount(grad)
        wrapped = Tensor._make(grad, False, None)
        result = hook(wrapped)
        if sys.getrefcount(wrapped) > 2 or sys.getrefcount(grad) > refs + 1:
            owned = False  # the hook kept the tensor or the array
        del wrapped
        if result is None:
            continue
        new = result.data if isinstance(result, Tensor) else np.asarray(result)
        name = getattr(hook, "__name__", type(hook).__name__)
        if new.shape != grad.shape:
            raise RuntimeError(
                f"hook '{name}' has changed the size of value (was {tuple(grad.shape)}, "
                f"got {tuple(new.shape)})"
            )
        if new.dtype != grad.dtype:
            raise RuntimeError(
                f"hook '{name}' has changed the type of value (was {grad.dtype.name} got "
                f"{new.dtype.name})"
            )
        grad, owned = new, False
    return grad, owned


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray, owned: bool) -> None:
    """Add ``grad`` into ``leaf.grad`` (adopting it when nobody else holds the array)."""
    current = leaf.grad
    if current is None:
        if not owned or not grad.flags.writeable:
            grad = grad.copy()
        leaf.grad = Tensor._make(grad, False, None)
        return
    acc = current.data
    if acc.flags.writeable and acc.shape == grad.shape and acc.dtype == grad.dtype:
        np.add(acc, grad, out=acc)
    else:
        leaf.grad = Tensor._make(acc + grad, False, None)


def _topological_order(roots: list[Context]) -> list[Context]:
    """Nodes reachable from ``roots``, each before every node that feeds it (iterative DFS)."""
    order: list[Context] = []
    visited: set[Context] = set()
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(root.next))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if type(child) is Context and child not in visited:
                    visited.add(child)
                    stack.append((child, iter(child.next)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _needed(order: list[Context], leaf_ids: set[int], capture: dict) -> set[Context]:
    """Nodes whose backward must run so that gradients reach the requested inputs."""
    needed: set[Context] = set()
    for node in reversed(order):  # inputs-side first
        for child in node.next:
            if child is None:
                continue
            if (type(child) is Context and (child in needed or child in capture)) or (
                type(child) is not Context and id(child) in leaf_ids
            ):
                needed.add(node)
                break
    return needed


def _fmt_shape(shape: tuple) -> str:
    return str(tuple(shape))


class _Tracer:
    """Writes one line per executed node (see ``trace_backward``)."""

    def __init__(self, file: TextIO | None) -> None:
        self.file = file if file is not None else sys.stdout
        self.step = 0

    def node(self, ctx: Context, grad_output: np.ndarray, parts: list[str]) -> None:
        self.step += 1
        returned = ", ".join(parts) if parts else "nothing"
        print(
            f"[{self.step}] {ctx.name()}: grad_output {_fmt_shape(grad_output.shape)} -> "
            f"{returned}",
            file=self.file,
        )

    def leaf(self, leaf: Tensor, grad: np.ndarray, where: str) -> None:
        self.step += 1
        print(
            f"[{self.step}] AccumulateGrad: grad {_fmt_shape(grad.shape)} -> {where} of a leaf "
            f"{_fmt_shape(leaf.data.shape)} {leaf.data.dtype.name}",
            file=self.file,
        )


def _node_error(ctx: Context, exc: BaseException) -> None:
    """Attach the op's creation site (recorded in anomaly mode) to an error from its node."""
    stack = getattr(ctx, "_stack", None)
    if stack and "the op was created at" not in str(exc):
        lines = "".join(traceback.format_list(stack)).rstrip()
        exc.add_note(
            f"The op {ctx.fn.__name__} ({ctx.name()}) was created at {_site(stack)}\n"
            f"Traceback of its forward call:\n{lines}"
        )


def _check_grads(ctx: Context, grads: tuple) -> None:
    for i, gi in enumerate(grads):
        if gi is None:
            continue
        bad = _bad_values(np.asarray(gi.data if isinstance(gi, Tensor) else gi))
        if bad is not None:
            raise RuntimeError(
                f"Function '{ctx.name()}' returned {bad} values in its {i}th output (the "
                f"gradient for input {i} of {ctx.fn.__name__}); the op was created at "
                f"{_site(getattr(ctx, '_stack', None))}"
            )


def run_backward(
    roots: list[tuple[Tensor, np.ndarray, bool]],
    retain_graph: bool = False,
    inputs: list[Tensor] | None = None,
    accumulate: bool = True,
    trace: TextIO | bool | None = None,
) -> list | None:
    """The engine: propagate gradients from ``roots`` back through the graph.

    Args:
        roots: ``(tensor, gradient, owned)`` triples; ``owned`` says the engine may adopt and
            modify the gradient array (nobody else holds it).
        retain_graph: keep saved arrays so backward can run through the graph again.
        inputs: if given, only these tensors (leaves or not) receive gradients, and only the
            part of the graph leading to them runs.
        accumulate: write into ``.grad`` (backward) or return the gradients (``grad``).
        trace: a file to write the trace to (``True``: stdout), or None.

    Returns:
        With ``accumulate=False``: one array (or None) per entry of ``inputs``.
    """
    tracer = None if trace is None or trace is False else _Tracer(None if trace is True else trace)
    check_nan = _anomaly_ever and _state.anomaly and _state.check_nan

    # What to capture: leaves by identity, non-leaf inputs at their producing node.
    leaf_ids: set[int] | None = None
    capture: dict[Context, list[int]] = {}
    captured: list = []
    if inputs is not None:
        leaf_ids = set()
        captured = [None] * len(inputs)
        for k, t in enumerate(inputs):
            if t.grad_fn is None:
                leaf_ids.add(id(t))
            else:
                capture.setdefault(t.grad_fn, []).append(k)

    pending: dict[Context, list] = {}
    leaves: dict[int, list] = {}
    for tensor, g, owned in roots:
        node = tensor.grad_fn
        if node is None:
            slot = leaves.get(id(tensor))
            if slot is None:
                leaves[id(tensor)] = [g, owned, tensor]
            else:
                slot[0], slot[1] = slot[0] + g, True
        else:
            slot = pending.get(node)
            if slot is None:
                pending[node] = [g, owned]
            else:
                slot[0], slot[1] = slot[0] + g, True

    order = _topological_order(list(pending))
    needed = _needed(order, leaf_ids, capture) if inputs is not None else None

    prev_mode = _state.grad_enabled
    _state.grad_enabled = False  # hooks may compute with tensors: record nothing
    try:
        for ctx in order:
            entry = pending.pop(ctx, None)
            if entry is None:
                continue  # no gradient reached this node
            g, g_owned = entry
            try:
                if ctx._hooks:
                    g, g_owned = _run_hooks(ctx._hooks, g, g_owned)
                if ctx._retained is not None:
                    _retain(ctx, g)
                if capture and ctx in capture:
                    _capture(ctx, g, g_owned, capture[ctx], inputs, captured, accumulate, tracer)
                if needed is not None and ctx not in needed:
                    continue
                saved = ctx._saved
                if saved is None:
                    raise RuntimeError(f"{ctx.name()}: {_FREED}")
                versions = ctx._versions
                if versions is not None:
                    for counter, expected, which in versions:
                        if counter[0] != expected:
                            _raise_modified(ctx, counter[0], expected, which)
                grads = ctx.fn.backward(ctx, g)
                if type(grads) is not tuple:
                    grads = tuple(grads) if isinstance(grads, list) else (grads,)
                nxt = ctx.next
                if len(grads) != len(nxt):
                    grads = _fix_count(ctx, grads, len(nxt))
                if check_nan:
                    _check_grads(ctx, grads)
                parts = [] if tracer is not None else None
                shapes = ctx._shapes
                dts = ctx._dtypes
                i = -1
                for gi in grads:
                    i += 1
                    target = nxt[i]
                    if gi is None or target is None:
                        if parts is not None:
                            parts.append("None" if gi is None else f"{_fmt_shape(np.shape(gi))} unused")
                        continue
                    if type(gi) is not np.ndarray:
                        gi = gi.data if isinstance(gi, Tensor) else np.asarray(gi)
                    # May the engine later add into gi in place? Only if nobody else sees it.
                    owned = gi.base is None and gi is not g
                    if owned:
                        for s in saved:
                            if s is gi:
                                owned = False
                        if i and owned:
                            owned = _is_fresh(gi, grads, i)
                    shape = shapes[i]
                    if gi.shape != shape:
                        reduced = unbroadcast(gi, shape)
                        if reduced.shape != shape:
                            raise RuntimeError(
                                f"Function {ctx.name()} returned an invalid gradient at index {i} "
                                f"- got {list(gi.shape)} but expected shape compatible with "
                                f"{list(shape)}"
                            )
                        if parts is not None:
                            parts.append(f"{_fmt_shape(gi.shape)} summed to {_fmt_shape(shape)}")
                        gi, owned = reduced, True
                    elif parts is not None:
                        parts.append(_fmt_shape(shape))
                    dt = dts[i]
                    if gi.dtype != dt:
                        gi = gi.astype(dt)
                        owned = True
                    if type(target) is Context:
                        slot = pending.get(target)
                        if slot is None:
                            pending[target] = [gi, owned]
                            continue
                    else:
                        if leaf_ids is not None and id(target) not in leaf_ids:
                            continue
                        slot = leaves.get(id(target))
                        if slot is None:
                            leaves[id(target)] = [gi, owned, target]
                            continue
                    # A second gradient for the same tensor: sum (in place when we may).
                    if slot[1]:
                        np.add(slot[0], gi, out=slot[0])
                    else:
                        slot[0] = slot[0] + gi
                        slot[1] = True
                if tracer is not None:
                    tracer.node(ctx, g, parts)
                if not retain_graph and saved:
                    ctx._saved = None
            except Exception as exc:
                _node_error(ctx, exc)
                raise
        for g, g_owned, leaf in leaves.values():
            if leaf_ids is not None and id(leaf) not in leaf_ids:
                continue  # a root that is a leaf but not among the inputs
            if leaf._hooks:
                g, g_owned = _run_hooks(leaf._hooks, g, g_owned)
            if inputs is not None and not accumulate:
                for k, t in enumerate(inputs):
                    if t is leaf:
                        captured[k] = g if g_owned else g.copy()
                        g_owned = False
                if tracer is not None:
                    tracer.leaf(leaf, g, "result")
                continue
            if tracer is not None:
                tracer.leaf(leaf, g, ".grad")
            _accumulate_leaf(leaf, g, g_owned)
    finally:
        _state.grad_enabled = prev_mode
    return captured if not accumulate else None


def _is_fresh(gi: np.ndarray, grads: tuple, i: int) -> bool:
    """False if ``gi`` is also an earlier gradient returned by the same node."""
    for j in range(i):
        if grads[j] is gi:
            return False
    return True


def _retain(ctx: Context, g: np.ndarray) -> None:
    kept = ctx._retained()
    if kept is None or kept.grad_fn is not ctx:
        return
    if kept.grad is None:
        kept.grad = Tensor._make(g.copy(), False, None)
    else:
        kept.grad = Tensor._make(kept.grad.data + g, False, None)


def _capture(ctx, g, g_owned, indices, inputs, captured, accumulate, tracer) -> None:
    """Hand the gradient at a non-leaf input's node to the caller (or its ``.grad``)."""
    for k in indices:
        t = inputs[k]
        if accumulate:
            if ctx._retained is not None and ctx._retained() is t:
                continue  # retain_grad already wrote it
            t.grad = Tensor._make(g.copy() if t.grad is None else t.grad.data + g, False, None)
        else:
            captured[k] = g.copy()


def _fix_count(ctx: Context, grads: tuple, n: int) -> tuple:
    """Allow trailing Nones beyond the inputs (as torch does); anything else is an error."""
    if len(grads) > n and all(x is None for x in grads[n:]):
        return grads[:n]
    raise RuntimeError(
        f"function {ctx.name()} returned an incorrect number of gradients (expected {n}, "
        f"got {len(grads)})"
    )


def _raise_modified(ctx: Context, version: int, expected: int, which: int) -> None:
    what = "its output" if which < 0 else f"its input {which}"
    desc = ""
    if which >= 0:
        desc = f" (shape {tuple(ctx._shapes[which])}, {ctx._dtypes[which].name})"
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {what}{desc}, saved by {ctx.name()}, is at version {version}; "
        f"expected version {expected} instead. Hint: the in-place update happened after the "
        "forward pass; compute out of place (y = y * 2, not y.mul_(2)) or clone() the tensor "
        "before modifying it."
    )


def _root_gradients(
    tensors: Sequence[Tensor], grad_tensors: Sequence[Any]
) -> list[tuple[Tensor, np.ndarray, bool]]:
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not isinstance(t, Tensor):
            raise TypeError(f"backward: expected a Tensor at index {i}, got {type(t).__name__}")
        if not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn: "
                "backward() needs a tensor computed from inputs with requires_grad=True "
                "(outside no_grad())"
            )
        if g is None:
            if t.data.size != 1:
                raise RuntimeError(
                    "grad can be implicitly created only for scalar outputs: this tensor has "
                    f"shape {tuple(t.shape)}; pass backward(gradient=...) of that shape"
                )
            seed = np.array(1, t.data.dtype)  # cheaper than np.ones for one element
            roots.append((t, seed.reshape(t.data.shape) if t.data.ndim else seed, True))
            continue
        arr = g.data if isinstance(g, Tensor) else np.asarray(g)
        if arr.shape != t.data.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(arr.shape)} and "
                f"output[{i}] has a shape of {tuple(t.data.shape)}."
            )
        if arr.dtype != t.data.dtype:
            roots.append((t, arr.astype(t.data.dtype), True))
        else:
            roots.append((t, arr, False))
    return roots


def _as_list(x: Any) -> list:
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Tensor | Sequence[Tensor] | None = None,
    *,
    trace: bool | TextIO = False,
) -> None:
    """Accumulate the gradient of ``tensors`` into the leaves' ``.grad``
    (``torch.autograd.backward``; ``Tensor.backward`` calls this).

    Args:
        tensors: a tensor, or several whose gradients are summed.
        grad_tensors: d(loss)/d(tensor) for each, same shape; None for one-element tensors.
        retain_graph: keep saved arrays so backward can run through the graph again.
        create_graph: not supported (backward functions compute on arrays, not tensors).
        inputs: only these tensors receive ``.grad`` (leaves or not); the rest of the graph
            does not run.
        trace: print each node as it runs (``True``: to stdout; or a file). See
            ``trace_backward``.
    """
    if create_graph:
        raise NotImplementedError(
            "backward(create_graph=True): minigrad has no higher-order gradients; backward "
            "functions work on NumPy arrays and record no graph"
        )
    if isinstance(tensors, Tensor):
        tensors, grads = [tensors], [grad_tensors]
    else:
        tensors = list(tensors)
        grads = [None] * len(tensors) if grad_tensors is None else _as_list(grad_tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(
            f"backward: got {len(tensors)} tensors but {len(grads)} gradients"
        )
    roots = _root_gradients(tensors, grads)
    if inputs is not None:
        inputs = _as_list(inputs)
        if not inputs:
            raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty.")
    run_backward(roots, bool(retain_graph), inputs, True, trace or None)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple:
    """Return d(outputs)/d(inputs) without touching any ``.grad`` (``torch.autograd.grad``).

    Args:
        outputs: a tensor (or several, gradients summed).
        inputs: tensors to differentiate with respect to: leaves or intermediate results.
        grad_outputs: like ``backward``'s ``gradient``; None for one-element outputs.
        retain_graph: keep the saved arrays for another backward.
        allow_unused: return None for an input the outputs do not depend on (else raise).
        materialize_grads: return zeros instead of None for unused inputs.

    Returns:
        A tuple with one tensor (or None) per input. Only the part of the graph between
        the outputs and the inputs runs.
    """
    if create_graph:
        raise NotImplementedError(
            "grad(create_graph=True): minigrad has no higher-order gradients"
        )
    if isinstance(outputs, Tensor):
        outputs, gouts = [outputs], [grad_outputs]
    else:
        outputs = list(outputs)
        gouts = [None] * len(outputs) if grad_outputs is None else _as_list(grad_outputs)
    inputs = _as_list(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in inputs:
        if not isinstance(t, Tensor) or not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if len(gouts) != len(outputs):
        raise RuntimeError(
            f"grad: got {len(outputs)} outputs but {len(gouts)} grad_outputs"
        )
    roots = _root_gradients(outputs, gouts)
    result = run_backward(roots, bool(retain_graph), inputs, accumulate=False)
    out = []
    for k, (t, g) in enumerate(zip(inputs, result)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {k} appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
            out.append(Tensor._make(np.zeros_like(t.data), False, None) if materialize_grads else None)
        else:
            out.append(Tensor._make(g, False, None))
    return tuple(out)


def trace_backward(
    tensor: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    inputs: Sequence[Tensor] | None = None,
    file: TextIO | None = None,
) -> None:
    """Run ``tensor.backward(...)`` and print what each node does, in execution order.

    One line per node: its name, the shape of the gradient it received (``grad_output``)
    and the shape of each gradient it returned, one per forward input (``None`` where it
    returned none, e.g. for a non-tensor argument); ``(4, 3) summed to (3,)`` marks a
    gradient the engine summed back to a broadcast input's shape. Leaves come last
    (``AccumulateGrad``), when their summed gradient is added to ``.grad``. For
    ``((x * y) + y).relu().sum()`` with x, y of shape (3,)::

        [1] SumBackward: grad_output () -> (3,), None, None
        [2] ReluBackward: grad_output (3,) -> (3,)
        [3] AddBackward: grad_output (3,) -> (3,), (3,)
        [4] MulBackward: grad_output (3,) -> (3,), (3,)
        [5] AccumulateGrad: grad (3,) -> .grad of a leaf (3,) float32
        [6] AccumulateGrad: grad (3,) -> .grad of a leaf (3,) float32

    Args:
        tensor, gradient, retain_graph, inputs: as for ``Tensor.backward``.
        file: where to write (default ``sys.stdout``).
    """
    backward(tensor, gradient, retain_graph, inputs=inputs, trace=file if file is not None else True)


from .tensor import Tensor, _share_version  # noqa: E402  (Tensor needs this module first)
