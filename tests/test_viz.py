"""minigrad.viz: DOT text of the autograd graph, and rendering through Graphviz."""

import importlib.util
import json
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import viz
from minigrad.autograd import Context

HAVE_GRAPHVIZ = importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None
needs_graphviz = pytest.mark.skipif(
    not HAVE_GRAPHVIZ, reason="needs the graphviz package and the Graphviz dot program"
)

# --------------------------------------------------------------------------- a strict parser

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(r"^  (\w+) \[label=" + _QUOTED + r"(?:, (.*))?\];$")
_EDGE = re.compile(r"^  (\w+) -> (\w+);$")
_HEADER = ["digraph autograd {", "  graph [", "  node [", "  edge ["]


def _unescape(label: str) -> str:
    """A DOT escString as text: ``\\n`` is a line break, ``\\x`` is ``x``."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), label)


def parse(text):
    """Nodes ``{id: label}`` and edges ``[(src, dst)]``; every line must be understood."""
    lines = text.splitlines()
    assert text.endswith("}\n")
    for line, start in zip(lines[:4], _HEADER):
        assert line.startswith(start), line
    assert lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[4:-1]:
        if m := _NODE.match(line):
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = _unescape(m.group(2))
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            raise AssertionError(f"unexpected DOT line: {line!r}")
    for src, dst in edges:
        assert src in nodes and dst in nodes, (src, dst)
    return nodes, edges


def graph_contexts(t):
    """Every Context reachable from ``t``, found independently of viz."""
    seen, stack = [], [t.grad_fn]
    while stack:
        ctx = stack.pop()
        if ctx in seen:
            continue
        seen.append(ctx)
        stack.extend(c for c in ctx.next if isinstance(c, Context))
    return seen


# --------------------------------------------------------------------------- a small MLP


def mlp(dtype=mg.float64):
    """A two-layer MLP's squared-error loss; names for every tensor in it."""
    x = mg.randn(4, 3, dtype=dtype)
    y = mg.randn(4, 2, dtype=dtype)
    W1 = mg.randn(5, 3, dtype=dtype, requires_grad=True)
    b1 = mg.randn(5, dtype=dtype, requires_grad=True)
    W2 = mg.randn(2, 5, dtype=dtype, requires_grad=True)
    b2 = mg.randn(2, dtype=dtype, requires_grad=True)
    W1T = W1.T
    a1 = x @ W1T
    z1 = a1 + b1
    h = z1.relu()
    W2T = W2.T
    a2 = h @ W2T
    z2 = a2 + b2
    d = z2 - y
    sq = d**2
    loss = sq.mean()
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    acts = {"W1T": W1T, "a1": a1, "z1": z1, "h": h, "W2T": W2T, "a2": a2, "z2": z2, "d": d,
            "sq": sq, "loss": loss}
    return loss, params, acts


# name of the consumer <- its inputs, in argument order ("x"/"y" are the no-grad inputs)
MLP_INPUTS = {
    "W1T": ["W1"], "a1": ["x", "W1T"], "z1": ["a1", "b1"], "h": ["z1"], "W2T": ["W2"],
    "a2": ["h", "W2T"], "z2": ["a2", "b2"], "d": ["z2", "y"], "sq": ["d"], "loss": ["sq"],
    "output": ["loss"],
}
MLP_OPS = {"W1T": "PermuteBackward", "a1": "MatMulBackward", "z1": "AddBackward",
           "h": "ReluBackward", "W2T": "PermuteBackward", "a2": "MatMulBackward",
           "z2": "AddBackward", "d": "SubBackward", "sq": "PowBackward", "loss": "MeanBackward"}


def node_names(nodes):
    """Node id -> the tensor name its label carries (ops: "name: shape dtype")."""
    names = {}
    for nid, label in nodes.items():
        lines = label.split("\n")
        if nid.startswith("op"):
            names[nid] = lines[1].split(":")[0]
        elif nid.startswith("input"):
            names[nid] = {"(4, 3) float64": "x", "(4, 2) float64": "y"}[lines[1]]
        else:
            names[nid] = lines[0]
    return names


