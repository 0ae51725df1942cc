"""Pictures of the autograd graph: DOT text always, SVG/PNG when Graphviz is installed.

    import minigrad as mg
    loss = ((x @ W.T + b).relu() ** 2).mean()
    print(mg.viz.to_dot(loss, params={"W": W, "b": b}))   # paste into any Graphviz viewer
    loss.backward()
    mg.viz.render(loss, "graph.svg", params={"W": W, "b": b})  # now with gradient norms

The picture reads top to bottom in the direction data flows during the forward pass:

- a grey box per op, named after its graph node (``MulBackward`` is the node that ``Mul``
  recorded), with the shape and dtype of the op's output;
- a blue box per leaf tensor that requires grad (a parameter), named when ``params`` names
  it, with ``‖grad‖ = ...`` once backward has filled its ``.grad``;
- a dashed box per tensor input that does not require grad (the data, the targets): the
  graph keeps only its shape and dtype, so each use gets its own box;
- a green oval for the tensor the graph was drawn from.

An edge ``A -> B`` means "A's output is an input of B"; backward walks the edges the other
way. Only the graph's own records are read (``ctx.next``, and the input shapes and dtypes the
engine keeps on every node), so drawing works before and after ``backward()``: backward frees
the saved arrays, not the structure. The text is deterministic: node ids are numbered in
breadth-first order from the output, so the same computation always gives the same DOT.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from .autograd import Context
from .tensor import Tensor

__all__ = ["to_dot", "render"]

# ordering=in keeps each op's inputs left to right in argument order (x @ W: x on the left).
_GRAPH_ATTRS = 'rankdir=TB, ordering=in, fontname="Helvetica", nodesep=0.3, ranksep=0.35'
_NODE_ATTRS = 'fontname="Helvetica", fontsize=10, shape=box, height=0.3'
_EDGE_ATTRS = 'color="#555555", arrowsize=0.7'

_OP_STYLE = 'style="rounded,filled", fillcolor="#e5e7eb"'
_LEAF_STYLE = 'style=filled, fillcolor="#bfdbfe"'
_INPUT_STYLE = 'style=dashed, color="#6b7280", fontcolor="#374151"'
_OUTPUT_STYLE = 'shape=ellipse, style=filled, fillcolor="#bbf7d0"'


def _quote(text: str) -> str:
    """A DOT double-quoted string; newlines in ``text`` become line breaks in the label."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "\\n".join(text.splitlines() or [""]) + '"'


def _describe(shape: tuple, dtype: Any) -> str:
    return f"{tuple(shape)} {np.dtype(dtype).name}"


def _grad_norm(t: Tensor) -> str:
    g = np.asarray(t.grad.data, dtype=np.float64)
    return f"‖grad‖ = {float(np.sqrt(np.sum(g * g))):.4g}"


