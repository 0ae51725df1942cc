"""A dense ReLU network (784-1024-10) on MNIST with softmax cross-entropy and Adam, 5 epochs.
Reaches about 98% test accuracy.

    python examples/mnist_dense_adam.py [--epochs 5] [--batch-size 64] [--lr 1e-3] [--seed 0]
"""

import common

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F


def main() -> None:
    args = common.parser(__doc__.splitlines()[0], epochs=5, batch_size=64, lr=1e-3).parse_args()
    mg.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 10))
    optimizer = mg.optim.Adam(model.parameters(), lr=args.lr)
    common.train("mnist_dense_adam", args, model, optimizer, F.cross_entropy, flat=True)


if __name__ == "__main__":
    main()
