"""Perceptrons as logic gates: a NAND perceptron (weights -2, -2, bias 3), a network of NAND
perceptrons that adds two bits, and the perceptron learning rule learning AND and OR.
Prints truth tables.

    python examples/perceptrons.py [--epochs 100] [--lr 0.1] [--seed 0]
"""

import argparse
import itertools

import minigrad as mg

BITS = mg.tensor(list(itertools.product([0.0, 1.0], repeat=2)))  # (4, 2): 00, 01, 10, 11


def perceptron(x: mg.Tensor, w: mg.Tensor, b: float) -> mg.Tensor:
    """1 where w . x + b > 0, else 0 (x: (N, 2))."""
    return ((x @ w + b) > 0).float()


def nand(a: mg.Tensor, b: mg.Tensor) -> mg.Tensor:
    return perceptron(mg.stack([a, b], dim=1), mg.tensor([-2.0, -2.0]), 3.0)


def add_bits(x1: mg.Tensor, x2: mg.Tensor) -> tuple[mg.Tensor, mg.Tensor]:
    """Half adder from four NAND gates for the sum and one more for the carry."""
    n1 = nand(x1, x2)
    total = nand(nand(x1, n1), nand(x2, n1))
    carry = nand(n1, n1)
    return total, carry


def learn(targets: mg.Tensor, epochs: int, lr: float) -> tuple[mg.Tensor, mg.Tensor, int | None]:
    """The perceptron learning rule: w += lr * (t - y) * x, b += lr * (t - y).
    Returns the weights, the bias and the epoch with no errors (None if none was)."""
    w = mg.randn(2) * 0.5
    b = mg.zeros(())
    for epoch in range(1, epochs + 1):
        errors = 0
        for x, t in zip(BITS, targets):
            y = perceptron(x[None], w, b)[0]
            w = w + lr * (t - y) * x
            b = b + lr * (t - y)
            errors += int(y.item() != t.item())
        if errors == 0:
            return w, b, epoch
    return w, b, None


def table(title: str, columns: dict[str, mg.Tensor]) -> None:
    print(title)
    print("  " + "  ".join(f"{name:>5}" for name in columns))
    for row in zip(*(c.tolist() for c in columns.values())):
        print("  " + "  ".join(f"{int(v):>5}" for v in row))
    print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100, help="most epochs of the learning rule")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    mg.manual_seed(args.seed)
    x1, x2 = BITS[:, 0], BITS[:, 1]

    table("NAND perceptron (w = -2, -2; b = 3)", {"x1": x1, "x2": x2, "nand": nand(x1, x2)})
    total, carry = add_bits(x1, x2)
    table("Adding two bits with NAND perceptrons", {"x1": x1, "x2": x2, "sum": total, "carry": carry})
    for name, targets in (("AND", x1 * x2), ("OR", mg.maximum(x1, x2))):
        w, b, epochs = learn(targets, args.epochs, args.lr)
        outcome = f"learned in {epochs} epochs" if epochs else f"not learned in {args.epochs} epochs"
        print(f"{name} {outcome}: w = {[round(v, 3) for v in w.tolist()]}, b = {b.item():.3f}")
        table(f"{name} by the learned perceptron",
              {"x1": x1, "x2": x2, "want": targets, "got": perceptron(BITS, w, b)})


if __name__ == "__main__":
    main()