def _named_tensors(params: Any) -> dict[int, tuple[str, Tensor]]:
    """``id(tensor) -> (name, tensor)`` from a dict, a module or ``(name, tensor)`` pairs."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        items = params.items()
    elif hasattr(params, "named_parameters"):
        items = params.named_parameters()
    else:
        try:
            items = list(params)
        except TypeError:
            items = None
        if items is None or not all(isinstance(p, tuple) and len(p) == 2 for p in items):
            raise TypeError(
                "to_dot(): params must be a dict name -> tensor, an object with "
                "named_parameters() (an nn.Module), or (name, tensor) pairs; got "
                f"{type(params).__name__}"
            )
    names: dict[int, tuple[str, Tensor]] = {}
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"to_dot(): params[{name!r}] is a {type(t).__name__}, not a Tensor")
        names.setdefault(id(t), (str(name), t))  # tied weights: the first name wins
    return names


def to_dot(tensor: Tensor, params: Any = None, show_grad: bool = True) -> str:
    """The autograd graph behind ``tensor`` as Graphviz DOT text (no Graphviz needed).

    Args:
        tensor: the output to draw from, usually the loss.
        params: names for tensors: a dict name -> tensor, an object with
            ``named_parameters()`` such as an ``nn.Module``, or ``(name, tensor)`` pairs.
            Named leaves show their name instead of "leaf"; a named non-leaf tensor puts
            its name on the op that produced it. Tensors that do not require grad (the
            data) are not recorded in the graph, so they show as "input" unnamed.
        show_grad: show ``‖grad‖`` (the 2-norm of ``.grad``) on leaves whose ``.grad``
            is set, and on ops whose output called ``retain_grad()``.

    Returns:
        A ``digraph`` with one node per op, per leaf, per non-grad tensor input, and one
        for ``tensor`` itself; edges point from inputs to the ops that consume them.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot() expects a minigrad Tensor, got {type(tensor).__name__}")
    names = _named_tensors(params)
    op_names = {id(t.grad_fn): name for name, t in names.values() if t.grad_fn is not None}

    def leaf_label(t: Tensor) -> str:
        name = names[id(t)][0] if id(t) in names else "leaf"
        lines = [name, _describe(t.shape, t.dtype)]
        if show_grad and t.grad is not None:
            lines.append(_grad_norm(t))
        return "\n".join(lines)

    nodes: list[str] = []
    edges: list[str] = []

    def node(node_id: str, label: str, style: str) -> None:
        nodes.append(f"  {node_id} [label={_quote(label)}, {style}];")

    out_lines = ["output", _describe(tensor.shape, tensor.dtype)]
    if tensor.data.size == 1 and tensor.data.dtype.kind in "fiub":
        out_lines.append(f"= {tensor.data.reshape(()).item():.4g}")
    root = tensor.grad_fn
    if root is None:
        if tensor.requires_grad:  # the output is itself a leaf: nothing was recorded
            node("leaf0", leaf_label(tensor), _LEAF_STYLE)
            edges.append("  leaf0 -> out;")
        else:
            out_lines.append("no graph: requires_grad=False")
    elif show_grad and root._retained is not None and tensor.grad is not None:
        out_lines.append(_grad_norm(tensor))
    node("out", "\n".join(out_lines), _OUTPUT_STYLE)

    if root is not None:
        op_ids: dict[Context, str] = {root: "op0"}
        leaf_ids: dict[int, str] = {}
        n_inputs = 0
        pending: list[tuple[Context, tuple, Any]] = [(root, tensor.shape, tensor.dtype)]
        queue = deque([root])
        while queue:
            ctx = queue.popleft()
            for i, child in enumerate(ctx.next):
                shape = ctx._shapes[i]
                if isinstance(child, Context):
                    if child not in op_ids:
                        op_ids[child] = f"op{len(op_ids)}"
                        pending.append((child, shape, ctx._dtypes[i]))
                        queue.append(child)
                    src = op_ids[child]
                elif child is None:
                    if shape is None:  # a plain Python value (exponent, dim, scalar)
                        continue
                    src = f"input{n_inputs}"
                    n_inputs += 1
                    node(src, "input\n" + _describe(shape, ctx._dtypes[i]), _INPUT_STYLE)
                else:
                    src = leaf_ids.get(id(child))
                    if src is None:
                        src = leaf_ids[id(child)] = f"leaf{len(leaf_ids)}"
                        node(src, leaf_label(child), _LEAF_STYLE)
                edges.append(f"  {src} -> {op_ids[ctx]};")
        op_nodes = []
        for ctx, shape, dtype in pending:
            described = _describe(shape, dtype)
            if id(ctx) in op_names:
                described = f"{op_names[id(ctx)]}: {described}"
            lines = [ctx.name(), described]
            kept = ctx._retained() if ctx._retained is not None else None
            if show_grad and kept is not None and kept.grad is not None and ctx is not root:
                lines.append(_grad_norm(kept))
            label = _quote("\n".join(lines))
            op_nodes.append(f"  {op_ids[ctx]} [label={label}, {_OP_STYLE}];")
        nodes[1:1] = op_nodes
        edges.insert(0, "  op0 -> out;")

    return "\n".join(
        [
            "digraph autograd {",
            f"  graph [{_GRAPH_ATTRS}];",
            f"  node [{_NODE_ATTRS}];",
            f"  edge [{_EDGE_ATTRS}];",
            *nodes,
            *edges,
            "}",
            "",
        ]
    )


_HOW_TO_INSTALL = (
    "Install the Python package with `pip install graphviz` (or `pip install minigrad[viz]`) and "
    "the Graphviz programs from your system's packages (e.g. `apt-get install graphviz`, "
    "`brew install graphviz` or `conda install graphviz`). Without them, "
    "minigrad.viz.to_dot() still returns the DOT text, and render(tensor, 'graph.dot') saves "
    "it for any Graphviz viewer."
)


def _graphviz() -> Any:
    """The ``graphviz`` module, or a RuntimeError naming what is missing and how to get it."""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    missing = []
    if graphviz is None:
        missing.append("the `graphviz` Python package")
    if shutil.which("dot") is None:
        missing.append("the Graphviz `dot` program (not found on PATH)")
    if missing:
        raise RuntimeError(
            "minigrad.viz.render() needs " + " and ".join(missing) + ". " + _HOW_TO_INSTALL
        )
    return graphviz


def render(
    tensor: Tensor,
    path: str | os.PathLike,
    params: Any = None,
    format: str | None = None,
    show_grad: bool = True,
) -> str:
    """Draw the autograd graph behind ``tensor`` into a file.

    Args:
        tensor: the output to draw from, usually the loss.
        path: where to write; its suffix picks the format unless ``format`` is given.
        params: names for tensors, as in ``to_dot``.
        format: ``"svg"``, ``"png"``, ``"pdf"`` or any other Graphviz output format;
            ``"dot"``/``"gv"`` write the DOT text itself and need no Graphviz.
        show_grad: as in ``to_dot``.

    Returns:
        ``path`` as a string.

    Raises:
        RuntimeError: the ``graphviz`` package or the ``dot`` program is missing (the
            message says how to install them), or ``dot`` failed.
    """
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if not fmt:
        raise ValueError(
            f"render(): cannot tell the image format from {path!r}; give the file a suffix "
            "(.svg, .png, .pdf, .dot) or pass format="
        )
    text = to_dot(tensor, params=params, show_grad=show_grad)
    if fmt in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path
    graphviz = _graphviz()
    if fmt not in graphviz.FORMATS:
        raise ValueError(
            f"render(): Graphviz cannot write format {fmt!r} (from {path!r}); "
            "use e.g. svg, png, pdf or dot"
        )
    try:
        data = graphviz.Source(text).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(
            "minigrad.viz.render() needs the Graphviz `dot` program, which could not be run. "
            + _HOW_TO_INSTALL
        ) from None
    except graphviz.CalledProcessError as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        raise RuntimeError(f"render(): Graphviz `dot -T{fmt}` failed: {err}") from None
    with open(path, "wb") as f:
        f.write(data)
    return path
