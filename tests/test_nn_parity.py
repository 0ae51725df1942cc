"""Whole models: a torch state_dict loaded into the same minigrad model gives the same outputs,
losses and parameter gradients (float64 to 1e-10 relative, float32 to 1e-5)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402
from minigrad import nn  # noqa: E402


def reference_cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def mlp(nn):
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(784, 128)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(128, 64)
            self.bn = nn.BatchNorm1d(64)
            self.drop = nn.Dropout(0.2)
            self.fc3 = nn.Linear(64, 10)

        def forward(self, x):
            x = self.act(self.fc1(self.flatten(x)))
            x = self.drop(self.bn(self.fc2(x).tanh()))
            return self.fc3(x)

    return MLP()


def assert_close(got, want, rel, name):
    """Relative to the tensor's scale: max|got - want| <= rel * max|want|."""
    scale = max(float(np.abs(want).max()), 1e-30)
    err = float(np.abs(got - want).max())
    assert err <= rel * scale, f"{name}: max abs err {err:.3e} vs scale {scale:.3e} (rel {err / scale:.3e})"


def run_both(build, x, y, dtype, rel, train=False, steps=1, loss_fn="cross_entropy"):
    torch.manual_seed(0)
    t_model = build(torch.nn)
    m_model = build(nn)
    if dtype == np.float64:
        t_model, m_model = t_model.double(), m_model.double()
    assert list(m_model.state_dict()) == list(t_model.state_dict())
    result = m_model.load_state_dict(t_model.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    t_model.train(train)
    m_model.train(train)
    lr = 0.1
    for step in range(steps):
        xb, yb = x[step], y[step]
        to = t_model(torch.tensor(xb))
        mo = m_model(mg.tensor(xb))
        assert_close(mo.data, to.detach().numpy(), rel, f"step {step} output")
        tl = getattr(torch.nn.functional, loss_fn)(to, torch.tensor(yb))
        ml = getattr(F, loss_fn)(mo, mg.tensor(yb))
        assert abs(ml.item() - tl.item()) <= rel * abs(tl.item()), (ml.item(), tl.item())
        t_model.zero_grad()
        m_model.zero_grad()
        tl.backward()
        ml.backward()
        t_params = dict(t_model.named_parameters())
        for name, p in m_model.named_parameters():
            assert p.grad.dtype == p.dtype
            assert_close(p.grad.data, t_params[name].grad.numpy(), rel, f"step {step} grad {name}")
        # plain SGD in both, so later steps compare models that trained independently
        with torch.no_grad():
            for p in t_model.parameters():
                p -= lr * p.grad
        with mg.no_grad():
            for p in m_model.parameters():
                p -= lr * p.grad
    for name, buf in t_model.state_dict().items():
        assert_close(m_model.state_dict()[name].data, buf.numpy(), rel, f"final {name}")
    return m_model, t_model


def _data(dtype, steps, n=16, shape=(1, 28, 28)):
    rng = np.random.default_rng(1)
    x = [rng.standard_normal((n,) + shape).astype(dtype) for _ in range(steps)]
    y = [rng.integers(0, 10, n) for _ in range(steps)]
    return x, y


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_reference_cnn_parity(dtype, rel):
    x, y = _data(dtype, steps=2)
    m_model, t_model = run_both(reference_cnn, x, y, dtype, rel, train=True, steps=2)
    assert repr(m_model) == repr(t_model)


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_mlp_parity_eval_mode(dtype, rel):
    # eval mode: Dropout is the identity and BatchNorm uses the (loaded) running statistics
    x, y = _data(dtype, steps=2, n=32)
    run_both(mlp, x, y, dtype, rel, train=False, steps=2)


def test_mlp_parity_train_mode_without_dropout():
    # train mode with p=0 dropout: BatchNorm's batch statistics and running-stat updates match
    def build(nn):
        m = mlp(nn)
        m.drop.p = 0.0
        return m

    x, y = _data(np.float64, steps=3, n=32)
    m_model, t_model = run_both(build, x, y, np.float64, 1e-10, train=True, steps=3)
    assert int(m_model.bn.num_batches_tracked.item()) == 3


def test_nll_pipeline_parity():
    def build(nn):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.LeakyReLU(0.1),
                             nn.Linear(32, 10), nn.LogSoftmax(dim=1))

    x, y = _data(np.float64, steps=1)
    run_both(build, x, y, np.float64, 1e-10, loss_fn="nll_loss")


def test_state_dict_from_minigrad_loads_into_torch():
    m_model = reference_cnn(nn)
    t_model = reference_cnn(torch.nn)
    t_model.load_state_dict({k: torch.from_numpy(v.data.copy()) for k, v in m_model.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32)
    assert_close(m_model(mg.tensor(x)).data, t_model(torch.tensor(x)).detach().numpy(), 1e-5, "out")
