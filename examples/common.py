"""Plumbing shared by the MNIST training examples: flags, data, progress bar, evaluation,
checkpoints and the end-of-run summary (training-curve PNG + metrics JSON).

The training loops themselves stay in each example, written the way a PyTorch user would.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.data import MNIST, DataLoader


def parser(description: str, *, epochs: int, batch_size: int, lr: float) -> argparse.ArgumentParser:
    """The flags every training example takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"(default {batch_size})")
    p.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--data-dir", default=None,
                   help="MNIST folder (default $MINIGRAD_DATA, else ~/.cache/minigrad)")
    p.add_argument("--no-download", action="store_true",
                   help="fail instead of downloading MNIST when it is missing")
    p.add_argument("--out", default=None, help="folder for the curve PNG, metrics JSON and "
                   "checkpoint (default runs/<example name>)")
    p.add_argument("--checkpoint", action="store_true", help="save a checkpoint after each epoch")
    p.add_argument("--resume", default=None, help="resume from this checkpoint file")
    p.add_argument("--limit-batches", type=int, default=None,
                   help="stop each epoch (and the evaluation) after this many batches (smoke tests)")
    p.add_argument("--threads", type=int, default=None, help="threads for minigrad's kernels")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def setup(args: argparse.Namespace, name: str) -> Path:
    """Threads and output folder; returns the output folder."""
    if args.threads:
        mg.set_num_threads(args.threads)
    out = Path(args.out or Path("runs") / name)
    out.mkdir(parents=True, exist_ok=True)
    return out


def mnist_loaders(args: argparse.Namespace, *, flat: bool, split: str = "trainval",
                  eval_batch_size: int = 1000) -> tuple[DataLoader, DataLoader]:
    """Shuffled training batches and the 10,000-image test set."""
    download = not args.no_download
    train = MNIST(args.data_dir, split=split, flat=flat, download=download)
    test = MNIST(args.data_dir, split="test", flat=flat, download=download)
    return (DataLoader(train, batch_size=args.batch_size, shuffle=True),
            DataLoader(test, batch_size=eval_batch_size))


def limited(loader, limit: int | None):
    """The loader's batches, at most ``limit`` of them."""
    for i, batch in enumerate(loader):
        if limit is not None and i >= limit:
            return
        yield batch


class Progress:
    """A tqdm bar showing running loss, accuracy and samples/s."""

    def __init__(self, loader: DataLoader, epoch: int, epochs: int, limit: int | None,
                 disable: bool) -> None:
        from tqdm import tqdm

        total = len(loader) if limit is None else min(limit, len(loader))
        self.bar = tqdm(limited(loader, limit), total=total, desc=f"epoch {epoch}/{epochs}",
                        unit="batch", disable=disable, leave=True, dynamic_ncols=True)
        self.loss_sum = self.correct = self.seen = 0.0
        self.steps = 0
        self.start = time.perf_counter()

    def __iter__(self):
        return iter(self.bar)

    def update(self, loss: float, correct: int, n: int) -> None:
        self.loss_sum += loss * n
        self.correct += correct
        self.seen += n
        self.steps += 1
        if self.steps % 10 == 1:
            self.bar.set_postfix(loss=f"{self.loss_sum / self.seen:.4f}",
                                 acc=f"{self.correct / self.seen:.2%}",
                                 samples_s=f"{self.seen / self.elapsed():,.0f}", refresh=False)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def summary(self) -> dict:
        self.bar.close()
        return {"train_loss": self.loss_sum / max(self.seen, 1),
                "train_acc": self.correct / max(self.seen, 1),
                "epoch_seconds": self.elapsed(),
                "samples_per_s": self.seen / max(self.elapsed(), 1e-9)}


@mg.no_grad()
def evaluate(model: mg.nn.Module, loader: DataLoader, limit: int | None, loss_fn) -> dict:
    """Mean loss (``loss_fn`` returns a batch's summed loss) and accuracy over the loader,
    with the model in eval mode."""
    model.eval()
    loss_sum = correct = seen = 0.0
    for x, y in limited(loader, limit):
        logits = model(x)
        loss_sum += loss_fn(logits, y).item()
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    model.train()
    return {"test_loss": loss_sum / seen, "test_acc": correct / seen, "test_correct": int(correct),
            "test_total": int(seen)}


