"""Embedding lookup as one fused primitive: rows of a weight picked by integer indices."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.shape import index


class EmbeddingLookup(Function):
    """``weight[indices]``: rows picked by integer indices of any shape.

    Backward scatters the gradient rows back, adding where an index repeats
    (dweight[k] = sum of g over the positions holding k); the ``padding_idx`` row gets none.
    """

    @staticmethod
    def forward(ctx, weight, indices, *, padding_idx=None):
        ctx.indices, ctx.shape, ctx.padding_idx = indices, weight.shape, padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        flat = ctx.indices.reshape(-1)
        rows = g.reshape((flat.size,) + tuple(ctx.shape[1:]))
        if ctx.padding_idx is not None:
            keep = (flat != ctx.padding_idx).reshape((-1,) + (1,) * (len(ctx.shape) - 1))
            rows = rows * keep
        return _sum_rows_by_index(flat, rows, ctx.shape, g.dtype), None

    @staticmethod
    def reference(weight, indices, *, padding_idx=None):
        rows = index(weight, indices)
        if padding_idx is None:
            return rows
        keep = (indices != padding_idx)[..., None]     # the padding row gets no gradient
        return rows * keep + index(weight.detach(), indices) * ~keep


def _sum_rows_by_index(flat: np.ndarray, rows: np.ndarray, shape: tuple, dtype) -> np.ndarray:
    """out[k] = sum of rows[i] over the i with flat[i] == k. Sorting the indices once and
    summing each run with ``np.add.reduceat`` is 1.3-3x faster than ``np.add.at`` (which
    handles one row at a time), and sums each row's repeats in a fixed order."""
    out = np.zeros(shape, dtype=dtype)
    if flat.size == 0:
        return out
    order = np.argsort(flat, kind="stable")
    keys = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    out[keys[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out
