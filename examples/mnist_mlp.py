"""A ReLU MLP (784-100-200-10) on MNIST with softmax cross-entropy and plain SGD, batch 64.
Reaches about 98% test accuracy.

    python examples/mnist_mlp.py [--epochs 20] [--batch-size 64] [--lr 0.1] [--seed 0]
"""

import common

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F


def main() -> None:
    args = common.parser(__doc__.splitlines()[0], epochs=20, batch_size=64, lr=0.1).parse_args()
    mg.manual_seed(args.seed)
    model = nn.Sequential(
        nn.Linear(784, 100), nn.ReLU(),
        nn.Linear(100, 200), nn.ReLU(),
        nn.Linear(200, 10),
    )
    optimizer = mg.optim.SGD(model.parameters(), lr=args.lr)
    common.train("mnist_mlp", args, model, optimizer, F.cross_entropy, flat=True)


if __name__ == "__main__":
    main()
