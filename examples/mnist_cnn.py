"""The reference CNN on MNIST: two 3x3 conv layers with max-pooling, then two dense layers,
trained with Adam (lr 1e-3, batch 64) for 5 epochs. Reaches about 99% test accuracy.

    python examples/mnist_cnn.py [--epochs 5] [--batch-size 64] [--lr 1e-3] [--seed 0]
"""

import common

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F


def main() -> None:
    args = common.parser(__doc__.splitlines()[0], epochs=5, batch_size=64, lr=1e-3).parse_args()
    mg.manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 32 x 14 x 14
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 64 x 7 x 7
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )
    optimizer = mg.optim.Adam(model.parameters(), lr=args.lr)
    common.train("mnist_cnn", args, model, optimizer, F.cross_entropy, flat=False)


if __name__ == "__main__":
    main()
