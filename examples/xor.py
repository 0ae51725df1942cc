"""XOR with a from-scratch sigmoid network: one hidden layer (2-4-1) and two (2-4-4-1),
summed squared error, plain gradient descent (lr 0.1) for 10,000 epochs, weights and
biases initialised uniform(-1, 1). Prints each network's predictions.

    python examples/xor.py [--epochs 10000] [--lr 0.1] [--seed 0]
"""

import argparse

import minigrad as mg
import minigrad.nn as nn

INPUTS = mg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TARGETS = mg.tensor([[0.0], [1.0], [1.0], [0.0]])


def sigmoid_network(sizes: list[int]) -> nn.Sequential:
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.Sigmoid()]
    model = nn.Sequential(*layers)
    for p in model.parameters():
        nn.init.uniform_(p, -1.0, 1.0)
    return model


def train(sizes: list[int], epochs: int, lr: float) -> mg.Tensor:
    """Train on the four XOR cases; returns the final predictions, shape (4, 1)."""
    model = sigmoid_network(sizes)
    optimizer = mg.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        loss = ((model(INPUTS) - TARGETS) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with mg.no_grad():
        return model(INPUTS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10_000)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    mg.manual_seed(args.seed)
    for sizes in ([2, 4, 1], [2, 4, 4, 1]):
        predictions = train(sizes, args.epochs, args.lr)
        print(f"network {'-'.join(map(str, sizes))}:")
        for x, y, target in zip(INPUTS.tolist(), predictions[:, 0].tolist(), TARGETS[:, 0].tolist()):
            print(f"  {int(x[0])} xor {int(x[1])} -> {y:.3f}  (rounds to {round(y)}, want {int(target)})")


if __name__ == "__main__":
    main()