def test_mlp_every_op_once_edges_and_labels():
    loss, params, acts = mlp()
    text = viz.to_dot(loss, params={**params, **acts})
    nodes, edges = parse(text)
    names = node_names(nodes)
    assert sorted(names.values()) == sorted([*acts, *params, "x", "y", "output"])
    by_name = {v: k for k, v in names.items()}
    # every op once, with its Function's node name, output shape and dtype
    assert len([n for n in nodes if n.startswith("op")]) == len(graph_contexts(loss)) == 10
    for name, t in acts.items():
        label = nodes[by_name[name]]
        assert label == f"{MLP_OPS[name]}\n{name}: {tuple(t.shape)} float64"
        assert MLP_OPS[name] == t.grad_fn.name()
    for name, t in params.items():
        assert nodes[by_name[name]] == f"{name}\n{tuple(t.shape)} float64"
    assert nodes["out"] == f"output\n() float64\n= {loss.item():.4g}"
    # edges: exactly the data flow, inputs -> ops -> output, each input once per use
    expected = Counter((by_name[src], by_name[dst]) for dst, srcs in MLP_INPUTS.items() for src in srcs)
    assert Counter(edges) == expected
    # the inputs of each op are listed in argument order (the picture keeps x @ W as x left)
    for dst, srcs in MLP_INPUTS.items():
        assert [names[s] for s, d in edges if d == by_name[dst]] == srcs
    # stable ids: breadth-first from the output, inputs in argument order
    assert [names[f"op{i}"] for i in range(10)] == [
        "loss", "sq", "d", "z2", "a2", "h", "W2T", "z1", "a1", "W1T"
    ]
    assert [names[f"leaf{i}"] for i in range(4)] == ["b2", "W2", "b1", "W1"]
    assert [names["input0"], names["input1"]] == ["y", "x"]
    assert list(nodes) == ["out", *(f"op{i}" for i in range(10)), "input0", "leaf0", "leaf1",
                           "leaf2", "input1", "leaf3"]


def test_mlp_unnamed_leaves_and_op_counts():
    loss, params, _ = mlp()
    nodes, edges = parse(viz.to_dot(loss))
    ops = [label.split("\n")[0] for nid, label in nodes.items() if nid.startswith("op")]
    assert Counter(ops) == Counter(ctx.name() for ctx in graph_contexts(loss))
    leaves = sorted(label for nid, label in nodes.items() if nid.startswith("leaf"))
    assert leaves == sorted(f"leaf\n{tuple(p.shape)} float64" for p in params.values())
    inputs = sorted(label for nid, label in nodes.items() if nid.startswith("input"))
    assert inputs == ["input\n(4, 2) float64", "input\n(4, 3) float64"]
    for name in params:
        assert name not in "".join(nodes.values())
    # every node but the output feeds something; the output is fed by the root op only
    assert {s for s, _ in edges} == set(nodes) - {"out"}
    assert [s for s, d in edges if d == "out"] == ["op0"]
    assert nodes["op0"].startswith("MeanBackward\n")


def test_grad_norms_after_backward_only():
    loss, params, _ = mlp()
    before = viz.to_dot(loss, params=params)
    assert "‖grad‖" not in before
    loss.backward()
    ctxs = graph_contexts(loss)
    assert all(not c._saved for c in ctxs) and any(c._saved is None for c in ctxs)  # freed
    after = viz.to_dot(loss, params=params)
    nodes, edges = parse(after)
    for name, p in params.items():
        (label,) = [lab for lab in nodes.values() if lab.startswith(name + "\n")]
        norm = np.linalg.norm(p.grad.data.ravel())
        assert label.endswith(f"\n‖grad‖ = {norm:.4g}")
        assert float(label.rsplit("= ", 1)[1]) == pytest.approx(norm, rel=1e-3)
    assert after.count("‖grad‖") == len(params)
    # the structure is untouched by backward; show_grad=False gives back the old picture
    assert parse(before)[1] == edges
    assert viz.to_dot(loss, params=params, show_grad=False) == before
    stripped = re.sub(r"\\n‖grad‖ = [^\"]*", "", after)
    assert stripped == before


def test_deterministic_golden_text():
    def build():
        a = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
        b = mg.tensor([3.0, 4.0], dtype=mg.float64, requires_grad=True)
        return (a * b + a).sum(), {"a": a, "b": b}

    out, names = build()
    text = viz.to_dot(out, params=names)
    out2, names2 = build()
    assert viz.to_dot(out2, params=names2) == text  # fresh objects, same text
    body = text.splitlines()[4:]
    assert body == [
        '  out [label="output\\n() float64\\n= 14", shape=ellipse, style=filled, fillcolor="#bbf7d0"];',
        '  op0 [label="SumBackward\\n() float64", style="rounded,filled", fillcolor="#e5e7eb"];',
        '  op1 [label="AddBackward\\n(2,) float64", style="rounded,filled", fillcolor="#e5e7eb"];',
        '  op2 [label="MulBackward\\n(2,) float64", style="rounded,filled", fillcolor="#e5e7eb"];',
        '  leaf0 [label="a\\n(2,) float64", style=filled, fillcolor="#bfdbfe"];',
        '  leaf1 [label="b\\n(2,) float64", style=filled, fillcolor="#bfdbfe"];',
        "  op0 -> out;",
        "  op1 -> op0;",
        "  op2 -> op1;",
        "  leaf0 -> op1;",
        "  leaf0 -> op2;",
        "  leaf1 -> op2;",
        "}",
    ]
    out.backward()
    after = viz.to_dot(out, params=names)
    assert '"a\\n(2,) float64\\n‖grad‖ = 6.403"' in after  # |b + 1| = |(4, 5)|
    assert '"b\\n(2,) float64\\n‖grad‖ = 2.236"' in after  # |a| = |(1, 2)|


