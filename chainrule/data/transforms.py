"""Image transforms with torchvision's names, for datasets built the torchvision way:
``MNIST("../data", train=True, transform=transforms.Compose([transforms.ToTensor(),
transforms.Normalize((0.1307,), (0.3081,))]))``.

Each transform is a callable on one sample. ``ToTensor``, ``Normalize`` and a ``Compose`` of
them also have ``batch(images)``, the same transform on a stack of samples at once, which
array-backed datasets (MNIST) use to build a whole batch in one NumPy pass instead of one
Python call per image.

    >>> import numpy as np
    >>> to_input = Compose([ToTensor(), Normalize((0.5,), (0.25,))])
    >>> to_input(np.full((28, 28), 255, np.uint8)).shape
    (1, 28, 28)
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from chainrule.tensor import Tensor

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda"]


def _array(image) -> np.ndarray:
    """A sample as an array: a Tensor's data, a NumPy array, or a PIL image's pixels."""
    return image._array if isinstance(image, Tensor) else np.asarray(image)


class Compose:
    """Apply ``transforms`` one after another. Example: ``Compose([ToTensor(), Normalize(m, s)])``"""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image):
        for t in self.transforms:
            image = t(image)
        return image

    @property
    def batchable(self) -> bool:
        """True when every transform also works on a stack of samples (``batch``)."""
        return all(callable(getattr(t, "batch", None)) and getattr(t, "batchable", True)
                   for t in self.transforms)

    def batch(self, images):
        for t in self.transforms:
            images = t.batch(images)
        return images

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class ToTensor:
    """An (H, W) or (H, W, C) image (NumPy array, Tensor or PIL image) -> a float32 Tensor
    (C, H, W); uint8 pixels are scaled from [0, 255] to [0, 1], other dtypes kept as values
    (torchvision's rule).

    Example:
        >>> ToTensor()(np.zeros((28, 28), np.uint8)).shape
        (1, 28, 28)
    """

    def __call__(self, image) -> Tensor:
        return self.batch(_array(image)[None])[0]

    def batch(self, images) -> Tensor:
        """(N, H, W) or (N, H, W, C) -> float32 (N, C, H, W)."""
        a = _array(images)
        if a.ndim not in (3, 4):
            raise ValueError(f"ToTensor: expected an image of shape (H, W) or (H, W, C), got "
                             f"shape {a.shape[1:]}")
        a = a[..., None] if a.ndim == 3 else a
        out = a.transpose(0, 3, 1, 2).astype(np.float32)
        if a.dtype == np.uint8:
            out /= np.float32(255)
        return Tensor(np.ascontiguousarray(out))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(C, H, W) float Tensor -> (x - mean[c]) / std[c] per channel.

    Example:
        >>> Normalize((0.1307,), (0.3081,))(ToTensor()(np.zeros((2, 2), np.uint8))).shape
        (1, 2, 2)
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean, self.std, self.inplace = tuple(mean), tuple(std), inplace
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std evaluated to zero after conversion to float, "
                             f"leading to division by zero (std={self.std})")

    def __call__(self, tensor) -> Tensor:
        return self.batch(_array(tensor)[None])[0]

    def batch(self, tensors) -> Tensor:
        """(N, C, H, W) -> normalised per channel."""
        a = _array(tensors)
        if a.dtype.kind != "f" or a.ndim < 3:
            raise TypeError(f"Normalize: expected a float tensor (C, H, W) (apply ToTensor "
                            f"first), got dtype {a.dtype} and shape {a.shape[1:]}")
        channels = a.shape[1]
        if len(self.mean) not in (1, channels) or len(self.std) not in (1, channels):
            raise ValueError(f"Normalize: {len(self.mean)} means and {len(self.std)} stds for "
                             f"an image of {channels} channels")
        shape = (1, -1) + (1,) * (a.ndim - 2)
        mean = np.asarray(self.mean, dtype=a.dtype).reshape(shape)
        std = np.asarray(self.std, dtype=a.dtype).reshape(shape)
        return Tensor((a - mean) / std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Lambda:
    """A function of your own as a transform. Example: ``Lambda(lambda x: x.flatten())``"""

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, image):
        return self.lambd(image)

    def __repr__(self) -> str:
        return "Lambda()"
