"""Datasets (``torch.utils.data``): ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``.

A dataset maps an index to a sample. Datasets backed by whole arrays may also define
``_get_batch(indices) -> batch``, which returns an already-collated batch for an index array;
``DataLoader`` then fetches each batch with one fancy-index instead of collating samples one
by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import numpy as np

from ..random import Generator, rng
from ..tensor import Tensor


class Dataset:
    """An indexable collection of samples: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def _as_array(t: Any) -> np.ndarray:
    if isinstance(t, Tensor):
        return t.data
    if isinstance(t, np.ndarray):
        return t
    raise TypeError(f"TensorDataset: expected Tensors or NumPy arrays, got {type(t).__name__}")


def _wrap(a: np.ndarray) -> Tensor:
    return Tensor._make(np.asarray(a), False, None)


class TensorDataset(Dataset):
    """Samples are the rows of tensors sharing their first dimension.

    Args:
        *tensors: Tensors (or NumPy arrays) of shape ``(N, ...)``; sample ``i`` is
            ``tuple(t[i] for t in tensors)``.
    """

    def __init__(self, *tensors: Any) -> None:
        arrays = [_as_array(t) for t in tensors]
        if not arrays:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = {a.shape[0] if a.ndim else None for a in arrays}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                "Size mismatch between tensors: first dims are "
                f"{[a.shape[0] if a.ndim else '0-d' for a in arrays]}"
            )
        self.tensors = tuple(t if isinstance(t, Tensor) else _wrap(t) for t in tensors)
        self._arrays = arrays

    def __getitem__(self, index: int) -> tuple:
        return tuple(_wrap(a[index]) for a in self._arrays)

    def __len__(self) -> int:
        return self._arrays[0].shape[0]

    def _get_batch(self, indices: np.ndarray) -> list:
        return [_wrap(np.take(a, indices, axis=0)) for a in self._arrays]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name: str) -> Any:
        # Expose _get_batch only when the wrapped dataset has it.
        if name == "_get_batch":
            inner = getattr(self.__dict__.get("dataset"), "_get_batch", None)
            if inner is not None:
                index_array = np.asarray(self.indices, dtype=np.int64)
                return lambda indices: inner(index_array[indices])
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class ConcatDataset(Dataset):
    """The samples of several datasets one after another."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = list(accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        from bisect import bisect_right

        d = bisect_right(self.cumulative_sizes, idx)
        start = 0 if d == 0 else self.cumulative_sizes[d - 1]
        return self.datasets[d][idx - start]


def random_split(
    dataset: Dataset, lengths: Sequence[int | float], generator: Generator | None = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets.

    Args:
        lengths: sizes summing to ``len(dataset)``, or fractions summing to 1 (each gets
            ``floor(n * frac)``; the remainder is handed out one by one, round-robin, as torch).
        generator: source of the permutation (default: minigrad's global generator).
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions, got {lengths}")
    lengths = [int(x) for x in lengths]
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = rng(generator).permutation(n)
    return [
        Subset(dataset, perm[end - length:end].tolist())
        for end, length in zip(accumulate(lengths), lengths)
    ]
