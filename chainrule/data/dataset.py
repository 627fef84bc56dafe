"""Datasets: indexable collections of samples, as in ``torch.utils.data``.

A dataset is anything with ``__getitem__(i)`` and ``__len__()``. Subclasses of
:class:`Dataset` may also override :meth:`Dataset.fetch_batch`, which the
:class:`~chainrule.data.DataLoader` calls with a whole array of indices: datasets that hold
their samples as arrays answer it with one fancy-indexing operation per array instead of one
Python call per sample, which is what makes an epoch over MNIST cheap.
"""
from __future__ import annotations

import abc
import bisect
import math
import warnings
from typing import Any, Sequence

import numpy as np

from chainrule import backend
from chainrule.random import default_generator
from chainrule.tensor import Tensor
from chainrule.data.collate import default_collate


def _as_index_array(indices) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"expected a 1-D sequence of integer indices, got {arr.dtype} array "
                        f"of shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


class Dataset(abc.ABC):
    """Base class of map-style datasets: implement ``__getitem__`` and ``__len__``.

    ``a + b`` concatenates two datasets (a :class:`ConcatDataset`).

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, i): return float(i), float(i * i)
        >>> len(Squares() + Squares())
        20
    """

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The sample at ``index``."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    def fetch_batch(self, indices: np.ndarray) -> Any:
        """The collated batch of the samples at ``indices`` (a 1-D int array).

        Equal by definition to ``default_collate([self[i] for i in indices])``; override it
        when whole arrays can be indexed at once (TensorDataset, MNIST do).
        """
        return default_collate([self[int(i)] for i in indices])

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are slices along the first dimension of equally long tensors or arrays.

    Accepts Tensors, NumPy arrays or nested lists (converted as ``cr.tensor`` would). Items are
    tuples of Tensors, cut from the graph: a data set is data, not a parameter.

    Example:
        >>> import numpy as np
        >>> ds = TensorDataset(np.zeros((4, 3), np.float32), np.arange(4))
        >>> x, y = ds[1]
        >>> x.shape, int(y)
        ((3,), 1)
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor or array")
        self.tensors: tuple[Tensor, ...] = tuple(
            t if isinstance(t, Tensor) else Tensor(backend.as_array(t)) for t in tensors)
        for i, t in enumerate(self.tensors):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-dimensional; every tensor "
                                 "needs a first dimension that indexes the samples")
        sizes = [t.shape[0] for t in self.tensors]
        if any(s != sizes[0] for s in sizes):
            raise ValueError(
                "TensorDataset: every tensor must have the same first dimension (the number "
                f"of samples); got first dimensions {sizes} for shapes "
                f"{[t.shape for t in self.tensors]}")
        self._arrays = [t._array for t in self.tensors]

    def __getitem__(self, index):
        return tuple(Tensor(np.asarray(a[index])) for a in self._arrays)

    def __len__(self) -> int:
        return self._arrays[0].shape[0]

    def fetch_batch(self, indices: np.ndarray) -> list[Tensor]:
        # One fancy index per array; a list, as default_collate returns for tuple samples.
        return [Tensor(a[indices]) for a in self._arrays]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Example:
        >>> import numpy as np
        >>> sub = Subset(TensorDataset(np.arange(10)), [7, 3])
        >>> [int(sub[i][0]) for i in range(len(sub))]
        [7, 3]
    """

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = _as_index_array(indices)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            bad = self.indices[(self.indices < -n) | (self.indices >= n)][0]
            raise IndexError(f"Subset: index {int(bad)} is out of range for a dataset of "
                             f"{n} samples")

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    def fetch_batch(self, indices: np.ndarray):
        inner = self.indices[indices]
        if isinstance(self.dataset, Dataset):
            return self.dataset.fetch_batch(inner)
        return default_collate([self.dataset[int(i)] for i in inner])


class ConcatDataset(Dataset):
    """Several datasets one after the other.

    Example:
        >>> import numpy as np
        >>> both = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(5))])
        >>> len(both), int(both[4][0])
        (8, 1)
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets must be a non-empty iterable")
        self.cumulative_sizes: list[int] = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _locate(self, index: int) -> tuple[int, int]:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ConcatDataset: index out of range for a dataset of {n} samples")
        part = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[part - 1] if part else 0
        return part, index - start

    def __getitem__(self, index: int):
        part, local = self._locate(int(index))
        return self.datasets[part][local]

    def fetch_batch(self, indices: np.ndarray):
        n = len(self)
        indices = np.where(indices < 0, indices + n, indices)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"ConcatDataset: index out of range for a dataset of {n} samples")
        parts = np.searchsorted(self.cumulative_sizes, indices, side="right")
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
        used = np.unique(parts)
        if len(used) == 1:
            p = int(used[0])
            return _fetch(self.datasets[p], indices - starts[p])
        # Fetch each part's share in one go, then put the samples back in the asked order.
        pieces, order = [], []
        for p in used:
            where = np.nonzero(parts == p)[0]
            pieces.append(_fetch(self.datasets[int(p)], indices[where] - starts[p]))
            order.append(where)
        inverse = np.argsort(np.concatenate(order), kind="stable")
        return _tree_take(_tree_concat(pieces), inverse)


