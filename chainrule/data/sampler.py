"""Samplers: the order in which a DataLoader visits a dataset's indices.

Random samplers draw from the NumPy Generator they were given or, when none was, from
chainrule's global generator *at the start of each epoch* (so ``cr.manual_seed`` set after
the loader was built still takes effect, and every epoch gets a fresh order).
"""
from __future__ import annotations

import abc
import math
from typing import Iterator, Sequence

import numpy as np

from chainrule.random import default_generator


def check_positive_int(value, name: str, who: str) -> int:
    """Reject anything but a positive int (bools and floats too), naming the value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")
    return int(value)


def check_generator(generator, who: str) -> np.random.Generator | None:
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{who}: generator must be a numpy.random.Generator or None, got "
                        f"{type(generator).__name__}")
    return generator


def _rng(generator: np.random.Generator | None) -> np.random.Generator:
    # Looked up at each use: cr.manual_seed replaces the global generator object.
    return generator if generator is not None else default_generator()


class Sampler(abc.ABC):
    """Base class: iterate over dataset indices (``__len__`` is optional)."""

    @abc.abstractmethod
    def __iter__(self) -> Iterator[int]:
        """Yield indices."""


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices, new each epoch.

    Without replacement each index appears once per pass (``num_samples`` larger than the
    dataset chains several permutations); with ``replacement=True`` indices are drawn
    independently and uniformly.

    Example:
        >>> import numpy as np
        >>> sorted(RandomSampler(range(5), generator=np.random.default_rng(0)))
        [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator: np.random.Generator | None = None):
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = (None if num_samples is None else
                             check_positive_int(num_samples, "num_samples", "RandomSampler"))
        self.generator = check_generator(generator, "RandomSampler")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n, rng = len(self.data_source), _rng(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        passes = math.ceil(self.num_samples / n) if n else 0
        order = np.concatenate([rng.permutation(n) for _ in range(passes)]) if passes else []
        return iter(np.asarray(order[:self.num_samples], dtype=np.int64).tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order, new each epoch."""

    def __init__(self, indices: Sequence[int], generator: np.random.Generator | None = None):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.generator = check_generator(generator, "SubsetRandomSampler")

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices[_rng(self.generator).permutation(len(self.indices))].tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``
    (for oversampling rare classes).

    Example:
        >>> import numpy as np
        >>> s = WeightedRandomSampler([0.0, 1.0], 3, generator=np.random.default_rng(0))
        >>> list(s)
        [1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: np.random.Generator | None = None):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be a non-empty 1-D sequence of "
                             f"finite non-negative numbers with a positive sum, got {weights!r}")
        num_samples = check_positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without "
                             f"replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights, self.num_samples, self.replacement = w, int(num_samples), bool(replacement)
        self.generator = check_generator(generator, "WeightedRandomSampler")

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        draws = _rng(self.generator).choice(len(p), size=self.num_samples,
                                            replace=self.replacement, p=p)
        return iter(draws.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size``.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        self.sampler = sampler
        self.batch_size = check_positive_int(batch_size, "batch_size", "BatchSampler")
        self.drop_last = bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
