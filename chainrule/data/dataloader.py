"""DataLoader: iterate over a dataset in (shuffled) mini-batches, as ``torch.utils.data``."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from chainrule.data.collate import default_collate
from chainrule.data.dataset import Dataset
from chainrule.data.distributed import DistributedSampler
from chainrule.data.sampler import (
    BatchSampler, RandomSampler, SequentialSampler, check_generator, check_positive_int)


class DataLoader:
    """Mini-batches of ``dataset``, one pass per ``for`` loop.

    Args:
        dataset: a :class:`Dataset` or any object with ``__getitem__`` and ``__len__``.
        batch_size: samples per batch, a positive int.
        shuffle: visit the samples in a new random order every epoch. The order comes from
            ``generator`` or, when None, from chainrule's global generator, so
            ``cr.manual_seed(n)`` makes the whole sequence of epochs reproducible.
        sampler: an iterable of indices giving the order (excludes ``shuffle``).
        batch_sampler: an iterable of lists of indices, one list per batch (excludes
            ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``).
        drop_last: drop the last, smaller batch; ``len(loader)`` is then
            ``len(dataset) // batch_size`` instead of the ceiling.
        collate_fn: turns a list of samples into a batch (default :func:`default_collate`).
        generator: a ``numpy.random.Generator`` used for shuffling.

    With the default collate, batches come from ``dataset.fetch_batch(indices)``, which
    array-backed datasets (TensorDataset, MNIST, ...) answer by indexing whole arrays once per
    batch instead of building every sample in Python.

    Example:
        >>> import numpy as np, chainrule as cr
        >>> ds = cr.data.TensorDataset(np.arange(10, dtype=np.float32), np.arange(10) % 2)
        >>> loader = cr.data.DataLoader(ds, batch_size=4, shuffle=True)
        >>> len(loader), [x.shape for x, y in loader]
        (3, [(4,), (4,), (2,)])
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, *,
                 sampler=None, batch_sampler=None, drop_last: bool = False,
                 collate_fn: Callable[[list], Any] | None = None,
                 generator: np.random.Generator | None = None, num_workers: int = 0):
        if num_workers != 0:
            # Worker processes are not implemented: say so rather than silently run in one.
            raise ValueError(f"DataLoader: num_workers={num_workers!r} is not supported; batches "
                             f"are built in the main process (num_workers=0), which the batched "
                             f"fast path keeps cheap")
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: dataset must have __getitem__ and __len__, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.generator = check_generator(generator, "DataLoader")
        self.collate_fn = collate_fn
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with "
                                 "batch_size, shuffle, sampler and drop_last")
            self.batch_size = None
            self.drop_last = False
            self.sampler = None
            self.batch_sampler = batch_sampler
            return
        self.batch_size = check_positive_int(batch_size, "batch_size", "DataLoader")
        self.drop_last = bool(drop_last)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle; put the "
                             "randomness in the sampler")
        if sampler is None:
            sampler = (RandomSampler(dataset, generator=self.generator) if shuffle
                       else SequentialSampler(dataset))
        self.sampler = sampler
        self.batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def _fetch(self, indices: list[int]) -> Any:
        if self.collate_fn is not None:
            return self.collate_fn([self.dataset[i] for i in indices])
        if isinstance(self.dataset, Dataset):
            return self.dataset.fetch_batch(np.asarray(indices, dtype=np.int64))
        return default_collate([self.dataset[i] for i in indices])

    def __iter__(self) -> Iterator[Any]:
        batches = self._index_batches()
        if batches is not None:
            for indices in batches:
                yield self.dataset.fetch_batch(indices)
            return
        for indices in self.batch_sampler:
            yield self._fetch([int(i) for i in indices])

    def _index_batches(self) -> list[np.ndarray] | None:
        """The epoch's batches as slices of one index array, when the plain samplers make
        them (the common case): the sampler is read once per epoch, exactly as the batch
        sampler would read it, so the order and the random draws are the same; but no
        Python loop runs per sample. None when a custom sampler or collate_fn is in play."""
        bs = self.batch_sampler
        if (self.collate_fn is not None or not isinstance(self.dataset, Dataset)
                or type(bs) is not BatchSampler
                or type(bs.sampler) not in (SequentialSampler, RandomSampler, DistributedSampler)):
            return None
        order = np.fromiter(bs.sampler, dtype=np.int64)
        size = bs.batch_size
        stop = len(order) - len(order) % size if bs.drop_last else len(order)
        return [order[i:i + size] for i in range(0, stop, size)]

    def __repr__(self) -> str:
        try:
            batches = str(len(self))
        except TypeError:  # a sampler without a length
            batches = "?"
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batches={batches}, "
                f"batch_size={self.batch_size}, drop_last={self.drop_last})")
