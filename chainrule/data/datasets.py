"""Built-in data sets, shipped inside the package (nothing is ever downloaded).

Files live in ``chainrule/data/files/`` in their original formats; provenance, licences and
SHA-256 values are in ``chainrule/data/files/README.md``.

* MNIST (CC BY-SA 3.0): :func:`load_mnist`, :class:`MNIST`
* UCI Sonar and Ionosphere (CC BY 4.0): :func:`load_sonar`, :func:`load_ionosphere`,
  :class:`Sonar`, :class:`Ionosphere`
* Tiny Shakespeare (public domain text): :func:`load_shakespeare`, :class:`CharDataset`,
  :class:`TinyShakespeare`
* Diabetes progression (Efron et al. 2004), a regression set: :func:`load_diabetes`,
  :class:`Diabetes`
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

from chainrule.tensor import Tensor
from chainrule.data.dataset import Dataset, TensorDataset
from chainrule.data.idx import load_idx_pair
from chainrule.data.sampler import check_positive_int
from chainrule.data.tabular import csv_header, load_csv

FILES_DIR = Path(__file__).resolve().parent / "files"

# SHA-256 of every shipped file, as published in files/README.md.
SHA256: dict[str, str] = {
    "mnist/train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "mnist/train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "mnist/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "mnist/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "tinyshakespeare/input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    "uci-sonar/sonar.all-data": "e90434cdbf00fcf93ffa911fe447ae25606979658e60f1d32e155c3b5240234d",
    "uci-sonar/sonar.names": "f3d650ae9772b1a5021d977fe9f8194259f3dddec1922128c8104cf1c4e7250f",
    "uci-ionosphere/ionosphere.data": "46d52186b84e20be52918adb93e8fb9926b34795ff7504c24350ae0616a04bbd",
    "uci-ionosphere/ionosphere.names": "a368e4fd9b910a3ac97fa306add17446c13105367e17f5b691455db2ea8411cf",
    "diabetes/diabetes.tab.txt": "0555e4a1cdccc6d60145de2154ec3078923f89124957a7fd6c749773f2513872",
}

_MNIST_FILES = {
    "train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"),
}


def data_path(name: str) -> Path:
    """The path of a shipped file, e.g. ``data_path("uci-sonar/sonar.all-data")``."""
    path = FILES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"chainrule data file {name!r} is missing from {FILES_DIR}; the package install is "
            f"incomplete (shipped files: {sorted(SHA256)})")
    return path


def verify_files() -> dict[str, bool]:
    """SHA-256 check of every shipped file: ``{name: matches}``.

    Example:
        >>> all(verify_files().values())
        True
    """
    result = {}
    for name, digest in SHA256.items():
        path = FILES_DIR / name
        result[name] = path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest
    return result


def _check_split(split: str, who: str) -> str:
    if split not in _MNIST_FILES:
        raise ValueError(f"{who}: split must be 'train' or 'test', got {split!r}")
    return split


@functools.lru_cache(maxsize=2)
def _mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    # Decompressing the training images takes a few tenths of a second: do it once per
    # process and share read-only arrays between MNIST datasets.
    images_name, labels_name = _MNIST_FILES[split]
    images, labels = load_idx_pair(data_path(images_name), data_path(labels_name))
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits: ``(images uint8 (N, 28, 28), labels int64 (N,))``, N = 60,000 for
    ``"train"`` and 10,000 for ``"test"``. Returns fresh (writeable) copies.

    Example:
        >>> images, labels = load_mnist("test")
        >>> images.shape, images.dtype, labels[:5].tolist()
        ((10000, 28, 28), dtype('uint8'), [7, 2, 1, 0, 4])
    """
    images, labels = _mnist_arrays(_check_split(split, "load_mnist"))
    return images.copy(), labels.copy()


def load_sonar() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """UCI Sonar, mines vs. rocks: ``(X float32 (208, 60), y int64, ["M", "R"])``;
    label 0 = "M" (metal cylinder, a mine), 1 = "R" (rock)."""
    X, y, names = load_csv(data_path("uci-sonar/sonar.all-data"), header=False)
    return X, y, names


def load_ionosphere() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """UCI Ionosphere radar returns: ``(X float32 (351, 34), y int64, ["b", "g"])``;
    label 0 = "b" (bad, no structure), 1 = "g" (good, structure in the ionosphere)."""
    X, y, names = load_csv(data_path("uci-ionosphere/ionosphere.data"), header=False)
    return X, y, names