def _fetch(dataset, indices: np.ndarray):
    if isinstance(dataset, Dataset):
        return dataset.fetch_batch(indices)
    return default_collate([dataset[int(i)] for i in indices])


def _tree_concat(batches: list):
    """Concatenate collated batches of the same structure along the sample axis."""
    first = batches[0]
    if isinstance(first, Tensor):
        return Tensor(np.concatenate([b._array for b in batches]))
    if isinstance(first, dict):
        return {k: _tree_concat([b[k] for b in batches]) for k in first}
    if isinstance(first, (list, tuple)) and first and not isinstance(first[0], str):
        return type(first)(_tree_concat(list(parts)) for parts in zip(*batches))
    # Lists of strings (collated strings stay lists): plain concatenation.
    return [x for b in batches for x in b]


def _tree_take(batch, order: np.ndarray):
    if isinstance(batch, Tensor):
        return Tensor(batch._array[order])
    if isinstance(batch, dict):
        return {k: _tree_take(v, order) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and batch and not isinstance(batch[0], str):
        return type(batch)(_tree_take(v, order) for v in batch)
    return [batch[int(i)] for i in order]


def random_split(dataset, lengths: Sequence[int | float], generator: np.random.Generator | None = None
                 ) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are either counts that sum to ``len(dataset)`` or fractions that sum to 1;
    fractions are turned into counts by flooring and then handing the leftover samples out
    one at a time, first subset first (PyTorch's rule). The permutation comes from
    ``generator`` or, when None, chainrule's global generator (seeded by ``cr.manual_seed``).

    Example:
        >>> import numpy as np
        >>> train, val = random_split(TensorDataset(np.arange(10)), [0.8, 0.2],
        ...                           generator=np.random.default_rng(0))
        >>> len(train), len(val)
        (8, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"random_split: generator must be a numpy.random.Generator or None, "
                        f"got {type(generator).__name__}")
    all_fractions = all(isinstance(x, (float, np.floating)) and 0 <= x <= 1 for x in lengths)
    if all_fractions and math.isclose(sum(lengths), 1.0, abs_tol=1e-6) and sum(lengths) <= 1 + 1e-6:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; "
                              "this subset will be empty", stacklevel=2)
    else:
        if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0
                   for x in lengths):
            raise ValueError(
                "random_split: lengths must be non-negative ints that sum to the dataset size "
                f"or fractions in [0, 1] that sum to 1; got {lengths}")
        counts = [int(x) for x in lengths]
        if sum(counts) != n:
            raise ValueError(f"random_split: the lengths {counts} sum to {sum(counts)}, but the "
                             f"dataset has {n} samples")
    rng = generator if generator is not None else default_generator()
    perm = rng.permutation(n)
    out, offset = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[offset:offset + c]))
        offset += c
    return out
