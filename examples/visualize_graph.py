"""Draw the autograd graph behind a small MLP classifier's loss.

    python examples/visualize_graph.py                     # print the DOT text
    python examples/visualize_graph.py --out graph.svg     # SVG (needs Graphviz)
    python examples/visualize_graph.py --out graph.dot     # DOT file (needs nothing)
    python examples/visualize_graph.py --plain             # one node per elementary op
    python examples/visualize_graph.py --before-backward   # the graph before backward()

The network is ``Linear -> ReLU -> Linear`` with a cross-entropy loss. By default it is an
``nn.Sequential``, so each layer is one fused op and the parameters carry the module's names
(``0.weight``). With ``--plain`` the same network is written with plain tensors,
``relu(x @ W1.T + b1) @ W2.T + b2`` and ``-log_softmax(logits)[range(N), y].mean()``, so
every transpose, product and sum shows up. Read the picture top to bottom for the forward
pass; backward walks the same edges bottom to top and leaves ``‖grad‖`` on each parameter.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, viz


def mlp_loss(
    batch: int = 8,
    in_features: int = 4,
    hidden: int = 16,
    classes: int = 3,
    seed: int = 0,
    plain: bool = False,
) -> tuple[mg.Tensor, Any]:
    """A two-layer MLP's mean cross-entropy on random data, and the names for the picture.

    Returns:
        ``(loss, names)``: ``names`` is the model itself (``to_dot`` reads its
        ``named_parameters()``), or with ``plain`` a dict naming the parameters and two
        activations, ``h`` and ``logits`` (a named non-leaf labels the op that made it).
    """
    mg.manual_seed(seed)
    x = mg.randn(batch, in_features)  # data: no grad, drawn as a dashed "input" box
    y = mg.randint(0, classes, (batch,))
    if not plain:
        model = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, classes))
        return F.cross_entropy(model(x), y), model

    def uniform(*shape: int, fan_in: int) -> mg.Tensor:  # nn.Linear's default init
        bound = 1.0 / math.sqrt(fan_in)
        return ((mg.rand(*shape) * 2 - 1) * bound).requires_grad_()

    params = {
        "W1": uniform(hidden, in_features, fan_in=in_features),
        "b1": uniform(hidden, fan_in=in_features),
        "W2": uniform(classes, hidden, fan_in=hidden),
        "b2": uniform(classes, fan_in=hidden),
    }
    h = (x @ params["W1"].T + params["b1"]).relu()
    logits = h @ params["W2"].T + params["b2"]
    loss = -logits.log_softmax(dim=1)[mg.arange(batch), y].mean()
    return loss, {**params, "h": h, "logits": logits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", metavar="PATH",
        help="write the picture here (.svg, .png, .pdf need Graphviz; .dot needs nothing); "
        "default: print the DOT text",
    )
    parser.add_argument(
        "--plain", action="store_true",
        help="build the MLP from plain tensors instead of nn layers: one node per elementary op",
    )
    parser.add_argument(
        "--before-backward", action="store_true",
        help="draw before loss.backward(), so no gradient norms are shown",
    )
    parser.add_argument("--batch", type=int, default=8, metavar="N", help="rows of random data (8)")
    parser.add_argument("--in-features", type=int, default=4, metavar="N", help="input width (4)")
    parser.add_argument("--hidden", type=int, default=16, metavar="N", help="hidden width (16)")
    parser.add_argument("--classes", type=int, default=3, metavar="N", help="output classes (3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    args = parser.parse_args(argv)

    loss, names = mlp_loss(
        args.batch, args.in_features, args.hidden, args.classes, args.seed, plain=args.plain
    )
    if not args.before_backward:
        loss.backward()
    if args.out is None:
        print(viz.to_dot(loss, params=names), end="")
        return 0
    try:
        viz.render(loss, args.out, params=names)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
