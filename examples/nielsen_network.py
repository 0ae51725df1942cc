"""The network of "Neural Networks and Deep Learning", chapter 1: 784-30-10 with sigmoid
neurons everywhere, the quadratic cost, mini-batch SGD (batch 10, eta 3.0) for 30 epochs on
the 50,000-image training split. Prints "Epoch k: correct / 10000"; reaches about 95%.

    python examples/nielsen_network.py [--epochs 30] [--batch-size 10] [--lr 3.0] [--seed 0]
"""

import common

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F


def quadratic_cost(outputs: mg.Tensor, labels: mg.Tensor) -> mg.Tensor:
    """C = 1/2 ||a - y||^2 per image, averaged over the batch (y one-hot)."""
    y = F.one_hot(labels, 10).float()
    return 0.5 * ((outputs - y) ** 2).sum(1).mean()


def main() -> None:
    args = common.parser(__doc__.splitlines()[0], epochs=30, batch_size=10, lr=3.0).parse_args()
    mg.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
    for p in model.parameters():  # the book's initialisation: standard normal
        nn.init.normal_(p, 0.0, 1.0)
    optimizer = mg.optim.SGD(model.parameters(), lr=args.lr)
    common.train("nielsen_network", args, model, optimizer, quadratic_cost, flat=True,
                 split="train", on_epoch=lambda r: print(
                     f"Epoch {r['epoch'] - 1}: {r['test_correct']} / {r['test_total']}"))


if __name__ == "__main__":
    main()
