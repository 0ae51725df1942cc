"""The example scripts run end to end (a few batches each), so CI keeps them working."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True, text=True, timeout=600, cwd=EXAMPLES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_perceptrons_truth_tables():
    out = run("perceptrons.py")
    nand = out.split("NAND perceptron")[1].split("\n\n")[0]
    assert [line.split() for line in nand.strip().splitlines()[2:]] == [
        ["0", "0", "1"], ["0", "1", "1"], ["1", "0", "1"], ["1", "1", "0"]]
    adder = out.split("Adding two bits")[1].split("\n\n")[0]
    assert [line.split() for line in adder.strip().splitlines()[2:]] == [
        ["0", "0", "0", "0"], ["0", "1", "1", "0"], ["1", "0", "1", "0"], ["1", "1", "0", "1"]]
    for gate in ("AND", "OR"):
        assert f"{gate} learned in" in out
        rows = out.split(f"{gate} by the learned perceptron")[1].split("\n\n")[0].strip().splitlines()[2:]
        assert all(r.split()[2] == r.split()[3] for r in rows), rows


def test_xor_predictions_round_to_truth_table():
    out = run("xor.py", "--seed", "0")
    rounded = [int(line.split("rounds to ")[1][0]) for line in out.splitlines() if "rounds to" in line]
    assert rounded == [0, 1, 1, 0, 0, 1, 1, 0]


MNIST_EXAMPLES = ["mnist_cnn.py", "mnist_mlp.py", "mnist_dense_adam.py", "nielsen_network.py"]


def _have_mnist() -> bool:
    root = os.environ.get("MINIGRAD_DATA")
    return bool(root) and (Path(root) / "mnist.pkl.gz").is_file()


@pytest.mark.skipif(not _have_mnist(), reason="needs MNIST under $MINIGRAD_DATA")
@pytest.mark.parametrize("script", MNIST_EXAMPLES)
def test_mnist_examples_run_and_resume(script, tmp_path):
    flags = ["--limit-batches", "3", "--no-progress", "--no-download", "--out", str(tmp_path)]
    out = run(script, "--epochs", "1", "--checkpoint", *flags)
    assert "epoch 1:" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["history"]) == 1
    assert (tmp_path / "training_curve.png").stat().st_size > 0
    out = run(script, "--epochs", "2", "--resume", str(tmp_path / "checkpoint.mg"), *flags)
    assert "resumed from" in out and "epoch 2:" in out
    assert len(json.loads((tmp_path / "metrics.json").read_text())["history"]) == 2
    if script == "nielsen_network.py":
        assert "Epoch 1: " in out and " / " in out


@pytest.mark.skipif(not _have_mnist(), reason="needs MNIST under $MINIGRAD_DATA")
def test_same_seed_same_numbers(tmp_path):
    flags = ["--epochs", "1", "--limit-batches", "5", "--no-progress", "--no-download"]
    a = run("mnist_mlp.py", *flags, "--out", str(tmp_path / "a"))
    b = run("mnist_mlp.py", *flags, "--out", str(tmp_path / "b"))
    strip = [line.split("|")[:2] for line in a.splitlines() if line.startswith("epoch")]
    assert strip == [line.split("|")[:2] for line in b.splitlines() if line.startswith("epoch")]