def save_checkpoint(path: Path, model: mg.nn.Module, optimizer, epoch: int, history: list) -> None:
    """Everything needed to continue: weights, optimizer state, RNG state, history."""
    mg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
             "history": json.dumps(history), "rng": json.dumps(mg.get_rng_state())}, path)


def resume(args: argparse.Namespace, model: mg.nn.Module, optimizer) -> tuple[int, list]:
    """Load ``--resume`` if given; returns (first epoch to run, history so far)."""
    if not args.resume:
        return 1, []
    ckpt = mg.load(args.resume)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    mg.set_rng_state(json.loads(ckpt["rng"]))
    print(f"resumed from {args.resume} after epoch {ckpt['epoch']}")
    return int(ckpt["epoch"]) + 1, json.loads(ckpt["history"])


def end_of_epoch(args: argparse.Namespace, out: Path, model, optimizer, epoch: int,
                 history: list, record: dict) -> None:
    """Log one line, append to the history, checkpoint if asked."""
    record = {"epoch": epoch, **record}
    history.append(record)
    print(f"epoch {epoch}: train loss {record['train_loss']:.4f} acc {record['train_acc']:.2%} | "
          f"test loss {record['test_loss']:.4f} acc {record['test_acc']:.2%} "
          f"({record['test_correct']} / {record['test_total']}) | "
          f"{record['epoch_seconds']:.1f} s, {record['samples_per_s']:,.0f} samples/s", flush=True)
    if args.checkpoint:
        save_checkpoint(out / "checkpoint.mg", model, optimizer, epoch, history)


def train(name: str, args: argparse.Namespace, model: mg.nn.Module, optimizer, loss_fn,
          *, flat: bool, split: str = "trainval", on_epoch=None) -> dict:
    """The PyTorch-style loop: forward, loss, ``zero_grad``, ``backward``, ``step``; then
    evaluate on the test set after every epoch. ``loss_fn(outputs, labels)`` returns the
    batch-mean loss; ``on_epoch(record)``, if given, is called after each epoch."""
    out = setup(args, name)
    train_loader, test_loader = mnist_loaders(args, flat=flat, split=split)
    first_epoch, history = resume(args, model, optimizer)

    def summed_loss(outputs, labels):
        return loss_fn(outputs, labels) * len(labels)

    for epoch in range(first_epoch, args.epochs + 1):
        progress = Progress(train_loader, epoch, args.epochs, args.limit_batches, args.no_progress)
        for images, labels in progress:
            outputs = model(images)
            loss = loss_fn(outputs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            progress.update(loss.item(), (outputs.argmax(1) == labels).sum().item(), len(labels))
        record = {**progress.summary(),
                  **evaluate(model, test_loader, args.limit_batches, summed_loss)}
        end_of_epoch(args, out, model, optimizer, epoch, history, record)
        if on_epoch is not None:
            on_epoch(history[-1])
    return finish(name, args, out, history)


def finish(name: str, args: argparse.Namespace, out: Path, history: list) -> dict:
    """Print the summary, write metrics JSON and the training-curve PNG."""
    best = max(history, key=lambda r: r["test_acc"]) if history else None
    metrics = {"example": name, "args": {k: v for k, v in vars(args).items()},
               "history": history,
               "best_test_acc": best["test_acc"] if best else None,
               "best_epoch": best["epoch"] if best else None,
               "final_test_acc": history[-1]["test_acc"] if history else None,
               "seconds_per_epoch": float(np.mean([r["epoch_seconds"] for r in history]))
               if history else None}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    png = _plot(name, history, out / "training_curve.png")
    if best:
        print(f"\n{name}: best test accuracy {best['test_acc']:.2%} (epoch {best['epoch']}), "
              f"final {history[-1]['test_acc']:.2%}, "
              f"{metrics['seconds_per_epoch']:.1f} s/epoch")
    print(f"metrics: {out / 'metrics.json'}" + (f"\ncurve:   {png}" if png else ""))
    return metrics


def _plot(name: str, history: list, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no training-curve PNG (pip install matplotlib)")
        return None
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["test_loss"] for r in history], "o-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{name}: loss")
    ax_acc.plot(epochs, [100 * r["train_acc"] for r in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * r["test_acc"] for r in history], "o-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{name}: accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
