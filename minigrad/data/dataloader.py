"""``DataLoader``: batches of a dataset, optionally shuffled, collated into tensors."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..random import Generator, rng
from ..tensor import Tensor


def _wrap(a: np.ndarray) -> Tensor:
    return Tensor._make(a, False, None)


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch (``torch.utils.data.default_collate``).

    Tensors and NumPy arrays are stacked along a new first dim; Python floats become a
    float64 tensor, ints an int64 tensor, bools a bool tensor, NumPy scalars keep their dtype;
    strings stay a list; dicts and tuples/lists are collated field by field (a sequence of
    fields comes back as a list, as in torch).
    """
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {b.shape for b in batch}
        if len(shapes) != 1:
            raise RuntimeError(
                f"default_collate: stack expects each tensor to be equal size, but got {sorted(shapes)}"
            )
        return _wrap(np.stack([b.data for b in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OUS":
            raise TypeError(f"default_collate: cannot collate arrays of dtype {elem.dtype}")
        return _wrap(np.stack(batch))
    if isinstance(elem, np.generic):
        return _wrap(np.array(batch, dtype=elem.dtype))
    if isinstance(elem, bool):
        return _wrap(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return _wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return _wrap(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch)]
    raise TypeError(
        "default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or lists; "
        f"found {type(elem).__name__}"
    )


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: any object with ``__getitem__`` and ``__len__``.
        batch_size: samples per batch; ``None`` yields the samples one by one, uncollated.
        shuffle: draw a new random order at the start of every epoch.
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        collate_fn: merges a list of samples into a batch (default: ``default_collate``).
        generator: source of the shuffling order (default: minigrad's global generator, so
            ``minigrad.manual_seed`` makes the order reproducible).
        num_workers: accepted for compatibility; loading always happens in the calling
            process (batches are identical either way).

    When ``collate_fn`` is the default and the dataset defines ``_get_batch`` (``TensorDataset``,
    ``MNIST`` without transforms, their ``Subset``s), each batch is gathered with one
    fancy-index per array instead of per-sample collation.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        generator: Generator | None = None,
    ) -> None:
        if sampler is not None or batch_sampler is not None:
            raise ValueError(
                "DataLoader: samplers are not supported; use shuffle=True/False, Subset or "
                "random_split to choose samples"
            )
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.generator = generator
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self._default_collate = collate_fn is None

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            return rng(self.generator).permutation(n)
        return np.arange(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        bs = self.batch_size
        n = len(order)
        stop = n - n % bs if self.drop_last else n
        # Looked up per epoch: setting a transform on the dataset later turns the fast path off.
        get_batch = getattr(self.dataset, "_get_batch", None) if self._default_collate else None
        for start in range(0, stop, bs):
            idx = order[start:start + bs]
            if get_batch is not None:
                yield get_batch(idx)
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in idx])
