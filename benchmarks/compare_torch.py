"""Train the example networks in minigrad and in PyTorch side by side.

For each network both frameworks start from the same initial weights (made by minigrad and
copied across) and see the same batches in the same order. Each (framework, network) run is
its own process, one after the other, so peak memory (RSS) is measured per run and the two
never compete for the cores. Reports test accuracy, training time per epoch, peak RSS and
the time ratio, and appends the table to benchmarks/RESULTS.md with --record.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_torch.py --record
    python benchmarks/compare_torch.py --networks cnn --epochs 1     # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# name: (layers, optimizer, lr, batch size, epochs, loss, training split, classic figure)
NETWORKS = {
    "nielsen": dict(layers=[("linear", 784, 30), ("sigmoid",), ("linear", 30, 10), ("sigmoid",)],
                    optimizer="sgd", lr=3.0, batch_size=10, epochs=30, loss="quadratic",
                    split="train", flat=True, classic="~95% (Nielsen, ch. 1, N(0, 1) weights)"),
    "mlp": dict(layers=[("linear", 784, 100), ("relu",), ("linear", 100, 200), ("relu",),
                        ("linear", 200, 10)],
                optimizer="sgd", lr=0.1, batch_size=64, epochs=20, loss="cross_entropy",
                split="trainval", flat=True, classic="97.1% (ReLU MLP, softmax cross-entropy)"),
    "dense_adam": dict(layers=[("linear", 784, 1024), ("relu",), ("linear", 1024, 10)],
                       optimizer="adam", lr=1e-3, batch_size=64, epochs=5, loss="cross_entropy",
                       split="trainval", flat=True, classic="97.2% (Dense-1024 + Adam, 5 epochs)"),
    "cnn": dict(layers=[("conv", 1, 32), ("relu",), ("pool",), ("conv", 32, 64), ("relu",),
                        ("pool",), ("flatten",), ("linear", 3136, 128), ("relu",),
                        ("linear", 128, 10)],
                optimizer="adam", lr=1e-3, batch_size=64, epochs=5, loss="cross_entropy",
                split="trainval", flat=False,
                classic="98.6% PyTorch / 99.1% Keras (reference CNN, 5 epochs)"),
}


def build(nn, layers):
    mods = []
    for layer in layers:
        kind = layer[0]
        if kind == "linear":
            mods.append(nn.Linear(layer[1], layer[2]))
        elif kind == "conv":
            mods.append(nn.Conv2d(layer[1], layer[2], 3, padding=1))
        elif kind == "relu":
            mods.append(nn.ReLU())
        elif kind == "sigmoid":
            mods.append(nn.Sigmoid())
        elif kind == "pool":
            mods.append(nn.MaxPool2d(2))
        elif kind == "flatten":
            mods.append(nn.Flatten())
    return nn.Sequential(*mods)


def batch_orders(n: int, batch_size: int, epochs: int, seed: int) -> list[list[np.ndarray]]:
    """The same shuffled batches for both frameworks: one permutation per epoch."""
    rng = np.random.default_rng(seed)
    orders = []
    for _ in range(epochs):
        perm = rng.permutation(n)
        orders.append([perm[i:i + batch_size] for i in range(0, n, batch_size)])
    return orders


def run_child(args: argparse.Namespace) -> None:
    """Train one network in one framework; write a JSON result."""
    import minigrad as mg
    from minigrad.data import MNIST

    cfg = NETWORKS[args.network]
    train = MNIST(split=cfg["split"], flat=cfg["flat"], download=True)
    test = MNIST(split="test", flat=cfg["flat"], download=True)
    xtr, ytr = train.data.numpy(), train.targets.numpy()
    xte, yte = test.data.numpy(), test.targets.numpy()
    init = dict(np.load(args.init))
    epochs = args.epochs or cfg["epochs"]
    orders = batch_orders(len(ytr), cfg["batch_size"], epochs, args.seed)

    if args.framework == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(args.threads)
        model = build(torch.nn, cfg["layers"])
        model.load_state_dict({k: torch.from_numpy(v) for k, v in init.items()})
        opt = (torch.optim.SGD(model.parameters(), lr=cfg["lr"]) if cfg["optimizer"] == "sgd"
               else torch.optim.Adam(model.parameters(), lr=cfg["lr"]))
        as_tensor, no_grad = torch.from_numpy, torch.no_grad
    else:
        import minigrad.nn.functional as F

        mg.set_num_threads(args.threads)
        model = build(mg.nn, cfg["layers"])
        model.load_state_dict(init)
        opt = (mg.optim.SGD(model.parameters(), lr=cfg["lr"]) if cfg["optimizer"] == "sgd"
               else mg.optim.Adam(model.parameters(), lr=cfg["lr"]))
        as_tensor, no_grad = mg.from_numpy, mg.no_grad

    def loss_fn(out, y):
        if cfg["loss"] == "quadratic":
            return 0.5 * ((out - F.one_hot(y, 10).float()) ** 2).sum(1).mean()
        return F.cross_entropy(out, y)

    history = []
    for epoch in range(epochs):
        model.train()
        start = time.perf_counter()
        for idx in orders[epoch]:
            x, y = as_tensor(xtr[idx]), as_tensor(ytr[idx])
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        model.eval()
        correct = 0
        with no_grad():
            for i in range(0, len(yte), 1000):
                out = model(as_tensor(xte[i:i + 1000]))
                correct += int((out.argmax(1) == as_tensor(yte[i:i + 1000])).sum().item())
        history.append({"epoch": epoch + 1, "seconds": seconds, "test_acc": correct / len(yte)})
        print(f"  {args.framework:8s} {args.network:10s} epoch {epoch + 1}: "
              f"{correct / len(yte):.2%} in {seconds:.1f} s", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.result).write_text(json.dumps({"history": history, "peak_rss_mb": peak_mb}))


def make_init(network: str, seed: int, path: Path) -> None:
    import minigrad as mg

    mg.manual_seed(seed)
    model = build(mg.nn, NETWORKS[network]["layers"])
    if network == "nielsen":  # as examples/nielsen_network.py: weights N(0, 1/fan_in), biases N(0, 1)
        for layer in (model[0], model[2]):
            mg.nn.init.normal_(layer.weight, 0.0, layer.in_features ** -0.5)
            mg.nn.init.normal_(layer.bias, 0.0, 1.0)
    np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})


def blas_info() -> str:
    try:
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_info

        import minigrad  # noqa: F401  (loads numpy's and scipy's BLAS)
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                     f"({i.get('num_threads')} threads)" for i in threadpool_info())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", default=",".join(NETWORKS))
    p.add_argument("--epochs", type=int, default=None, help="override every network's epochs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--framework", help=argparse.SUPPRESS)
    p.add_argument("--network", help=argparse.SUPPRESS)
    p.add_argument("--init", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return run_child(args)

    print(f"BLAS: {blas_info()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for network in args.networks.split(","):
            init = Path(tmp, f"{network}_init.npz")
            make_init(network, args.seed, init)
            results = {}
            for framework in ("minigrad", "torch"):
                out = Path(tmp, f"{network}_{framework}.json")
                cmd = [sys.executable, __file__, "--child", "--framework", framework,
                       "--network", network, "--init", str(init), "--result", str(out),
                       "--threads", str(args.threads), "--seed", str(args.seed)]
                if args.epochs:
                    cmd += ["--epochs", str(args.epochs)]
                subprocess.run(cmd, check=True)
                results[framework] = json.loads(out.read_text())
            rows.append((network, results))

    lines = ["| network | epochs | minigrad best acc | torch best acc | minigrad s/epoch | "
             "torch s/epoch | time ratio | minigrad peak RSS | torch peak RSS | classic figure |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for network, res in rows:
        m, t = res["minigrad"], res["torch"]
        m_acc = max(h["test_acc"] for h in m["history"])
        t_acc = max(h["test_acc"] for h in t["history"])
        m_sec = float(np.median([h["seconds"] for h in m["history"]]))
        t_sec = float(np.median([h["seconds"] for h in t["history"]]))
        lines.append(f"| {network} | {len(m['history'])} | {m_acc:.2%} | {t_acc:.2%} | "
                     f"{m_sec:.1f} | {t_sec:.1f} | {m_sec / t_sec:.2f}x | "
                     f"{m['peak_rss_mb']:.0f} MB | {t['peak_rss_mb']:.0f} MB | "
                     f"{NETWORKS[network]['classic']} |")
    table = "\n".join(lines)
    print(table)
    if args.record:
        cmd = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_torch.py " \
              + " ".join(sys.argv[1:])
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(f"\n## Training the example networks: minigrad vs PyTorch "
                    f"({datetime.date.today()})\n\n`{cmd}`\n\nBLAS: {blas_info()}; "
                    f"{args.threads} threads in both. Times are training-only medians per "
                    f"epoch; accuracy is the best epoch on the 10,000 test images.\n\n"
                    f"{table}\n")


if __name__ == "__main__":
    main()
