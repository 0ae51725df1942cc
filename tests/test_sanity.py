"""Training sanity checks in minigrad.testing: the loss at init, overfitting one batch, and the
classic "stuck at ~10% accuracy" collapse caused by a too-large learning rate."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.testing import (
    CollapseReport,
    InitialLossWarning,
    OverfitWarning,
    PredictionCollapseWarning,
    SanityCheckError,
    check_initial_loss,
    check_prediction_collapse,
    overfit_one_batch,
)

C = 10
_CENTERS = np.random.default_rng(123).standard_normal((C, 20)) * 1.5


def _blobs(n: int, seed: int):
    """A balanced-ish synthetic 10-class problem: Gaussian clusters in 20-D (MNIST-like difficulty)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    x = _CENTERS[y] + rng.standard_normal((n, 20))
    return mg.tensor(x.astype(np.float32)), mg.tensor(y)


def _mlp(inputs=20, hidden=64):
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, C))


def _train_sgd(model, x, y, lr, epochs=3, batch=50):
    opt = mg.optim.SGD(model.parameters(), lr=lr)
    with np.errstate(all="ignore"):  # a diverging run overflows; that is the point
        for _ in range(epochs):
            for i in range(0, x.shape[0], batch):
                loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return model


@pytest.fixture
def strict_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        yield


# --------------------------------------------------------------------------- initial loss


def test_initial_loss_of_a_default_init_is_ln_c(strict_warnings):
    x, y = _blobs(256, 0)
    loss = check_initial_loss(_mlp(), x, y)
    assert abs(loss - np.log(C)) < 0.25 * np.log(C)
    assert isinstance(loss, float)


def test_initial_loss_flags_logits_too_large_at_init():
    x, y = _blobs(256, 0)
    model = _mlp()
    with mg.no_grad():
        model[2].weight.mul_(50)  # an over-scaled last layer: confident, wrong predictions
    with pytest.warns(InitialLossWarning, match=r"expected about ln\(10\) = 2\.303.*logits are too large"):
        loss = check_initial_loss(model, x, y)
    assert loss > 2 * np.log(C)
    with pytest.raises(SanityCheckError, match="too large"):
        check_initial_loss(model, x, y, raise_on_failure=True)


def test_initial_loss_flags_a_loss_below_chance():
    x, y = _blobs(64, 0)
    leaky = nn.Linear(20, C)
    with mg.no_grad():  # a "model" that reads the answer: one-hot logits of the label
        leaky.weight.mul_(0)
    model = lambda inp: leaky(inp) + F.one_hot(y, C).float() * 5  # noqa: E731
    with pytest.warns(InitialLossWarning, match="lower than a uniform guess"):
        check_initial_loss(model, x, y)


def test_initial_loss_restores_batchnorm_statistics():
    x, y = _blobs(64, 0)
    model = nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, C))
    check_initial_loss(model, x, y)
    np.testing.assert_array_equal(model[1].running_mean.numpy(), np.zeros(16, np.float32))
    assert model[1].num_batches_tracked.item() == 0


# --------------------------------------------------------------------------- overfit one batch


def test_a_correct_model_overfits_one_batch(strict_warnings):
    x, y = _blobs(16, 1)
    model = _mlp()
    before = model[0].weight.detach().numpy().copy()
    result = overfit_one_batch(model, x, y, optimizer=1e-2, steps=300, target_loss=0.05)
    assert result.ok and bool(result)
    assert result.final_loss <= 0.05 < result.initial_loss
    assert result.no_grad_params == []
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), before)  # trained a copy
    assert result.model is not model


def test_optimizer_factory():
    x, y = _blobs(16, 1)
    result = overfit_one_batch(
        _mlp(), x, y, optimizer=lambda p: mg.optim.SGD(p, lr=0.1, momentum=0.9), steps=300
    )
    assert result.ok


def test_softmax_before_cross_entropy_cannot_overfit():
    x, y = _blobs(16, 1)
    model = nn.Sequential(_mlp(), nn.Softmax(dim=1))  # the classic bug: probabilities as logits
    with pytest.warns(OverfitWarning, match="cannot overfit one batch has a bug.*raw logits"):
        result = overfit_one_batch(model, x, y, steps=150)
    assert not result.ok
    assert result.final_loss > 1.0  # cross-entropy of probabilities is bounded below by ~1.46
    with pytest.raises(SanityCheckError):
        overfit_one_batch(model, x, y, steps=20, raise_on_failure=True)