def load_diabetes() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Diabetes progression, a regression set: ``(X float32 (442, 10), y float32 (442,),
    feature names)``. The features are the raw baseline measurements AGE, SEX (1 or 2),
    BMI, BP (mean arterial pressure) and the blood serum values S1-S6 (not centred or
    scaled, unlike scikit-learn's default); y is a measure of disease progression one year
    later (25 to 346).

    Example:
        >>> X, y, names = load_diabetes()
        >>> X.shape, names[:4], float(y.min()), float(y.max())
        ((442, 10), ['AGE', 'SEX', 'BMI', 'BP'], 25.0, 346.0)
    """
    path = data_path("diabetes/diabetes.tab.txt")
    X, y, _ = load_csv(path, label_column="Y", delimiter="\t", numeric_labels=True)
    names = [n for n in csv_header(path, delimiter="\t") if n != "Y"]
    return X, y, names


def load_shakespeare() -> str:
    """The Tiny Shakespeare corpus (1,115,394 characters) as one string."""
    return data_path("tinyshakespeare/input.txt").read_text(encoding="utf-8")


class MNIST(Dataset):
    """MNIST as a dataset of ``(image, label)`` pairs, built chainrule's way or torchvision's.

    chainrule's way, ``MNIST(split, flatten=False, normalize=True, transform=None,
    target_transform=None)``:

        split: "train" (60,000) or "test" (10,000).
        flatten: images as 784-vectors instead of channel-first ``(1, 28, 28)``.
        normalize: True -> float32 in [0, 1] (pixel / 255); "standard" -> float32
            standardised with the training-set mean 0.1307 and std 0.3081; False -> the raw
            uint8 pixels.
        transform / target_transform: callables applied per sample to the image Tensor /
            the int label.

    torchvision's way, ``MNIST(root, train=True, transform=None, target_transform=None,
    download=False)``: the data ships inside chainrule, so ``root`` is not read and
    ``download`` has nothing to fetch (True or False, the files are there). As in
    torchvision, the transform receives the raw image, a uint8 (28, 28) array
    (``transforms.ToTensor()`` makes it a float (1, 28, 28) Tensor in [0, 1]); without a
    transform the image is that uint8 array as a Tensor.

    Transforms that also take whole batches (``transforms.ToTensor``, ``Normalize`` and a
    ``Compose`` of them) build each DataLoader batch in one pass; other callables run per
    sample. ``data`` (uint8, (N, 28, 28)) and ``targets`` (int64) hold the raw arrays.

    Example:
        >>> from chainrule.data import DataLoader, transforms
        >>> x, y = next(iter(DataLoader(MNIST("test"), batch_size=128, shuffle=True)))
        >>> x.shape, x.dtype, y.shape
        ((128, 1, 28, 28), dtype('float32'), (128,))
        >>> tv = MNIST("../data", train=False, download=True, transform=transforms.ToTensor())
        >>> tv[0][0].shape, len(tv)
        ((1, 28, 28), 10000)
    """

    classes = [str(d) for d in range(10)]
    MEAN, STD = 0.1307, 0.3081

    def __init__(self, split: str | os.PathLike = "train", train: bool | None = None,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 download: bool = False, *, flatten: bool = False,
                 normalize: bool | str | None = None):
        # torchvision's form: a root folder first (or train= given). The root is not read.
        self.raw_images = train is not None or split not in _MNIST_FILES
        self.root = None
        if self.raw_images:
            if not isinstance(split, (str, os.PathLike)):
                raise TypeError(f"MNIST: root must be a folder path (str), got "
                                f"{type(split).__name__}")
            if flatten or normalize is not None:
                raise ValueError("MNIST: flatten= and normalize= belong to chainrule's form "
                                 "MNIST(split, ...); in torchvision's form MNIST(root, train=...) "
                                 "give a transform (transforms.ToTensor(), Normalize(...))")
            self.root = os.fspath(split)
            split, normalize = ("train" if train is None or train else "test"), False
        self.split = _check_split(split, "MNIST")
        self.train = self.split == "train"
        normalize = True if normalize is None else normalize
        if normalize not in (True, False, "standard"):
            raise ValueError(f"MNIST: normalize must be True, False or 'standard', got {normalize!r}")
        self.flatten, self.normalize = bool(flatten), normalize
        self.transform, self.target_transform = transform, target_transform
        self.data, self.targets = _mnist_arrays(self.split)

    def __len__(self) -> int:
        return len(self.targets)

    def _images(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (B, 28, 28) -> the configured dtype, scale and shape."""
        if self.normalize == "standard":
            out = (pixels.astype(np.float32) / np.float32(255) - np.float32(self.MEAN)) / np.float32(self.STD)
        elif self.normalize:
            out = pixels.astype(np.float32) / np.float32(255)
        else:
            out = pixels.copy()
        return out.reshape(len(pixels), -1) if self.flatten else out[:, None, :, :]

    def __getitem__(self, index: int):
        if self.raw_images:          # torchvision: the transform gets the raw (28, 28) image
            image = self.data[index]
            image = Tensor(image.copy()) if self.transform is None else self.transform(image)
        else:
            image = Tensor(self._images(self.data[index][None])[0])
            if self.transform is not None:
                image = self.transform(image)
        label = int(self.targets[index])
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def fetch_batch(self, indices: np.ndarray):
        if self.target_transform is not None or not _batchable(self.transform):
            return super().fetch_batch(indices)
        images = self.data[indices] if self.raw_images else self._images(self.data[indices])
        if self.transform is not None:
            images = self.transform.batch(images)
        return [images if isinstance(images, Tensor) else Tensor(images),
                Tensor(self.targets[indices])]

    def __repr__(self) -> str:
        if self.raw_images:
            return f"MNIST(root={self.root!r}, train={self.train}, samples={len(self)})"
        return (f"MNIST(split={self.split!r}, samples={len(self)}, flatten={self.flatten}, "
                f"normalize={self.normalize!r})")


