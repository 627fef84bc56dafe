"""Data loading: datasets, samplers, the DataLoader, readers and built-in data sets.

PyTorch's ``torch.utils.data`` names and semantics, over NumPy::

    >>> import chainrule as cr
    >>> loader = cr.data.DataLoader(cr.data.MNIST("test"), batch_size=128, shuffle=True)
    >>> images, labels = next(iter(loader))
    >>> images.shape, labels.dtype
    ((128, 1, 28, 28), dtype('int64'))

Shipped data (never downloaded) is in :mod:`chainrule.data.datasets`; synthetic sets (2-D
classification problems and a 1-D curve) in :mod:`chainrule.data.generated`; torchvision-style
image transforms in :mod:`chainrule.data.transforms`. The same loading API is importable as
``chainrule.utils.data`` (PyTorch's ``torch.utils.data``).
"""
from chainrule.data.collate import default_collate
from chainrule.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from chainrule.data.sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
    WeightedRandomSampler)
from chainrule.data.dataloader import DataLoader
from chainrule.data.distributed import DistributedSampler
from chainrule.data.idx import IDXError, load_idx_pair, read_idx, write_idx
from chainrule.data.tabular import MissingValueError, csv_header, load_csv
from chainrule.data import datasets, features, generated, transforms
from chainrule.data.datasets import (
    MNIST, CharDataset, Diabetes, Ionosphere, Sonar, TinyShakespeare, load_diabetes,
    load_ionosphere, load_mnist, load_shakespeare, load_sonar)
from chainrule.data.features import expand_features
from chainrule.data.generated import (
    make_blobs, make_circles, make_gaussian_bumps, make_moons, make_plane, make_sine,
    make_spirals, make_xor)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "default_collate",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "DataLoader", "read_idx",
    "write_idx", "load_idx_pair", "IDXError", "load_csv", "csv_header", "MissingValueError",
    "datasets", "generated", "transforms", "MNIST", "Sonar", "Ionosphere", "Diabetes",
    "CharDataset", "TinyShakespeare", "load_mnist", "load_sonar", "load_ionosphere", "load_diabetes",
    "load_shakespeare", "make_xor", "make_circles", "make_moons", "make_spirals", "make_blobs",
    "make_plane", "make_gaussian_bumps", "make_sine", "features", "expand_features",
]