def test_ids_are_breadth_first():
    a = mg.randn(2, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    z = a.exp().sin().sum() + b.exp().cos().sum()
    nodes, _ = parse(viz.to_dot(z, params={"a": a, "b": b}))
    ops = [nodes[f"op{i}"].split("\n") for i in range(7)]
    assert [op[0] for op in ops] == ["AddBackward", "SumBackward", "SumBackward", "SinBackward",
                                     "CosBackward", "ExpBackward", "ExpBackward"]
    assert ops[5][1] == "(2,) float32" and ops[6][1] == "(3,) float32"
    assert nodes["leaf0"].startswith("a\n") and nodes["leaf1"].startswith("b\n")


def test_reused_tensor_gives_one_node_and_one_edge_per_use():
    x = mg.randn(3, requires_grad=True)
    y = x * x
    z = (y + y).sum()
    nodes, edges = parse(viz.to_dot(z))
    assert sorted(nodes) == ["leaf0", "op0", "op1", "op2", "out"]
    assert Counter(edges) == Counter(
        {("op0", "out"): 1, ("op1", "op0"): 1, ("op2", "op1"): 2, ("leaf0", "op2"): 2}
    )


def test_output_shape_and_dtype_from_the_consumer():
    a = mg.randn(2, 3, dtype=mg.float32, requires_grad=True)
    z = (a.double().reshape(3, 2) * 2).sum()
    nodes, _ = parse(viz.to_dot(z))
    labels = sorted(nodes.values())
    assert "CastBackward\n(2, 3) float64" in labels
    assert "ReshapeBackward\n(3, 2) float64" in labels
    assert "leaf\n(2, 3) float32" in labels
    assert "MulBackward\n(3, 2) float64" in labels  # the plain scalar 2 adds no node


def test_params_from_module_pairs_and_errors():
    loss, params, _ = mlp()

    class Net:
        def named_parameters(self):
            return iter(params.items())

    text = viz.to_dot(loss, params=params)
    assert viz.to_dot(loss, params=Net()) == text
    assert viz.to_dot(loss, params=list(params.items())) == text
    tied = viz.to_dot(loss, params={"first": params["W1"], "second": params["W1"]})
    assert "first" in tied and "second" not in tied
    with pytest.raises(TypeError, match="params"):
        viz.to_dot(loss, params=5)
    with pytest.raises(TypeError, match="W1"):
        viz.to_dot(loss, params={"W1": params["W1"].data})
    with pytest.raises(TypeError, match="Tensor"):
        viz.to_dot(np.ones(3))


def test_labels_are_escaped():
    w = mg.randn(2, requires_grad=True)
    name = 'w "quoted" back\\slash\nsecond line {x} -> [y];'
    text = viz.to_dot((w * 3).sum(), params={name: w})
    nodes, _ = parse(text)
    assert nodes["leaf0"] == f"{name}\n(2,) float32"
    if HAVE_GRAPHVIZ:
        assert _graphviz_graph(text)[0]["leaf0"] == nodes["leaf0"]


def test_leaf_output_and_tensor_without_graph():
    w = mg.randn(2, 2, requires_grad=True)
    nodes, edges = parse(viz.to_dot(w, params={"w": w}))
    assert nodes == {"out": "output\n(2, 2) float32", "leaf0": "w\n(2, 2) float32"}
    assert edges == [("leaf0", "out")]
    with mg.no_grad():
        c = (w * 2).sum()
    nodes, edges = parse(viz.to_dot(c))
    assert list(nodes) == ["out"] and edges == []
    assert "no graph: requires_grad=False" in nodes["out"]


def test_retained_grad_shows_on_its_op():
    w = mg.randn(3, dtype=mg.float64, requires_grad=True)
    h = w.exp()
    h.retain_grad()
    out = (h * h).sum()
    out.retain_grad()
    assert "‖grad‖" not in viz.to_dot(out)
    out.backward()
    nodes, _ = parse(viz.to_dot(out, params={"h": h}))
    exp_label = next(lab for lab in nodes.values() if lab.startswith("ExpBackward"))
    assert exp_label.endswith(f"‖grad‖ = {np.linalg.norm(h.grad.data):.4g}")
    assert nodes["out"].endswith("‖grad‖ = 1")
    assert "‖grad‖" not in nodes["op0"]  # shown once, on the output node


# --------------------------------------------------------------------------- Graphviz


def _graphviz_graph(text):
    """Nodes ``{name: label}`` and edges as Graphviz itself parsed them."""
    import graphviz

    g = json.loads(graphviz.Source(text).pipe(format="json0"))
    nodes = {o["name"]: _unescape(o["label"]) for o in g["objects"]}
    by_gvid = {o["_gvid"]: o["name"] for o in g["objects"]}
    edges = [(by_gvid[e["tail"]], by_gvid[e["head"]]) for e in g.get("edges", [])]
    return nodes, edges


@needs_graphviz
def test_graphviz_parses_the_same_graph():
    loss, params, acts = mlp()
    loss.backward()
    text = viz.to_dot(loss, params={**params, **acts})
    nodes, edges = parse(text)
    gv_nodes, gv_edges = _graphviz_graph(text)
    assert gv_nodes == nodes
    assert Counter(gv_edges) == Counter(edges)


@needs_graphviz
def test_render_svg_and_png(tmp_path):
    loss, params, _ = mlp()
    loss.backward()
    svg = viz.render(loss, tmp_path / "g.svg", params=params)
    assert svg == str(tmp_path / "g.svg")
    content = Path(svg).read_text(encoding="utf-8")
    assert "<svg" in content and "W1" in content and "‖grad‖" in content
    assert content.count('class="node"') == len(parse(viz.to_dot(loss))[0])
    png = Path(viz.render(loss, tmp_path / "g.PNG", params=params))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    viz.render(loss, tmp_path / "graph", format="svg")
    assert "<svg" in (tmp_path / "graph").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="format 'nope'"):
        viz.render(loss, tmp_path / "g.nope")