def test_overfit_names_parameters_cut_from_the_graph():
    class Cut(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(20, 4)
            self.head = nn.Linear(4, C)

        def forward(self, inp):
            return self.head(self.body(inp).detach())  # the body never learns

    x, y = _blobs(16, 1)
    with pytest.warns(OverfitWarning, match=r"never got a nonzero gradient: body\.weight, body\.bias"):
        result = overfit_one_batch(Cut(), x, y, steps=30)
    assert result.no_grad_params == ["body.weight", "body.bias"]


# --------------------------------------------------------------------------- prediction collapse


def test_too_large_learning_rate_collapses_and_is_flagged():
    x, y = _blobs(2000, 0)
    xt, yt = _blobs(500, 1)
    mg.manual_seed(0)
    model = _train_sgd(_mlp(), x, y, lr=10.0)
    with pytest.warns(PredictionCollapseWarning, match="too large") as record:
        report = check_prediction_collapse(model, xt, yt)
    assert isinstance(report, CollapseReport) and report.collapsed and not report.ok
    assert report.majority_fraction > 0.9
    assert abs(report.accuracy - 1 / C) < 0.05  # the classic ~10%
    message = str(record[0].message)
    assert "of the 500 predictions are class" in message
    assert "logits hold NaN" in message  # here SGD diverged; on MNIST (below) it gets stuck without NaN


def test_sane_learning_rate_is_not_flagged(strict_warnings):
    x, y = _blobs(2000, 0)
    xt, yt = _blobs(500, 1)
    mg.manual_seed(0)
    model = _train_sgd(_mlp(), x, y, lr=0.1)
    report = check_prediction_collapse(model, xt, yt)
    assert report.ok and report.accuracy > 0.9
    assert report.majority_fraction < 0.2
    assert report.counts.sum() == 500 and report.counts.shape == (C,)


def test_collapse_from_logits_or_class_indices():
    logits = np.zeros((100, 4))
    logits[:, 2] = 1.0
    with pytest.warns(PredictionCollapseWarning, match="100.0% of the 100 predictions are class 2"):
        report = check_prediction_collapse(logits)
    assert report.num_classes == 4 and report.accuracy is None

    classes = np.arange(100) % 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_prediction_collapse(classes, targets=classes).ok
    # Diverse predictions, but at chance accuracy: also the "stuck at 1/C" failure.
    with pytest.raises(SanityCheckError, match="at chance level"):
        check_prediction_collapse(classes, targets=(classes + 1) % 4, raise_on_failure=True)


def test_nan_logits_are_mentioned():
    logits = np.full((10, 3), np.nan)
    with pytest.warns(PredictionCollapseWarning, match="The logits hold NaN: training diverged"):
        check_prediction_collapse(mg.tensor(logits))


def _mnist_root():
    root = os.environ.get("MINIGRAD_DATA")
    if not root:
        return None
    p = Path(root)
    return root if (p / "mnist.pkl.gz").exists() or (p / "MNIST").exists() else None


@pytest.mark.skipif(_mnist_root() is None, reason="MNIST not available under $MINIGRAD_DATA")
def test_mnist_mlp_stuck_at_ten_percent_with_lr_10():
    from minigrad.data import MNIST

    ds = MNIST(_mnist_root(), train=True, flat=True)
    x, y = ds.data[:3200], ds.targets[:3200]
    xt, yt = ds.data[50000:51000], ds.targets[50000:51000]
    results = {}
    for lr in (10.0, 0.5):
        mg.manual_seed(0)
        model = _train_sgd(nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, C)), x, y, lr,
                           epochs=1, batch=64)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            report = check_prediction_collapse(model, xt, yt)
        results[lr] = (report, [w.category for w in record], [str(w.message) for w in record])
    collapsed, seen, messages = results[10.0]
    assert collapsed.collapsed and PredictionCollapseWarning in seen
    assert collapsed.accuracy < 0.2 and collapsed.majority_fraction > 0.9
    assert "logits hold NaN" not in messages[0]  # not a divergence: the network is stuck predicting one digit
    sane, seen, _ = results[0.5]
    assert sane.ok and PredictionCollapseWarning not in seen and sane.accuracy > 0.7
