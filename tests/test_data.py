"""Dataset, TensorDataset, Subset, random_split, DataLoader and default_collate."""

from collections import namedtuple

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def _paired(n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)  # row i starts with 3 * i
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(mg.tensor(x), mg.tensor(y)), x, y


class ListDataset(Dataset):
    """A dataset without the batched fast path (samples collated one by one)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffle_pairs_coverage_and_reproducibility(fast, drop_last):
    ds, x, y = _paired()
    if not fast:
        ds = ListDataset(x, y)
    loader = DataLoader(ds, batch_size=5, shuffle=True, drop_last=drop_last,
                        generator=mg.Generator(7))
    epochs = []
    for _ in range(2):
        seen = []
        for xb, yb in loader:
            assert isinstance(xb, mg.Tensor) and isinstance(yb, mg.Tensor)
            assert xb.dtype == mg.float32 and yb.dtype == mg.int64
            assert xb.shape == (len(yb), 3)
            np.testing.assert_array_equal(xb.numpy()[:, 0], 3 * yb.numpy())  # still paired
            if drop_last:
                assert len(yb) == 5
            seen.extend(yb.tolist())
        epochs.append(seen)
    for seen in epochs:
        if drop_last:
            assert len(seen) == 20 and len(set(seen)) == 20
        else:
            assert sorted(seen) == list(range(23))  # every sample exactly once
    assert epochs[0] != epochs[1]  # a new order every epoch
    assert epochs[0] != sorted(epochs[0])
    assert len(loader) == (4 if drop_last else 5)
    # the same seed gives the same orders
    again = DataLoader(ds, batch_size=5, shuffle=True, drop_last=drop_last, generator=mg.Generator(7))
    assert [b[1].tolist() for b in again] == [epochs[0][i:i + 5] for i in range(0, len(epochs[0]), 5)]


def test_global_seed_makes_order_reproducible():
    ds, _, _ = _paired()
    mg.manual_seed(3)
    a = [yb.tolist() for _, yb in DataLoader(ds, batch_size=4, shuffle=True)]
    mg.manual_seed(3)
    b = [yb.tolist() for _, yb in DataLoader(ds, batch_size=4, shuffle=True)]
    mg.manual_seed(4)
    c = [yb.tolist() for _, yb in DataLoader(ds, batch_size=4, shuffle=True)]
    assert a == b and a != c


def test_fast_path_matches_per_sample_collation():
    ds, x, y = _paired()
    fast = list(DataLoader(ds, batch_size=4))
    slow = list(DataLoader(ds, batch_size=4, collate_fn=default_collate))  # forces per-sample
    assert len(fast) == len(slow) == 6
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
        assert a.dtype == c.dtype and b.dtype == d.dtype
    # batches are copies: writing into one does not touch the dataset
    fast[0][0].data[...] = -1
    assert ds[0][0].numpy()[0] == 0


def test_no_shuffle_keeps_order_and_last_partial_batch():
    ds, x, y = _paired(10)
    batches = [yb.tolist() for _, yb in DataLoader(ds, batch_size=4)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [yb.tolist() for _, yb in DataLoader(ds, batch_size=4, drop_last=True)] == batches[:2]
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2


def test_custom_collate_fn():
    ds, x, y = _paired(7)
    calls = []

    def collate(samples):
        calls.append(len(samples))
        return {"n": len(samples), "labels": [int(s[1]) for s in samples]}

    out = list(DataLoader(ds, batch_size=3, collate_fn=collate))
    assert calls == [3, 3, 1]
    assert out[0] == {"n": 3, "labels": [0, 1, 2]}


def test_batch_size_none_yields_samples():
    ds, x, y = _paired(3)
    samples = list(DataLoader(ds, batch_size=None))
    assert len(samples) == 3 and samples[2][1].item() == 2


def test_default_collate_types():
    Point = namedtuple("Point", "a b")
    batch = [
        {"img": np.ones((2, 2), np.float32), "label": 1, "w": 0.5, "flag": True, "name": "a",
         "pt": Point(1, 2.0), "t": mg.tensor([1.0, 2.0]), "np": np.int32(3)},
        {"img": np.zeros((2, 2), np.float32), "label": 2, "w": 1.5, "flag": False, "name": "b",
         "pt": Point(3, 4.0), "t": mg.tensor([3.0, 4.0]), "np": np.int32(4)},
    ]
    out = default_collate(batch)
    assert out["img"].shape == (2, 2, 2) and out["img"].dtype == mg.float32
    assert out["label"].dtype == mg.int64 and out["label"].tolist() == [1, 2]
    assert out["w"].dtype == mg.float64
    assert out["flag"].dtype == mg.bool
    assert out["name"] == ["a", "b"]
    assert isinstance(out["pt"], Point) and out["pt"].a.dtype == mg.int64
    assert out["t"].shape == (2, 2)
    assert out["np"].dtype == mg.int32
    nested = default_collate([(1, (2.0, np.ones(3))), (3, (4.0, np.zeros(3)))])
    assert nested[0].tolist() == [1, 3] and nested[1][1].shape == (2, 3)
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([mg.ones(2), mg.ones(3)])
    with pytest.raises(TypeError):
        default_collate([object(), object()])


def test_random_split_lengths_and_fractions():
    ds, x, y = _paired(23)
    a, b = random_split(ds, [20, 3], generator=mg.Generator(0))
    assert len(a) == 20 and len(b) == 3
    ids = [a[i][1].item() for i in range(20)] + [b[i][1].item() for i in range(3)]
    assert sorted(ids) == list(range(23)) and ids != list(range(23))
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=mg.Generator(0))
    assert [len(p) for p in parts] == [12, 7, 4]  # floor 11, 6, 4 plus the remainder round-robin
    again = random_split(ds, [0.5, 0.3, 0.2], generator=mg.Generator(0))
    assert [p.indices for p in parts] == [p.indices for p in again]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [10, 10])
    # a Subset of a TensorDataset still uses the batched path, with the right samples
    xb, yb = next(iter(DataLoader(a, batch_size=20)))
    assert yb.tolist() == [a[i][1].item() for i in range(20)]
    np.testing.assert_array_equal(xb.numpy()[:, 0], 3 * yb.numpy())


def test_subset_and_concat():
    ds, x, y = _paired(10)
    s = Subset(ds, [9, 2, 4])
    assert len(s) == 3 and s[0][1].item() == 9
    c = ConcatDataset([s, ds])
    assert len(c) == 13 and c[3][1].item() == 0 and c[-1][1].item() == 9
    assert len(s + ds) == 13
    yb = next(iter(DataLoader(c, batch_size=13)))[1]
    assert yb.tolist() == [9, 2, 4] + list(range(10))


def test_errors():
    ds, x, y = _paired(4)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(mg.ones(3, 2), mg.ones(4))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="samplers are not supported"):
        DataLoader(ds, sampler=[0, 1])
    with pytest.raises(NotImplementedError):
        len(Dataset())