def test_render_dot_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    monkeypatch.setenv("PATH", "")
    loss, params, _ = mlp()
    path = viz.render(loss, tmp_path / "g.dot", params=params)
    assert Path(path).read_text(encoding="utf-8") == viz.to_dot(loss, params=params)
    with pytest.raises(ValueError, match="suffix"):
        viz.render(loss, tmp_path / "no_suffix")


@pytest.mark.parametrize("missing", ["package", "binary", "both"])
def test_render_without_graphviz_says_what_is_missing(tmp_path, monkeypatch, missing):
    if missing == "package" and shutil.which("dot") is None:
        pytest.skip("the dot program is not installed")
    if missing == "binary" and importlib.util.find_spec("graphviz") is None:
        pytest.skip("the graphviz package is not installed")
    if missing in ("package", "both"):
        monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    if missing in ("binary", "both"):
        monkeypatch.setenv("PATH", str(tmp_path))
    loss, _, _ = mlp()
    with pytest.raises(RuntimeError) as err:
        viz.render(loss, tmp_path / "g.svg")
    msg = str(err.value)
    assert ("`graphviz` Python package" in msg) == (missing in ("package", "both"))
    assert ("`dot` program" in msg) == (missing in ("binary", "both"))
    assert "pip install graphviz" in msg and "apt-get install graphviz" in msg
    assert "to_dot()" in msg
    assert not (tmp_path / "g.svg").exists()


# --------------------------------------------------------------------------- the example


def _example():
    path = Path(__file__).resolve().parents[1] / "examples" / "visualize_graph.py"
    spec = importlib.util.spec_from_file_location("visualize_graph", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_prints_and_writes(tmp_path, capsys):
    example = _example()
    assert example.main(["--hidden", "6"]) == 0
    nodes, _ = parse(capsys.readouterr().out)
    labels = "\n".join(nodes.values())
    for name in ("0.weight\n(6, 4)", "0.bias", "2.weight\n(3, 6)", "2.bias", "‖grad‖"):
        assert name in labels
    assert labels.count("‖grad‖") == 4
    assert example.main(["--plain", "--hidden", "6"]) == 0
    nodes, _ = parse(capsys.readouterr().out)
    labels = "\n".join(nodes.values())
    for name in ("W1\n(6, 4)", "b1", "W2", "b2", "h: (8, 6)", "logits:", "LogSoftmaxBackward"):
        assert name in labels
    assert labels.count("‖grad‖") == 4
    assert example.main(["--before-backward", "--out", str(tmp_path / "g.dot")]) == 0
    assert "‖grad‖" not in (tmp_path / "g.dot").read_text(encoding="utf-8")