def _batchable(transform) -> bool:
    """No transform, or one that also transforms a whole batch at once (``batch``)."""
    return transform is None or (callable(getattr(transform, "batch", None))
                                 and getattr(transform, "batchable", True))


class Sonar(TensorDataset):
    """UCI Sonar as a TensorDataset of ``(features float32 (60,), label int64)``;
    ``classes`` = ["M", "R"]."""

    def __init__(self):
        X, y, self.classes = load_sonar()
        super().__init__(X, y)


class Ionosphere(TensorDataset):
    """UCI Ionosphere as a TensorDataset of ``(features float32 (34,), label int64)``;
    ``classes`` = ["b", "g"]."""

    def __init__(self):
        X, y, self.classes = load_ionosphere()
        super().__init__(X, y)


class Diabetes(TensorDataset):
    """The diabetes progression set as a TensorDataset of ``(features float32 (10,),
    target float32)``; ``feature_names`` = ["AGE", "SEX", "BMI", ...]."""

    def __init__(self):
        X, y, self.feature_names = load_diabetes()
        super().__init__(X, y)


class CharDataset(Dataset):
    """Character-level language-model windows over a text.

    Sample ``i`` is ``(x, y)``: int64 Tensors of ``block_size`` character ids, ``y`` being
    ``x`` shifted one character ahead. ``chars`` is the sorted vocabulary; ``encode`` and
    ``decode`` convert between strings and ids.

    Example:
        >>> ds = CharDataset("hello world", block_size=4)
        >>> x, y = ds[0]
        >>> ds.decode(x), ds.decode(y), ds.vocab_size
        ('hell', 'ello', 8)
    """

    def __init__(self, text: str, block_size: int):
        block_size = check_positive_int(block_size, "block_size", "CharDataset")
        if len(text) <= block_size:
            raise ValueError(f"CharDataset: the text has {len(text)} characters; it needs more "
                             f"than block_size={block_size}")
        self.block_size = int(block_size)
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.ids = self.encode(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = set(text) - self.stoi.keys()
        if unknown:
            raise KeyError(f"CharDataset.encode: characters not in the vocabulary: {sorted(unknown)}")
        return np.array([self.stoi[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        values = ids._array if isinstance(ids, Tensor) else np.asarray(ids)
        return "".join(self.chars[int(i)] for i in values.ravel())

    def __len__(self) -> int:
        return len(self.ids) - self.block_size

    def __getitem__(self, index: int):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"CharDataset: index out of range for {n} windows")
        window = self.ids[index:index + self.block_size + 1]
        return Tensor(window[:-1].copy()), Tensor(window[1:].copy())

    def fetch_batch(self, indices: np.ndarray):
        n = len(self)
        indices = np.where(indices < 0, indices + n, indices)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"CharDataset: index out of range for {n} windows")
        offsets = indices[:, None] + np.arange(self.block_size)
        return [Tensor(self.ids[offsets]), Tensor(self.ids[offsets + 1])]


class TinyShakespeare(CharDataset):
    """:class:`CharDataset` over the shipped Tiny Shakespeare corpus (65 characters)."""

    def __init__(self, block_size: int = 64):
        super().__init__(load_shakespeare(), block_size)
