"""``torch.utils.data``'s names, the very objects of :mod:`chainrule.data` (one
implementation, two import paths), so ``from torch.utils.data import DataLoader`` becomes
``from chainrule.utils.data import DataLoader``.

    >>> import numpy as np
    >>> from chainrule.utils.data import DataLoader, TensorDataset, random_split
    >>> train, val = random_split(TensorDataset(np.arange(10.0)), [8, 2])
    >>> len(DataLoader(train, batch_size=4))
    2
"""
from chainrule.data import (
    BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler,
    Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler, default_collate,
    random_split)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "default_collate"]
