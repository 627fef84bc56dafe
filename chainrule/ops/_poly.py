"""Helpers that backward rules share, working on ndarrays *and* Tensors.

A backward rule receives ndarrays normally and Tensors under ``create_graph=True``. Operators
and NumPy ufuncs already work on both; these cover the few array methods whose names differ
between NumPy and PyTorch (``axis``/``dim``, ``transpose``/``permute``).
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import backend
from chainrule.tensor import Tensor


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
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(int(d) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"dim {dim} names the same dimension twice")
    return tuple(sorted(out))


def keepdim_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape of a keepdim=True reduction over ``axes``."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def sum_keep(x, axes: tuple):
    """Sum over ``axes`` keeping them as size 1."""
    if isinstance(x, Tensor):
        from chainrule.ops.reduce import sum as tsum
        return tsum(x, axes, True)
    return x.sum(axis=axes, keepdims=True)


def sum_to(g, shape: tuple):
    """Sum ``g`` down to ``shape``: the gradient of broadcasting ``shape`` up to ``g.shape``."""
    if isinstance(g, Tensor):
        from chainrule.ops.shape import SumTo
        return SumTo.apply(g, shape=tuple(shape))
    return sum_array_to(g, tuple(shape))


def sum_array_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    return backend.sum_to(g, shape)


def broadcast_to(g, shape: tuple):
    """Broadcast ``g`` up to ``shape``: the gradient of summing ``shape`` down to ``g.shape``."""
    if isinstance(g, Tensor):
        from chainrule.ops.shape import expand
        return expand(g, tuple(shape))
    if math.prod(shape) <= 65536:
        # Small: a filled array is ~6x cheaper than np.broadcast_to's Python-level set-up.
        out = np.empty(shape, dtype=g.dtype)
        out[...] = g
        return out
    return np.broadcast_to(g, shape)


def permute(g, axes: tuple):
    if isinstance(g, Tensor):
        from chainrule.ops.shape import permute as tpermute
        return tpermute(g, axes)
    return g.transpose(axes)


def flip(g, axes: tuple):
    if isinstance(g, Tensor):
        from chainrule.ops.shape import flip as tflip
        return tflip(g, axes)
    return np.flip(g, axes)


def index_scatter(g, key, shape: tuple, dtype):
    """A zero array of ``shape`` with ``g`` added at ``key`` (repeated indices accumulate):
    the gradient of indexing."""
    if isinstance(g, Tensor):
        from chainrule.ops.shape import IndexScatter
        return IndexScatter.apply(g, key=key, shape=shape)
    return scatter_array(g, key, shape, dtype)


def is_basic_key(key) -> bool:
    """True for keys made only of ints, slices, None and Ellipsis (no repeats possible)."""
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) for k in items)


def scatter_array(g: np.ndarray, key, shape: tuple, dtype) -> np.ndarray:
    out = np.zeros(shape, dtype=dtype)
    if is_basic_key(key):
        out[key] = g
    elif isinstance(key, np.ndarray) and key.dtype == np.bool_:
        out[key] = g
    else:
        np.add.at(out, key, g)
    return out
