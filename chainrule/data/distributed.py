"""DistributedSampler: each process of a data-parallel job its own share of the data set
(PyTorch's ``torch.utils.data.distributed.DistributedSampler``)."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from chainrule import distributed as dist
from chainrule.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """The indices rank ``rank`` of ``num_replicas`` processes visits in one epoch.

    Every epoch the indices are shuffled (``shuffle``) with a generator seeded by
    ``seed + epoch``, the same on every process, and dealt out in turn: rank r gets
    positions r, r + num_replicas, ... So each index goes to exactly one process per epoch
    and every process gets the same number, ``ceil(len / num_replicas)``: the list is padded
    by repeating its first indices (``drop_last=False``), or its tail is dropped to a
    multiple of ``num_replicas`` (``drop_last=True``). Call :meth:`set_epoch` before each
    epoch for a new order (``cr.train.fit`` does); the same seed and epoch give the same
    order, so a resumed run continues exactly. The order comes from NumPy's generator, so it
    differs from PyTorch's for the same seed.

    ``num_replicas`` and ``rank`` default to the default process group's world size and
    rank (one process and rank 0 without a launcher).

    Example:
        >>> sampler = cr.data.DistributedSampler(train_set, shuffle=True, seed=0)
        >>> loader = cr.data.DataLoader(train_set, batch_size=64, sampler=sampler)
        >>> for epoch in range(epochs):
        ...     sampler.set_epoch(epoch)
        ...     for x, y in loader: ...
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None:
            num_replicas = dist.get_world_size() if dist.is_initialized() else 1
        if rank is None:
            rank = dist.get_rank() if dist.is_initialized() else 0
        for name, value, low in (("num_replicas", num_replicas, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"DistributedSampler: {name} must be an int >= {low}, "
                                 f"got {value!r}")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
                or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the "
                             f"interval [0, {num_replicas - 1}]")
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DistributedSampler: dataset must have a length, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            # Drop the tail so every process gets the same, whole number of samples.
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` (counted as the caller likes; fit counts from 1)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: epoch must be an int >= 0, "
                             f"got {epoch!r}")
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This process's indices for the current epoch, as one array."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n, dtype=np.int64)
        if not self.drop_last:
            pad = self.total_size - n
            if pad > 0 and n > 0:
                order = np.concatenate([order, np.resize(order, pad)])
        else:
            order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
