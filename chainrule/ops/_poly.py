"""Small helpers the op rules share. They import nothing from the rest of ``ops``.

Backward rules receive ndarrays in a plain backward and Tensors under ``create_graph=True``.
The helpers below are written once for both: they use only what the two have in common
(operators, ``.sum(axis=..., keepdims=...)``, ``.reshape``) and NumPy functions, which NumPy
hands back to chainrule when given a Tensor (``Tensor.__array_function__``).
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.backend import ArgumentError


def normalize_dims(dim, ndim: int) -> tuple[int, ...]:
    """``dim`` (None, int or tuple, negatives allowed) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    if ndim == 0:
        dims0 = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if any(d not in (0, -1) for d in dims0):
            raise IndexError(f"dim {dim} is out of range for a 0-d tensor (use 0 or -1)")
        return ()
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -ndim <= d < ndim:
            raise IndexError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(int(d) % ndim)
    if len(set(out)) != len(out):
        raise ArgumentError(f"dim {dim} names the same dimension twice")
    return tuple(sorted(out))


def one_dim(dim: int, ndim: int, name: str) -> int:
    """One dim index in [-ndim, ndim) as a non-negative int (a 0-d tensor takes 0 or -1)."""
    size = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or not -size <= dim < size:
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % size


def keepdim_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape of a keepdim=True reduction over ``axes``."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def sum_keep(x, axes: tuple):
    """Sum over ``axes`` keeping them as size 1."""
    return x.sum(axis=axes, keepdims=True)


def broadcast_to(g, shape: tuple):
    """Broadcast ``g`` up to ``shape``: the gradient of summing ``shape`` down to ``g.shape``."""
    if math.prod(shape) <= 65536:
        # Small: a product with ones is ~5x cheaper than np.broadcast_to's Python-level
        # set-up, and gives an array of our own (writable, contiguous).
        return g * np.ones(shape, dtype=g.dtype)
    return np.broadcast_to(g, shape)


def is_basic_key(key) -> bool:
    """True for keys made only of ints, slices, None and Ellipsis (no repeats possible)."""
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) for k in items)


def scatter_array(g: np.ndarray, key, shape: tuple, dtype) -> np.ndarray:
    """A zero array of ``shape`` with ``g`` added at ``key`` (repeated indices accumulate):
    the gradient of indexing."""
    out = np.zeros(shape, dtype=dtype)
    if is_basic_key(key):
        out[key] = g
    elif isinstance(key, np.ndarray) and key.dtype == np.bool_:
        out[key] = g
    else:
        np.add.at(out, key, g)
    return out
