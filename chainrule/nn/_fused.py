"""Fused primitives behind the normalisation and embedding layers.

Each is one Function with a closed-form backward (faster than the composed graph, which
for a normalisation would be about ten nodes). Both backwards use only operators and
``_poly`` helpers and recompute their intermediates from the graph inputs under
``create_graph=True``, so second derivatives are right as well.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.autograd import Function
from chainrule.ops import _poly
from chainrule.tensor import Tensor


def broadcast_axes(param_shape: tuple, ndim: int) -> tuple[int, ...]:
    """The axes of an ``ndim``-d input over which a parameter of ``param_shape`` (right-
    aligned) is broadcast: the axes its gradient must be summed over."""
    lead = ndim - len(param_shape)
    return tuple(i for i in range(ndim) if i < lead or param_shape[i - lead] == 1)


# ------------------------------------------------------------------ fast reductions
# Normalisation needs per-channel (BatchNorm) or per-row (LayerNorm) sums over large arrays.
# NumPy's multi-axis sum makes several passes and ``np.var`` about five; a matrix-vector
# product against a vector of ones is one SIMD pass, and a batched dot product gives the sum
# of a product without building it. Both apply whenever the kept dims form one block.
def _blocks(shape: tuple, axes: tuple) -> tuple[int, int, int] | None:
    """(A, K, B) when the dims not in ``axes`` are one contiguous block: the array reads as
    (A, K, B) and the reduction is over A and B. None otherwise."""
    kept = [i for i in range(len(shape)) if i not in axes]
    if not kept or kept != list(range(kept[0], kept[-1] + 1)):
        return None
    return (math.prod(shape[:kept[0]]), math.prod(shape[kept[0]:kept[-1] + 1]),
            math.prod(shape[kept[-1] + 1:]))


def reduce_sum(a: np.ndarray, axes: tuple) -> np.ndarray:
    """``a.sum(axes, keepdims=True)``, in one pass where the layout allows."""
    blocks = _blocks(a.shape, axes)
    keep = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    if blocks is None or a.dtype.kind != "f":
        return a.sum(axis=axes, keepdims=True)
    n_a, n_k, n_b = blocks
    if n_b >= 16:                                   # rows of B values: one GEMV, then over A
        out = a.reshape(n_a * n_k, n_b) @ np.ones(n_b, dtype=a.dtype)
        out = out.reshape(n_a, n_k).sum(axis=0) if n_a > 1 else out
    else:                                           # short rows: sum over A by one GEMV first
        out = np.ones(n_a, dtype=a.dtype) @ a.reshape(n_a, n_k * n_b)
        out = out.reshape(n_k, n_b).sum(axis=1) if n_b > 1 else out
    return out.reshape(keep)


def reduce_dot(a: np.ndarray, b: np.ndarray, axes: tuple) -> np.ndarray:
    """``(a * b).sum(axes, keepdims=True)`` without building ``a * b`` where it can."""
    blocks = _blocks(a.shape, axes)
    keep = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    if blocks is None or a.shape != b.shape or a.dtype.kind != "f" or a.dtype != b.dtype:
        return (a * b).sum(axis=axes, keepdims=True)
    n_a, n_k, n_b = blocks
    if n_b >= 32:                                   # long rows: one BLAS dot per row
        rows = np.matmul(a.reshape(n_a * n_k, 1, n_b), b.reshape(n_a * n_k, n_b, 1))
        out = rows.reshape(n_a, n_k).sum(axis=0)
    else:
        out = np.einsum("akb,akb->k", a.reshape(n_a, n_k, n_b), b.reshape(n_a, n_k, n_b))
    return out.reshape(keep)


def normalization_statistics(x: np.ndarray, axes: tuple):
    """(mean, biased variance, x - mean) over ``axes`` (keepdims), in three passes: the
    variance is the mean square of the centred values (two-pass, so no cancellation), and the
    centred copy is handed on to :class:`AffineNormalize`, which reuses it as its output."""
    count = math.prod(x.shape[a] for a in axes)
    mean = reduce_sum(x, axes) / count
    centered = x - mean
    var = reduce_dot(centered, centered, axes) / count
    return mean, var, centered


class AffineNormalize(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over ``axes``.

    ``mean`` and ``var`` (biased, keepdim) come from the caller, which also needs them to
    update running statistics. With ``batch_stats=True`` they are the statistics of x
    itself (BatchNorm in training, LayerNorm), so they depend on x; otherwise they are
    constants (BatchNorm in eval mode). ``centered`` (x - mean, from
    :func:`normalization_statistics`) is reused as the output buffer when given.

    Backward, with xhat = (x - mean) r, r = 1/sqrt(var + eps), n values per statistic and
    dxhat = g * weight:
        dx      = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (batch statistics)
        dx      = r dxhat                                           (constant statistics)
        dweight = sum(g xhat),  dbias = sum(g)   over the axes the parameters broadcast along

    Only x, the statistics and the parameters are kept for backward (not xhat: it is rebuilt
    as x - mean, one pass, which saves an activation-sized array per layer).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, *, axes, param_shape, eps, mean, var, batch_stats,
                centered=None):
        r = 1.0 / np.sqrt(var + eps)
        w = None if weight is None else weight.reshape(param_shape)
        param_axes = broadcast_axes(param_shape, x.ndim)
        if centered is None and not batch_stats and param_axes == tuple(axes):
            scale = r if w is None else r * w           # constant per channel: x*scale + shift
            out = x * scale
            out += (-mean * scale) if bias is None else (bias.reshape(param_shape) - mean * scale)
        else:
            out = centered if centered is not None else x - mean
            if w is not None and param_axes == tuple(axes):
                out *= r * w                             # one pass: scale per statistic
            else:
                out *= r
                if w is not None:
                    out *= w
            if bias is not None:
                out += bias.reshape(param_shape)
        ctx.axes, ctx.param_shape, ctx.eps = axes, param_shape, eps
        ctx.batch_stats, ctx.mean = batch_stats, mean
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.count = math.prod([x.shape[a] for a in axes])
        ctx.param_axes = param_axes
        ctx.save_for_backward(x, weight, r)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, weight, r = ctx.saved_tensors
        if isinstance(g, Tensor):
            return AffineNormalize._graph_backward(ctx, g, x, weight, r)
        need_x, need_w, need_b = ctx.needs_input_grad
        axes, param_axes, inv_n = ctx.axes, ctx.param_axes, 1.0 / ctx.count
        same = param_axes == tuple(axes)     # BatchNorm: parameters per statistic
        w = None if weight is None else weight.reshape(ctx.param_shape)
        centered = x - ctx.mean if (need_w or (need_x and ctx.batch_stats)) else None
        gw = gb = gx = None
        sum_g = reduce_sum(g, axes) if same and (need_b or (need_x and ctx.batch_stats)) else None
        sum_gc = reduce_dot(g, centered, axes) if same and centered is not None else None
        if need_b:
            gb = (sum_g if same else reduce_sum(g, param_axes)).reshape(ctx.bias_shape)
        if need_w:
            gw = (sum_gc * r if same else reduce_sum(g * centered * r, param_axes))
            gw = gw.reshape(weight.shape)
        if need_x:
            if not ctx.batch_stats:
                gx = g * (r if w is None else r * w)
            elif same:
                # dx = k g - k mean(g) - (x - mean) k r^2 mean(g (x - mean)),  k = r w
                k = r if w is None else r * w
                gx = g * k
                gx -= k * (sum_g * inv_n)
                centered *= k * r * r * (sum_gc * inv_n)
                gx -= centered
            else:
                dxhat = g if w is None else g * w
                mean_d = reduce_sum(dxhat, axes) * inv_n
                mean_dc = reduce_dot(np.ascontiguousarray(dxhat), centered, axes) * inv_n
                gx = dxhat * r if w is None else dxhat          # dxhat is ours when w is set
                if w is not None:
                    gx *= r
                gx -= r * mean_d
                centered *= r * r * r * mean_dc
                gx -= centered
        return gx, gw, gb

    @staticmethod
    def _graph_backward(ctx, g, x, weight, r):
        """The same rule as a recorded graph (create_graph): xhat (and r) are rebuilt from
        the graph input x so that second derivatives are right."""
        need_x, need_w, need_b = ctx.needs_input_grad
        axes, inv_n = ctx.axes, 1.0 / ctx.count
        if ctx.batch_stats:
            centred = x - _poly.sum_keep(x, axes) * inv_n
            r = (_poly.sum_keep(centred * centred, axes) * inv_n + ctx.eps) ** -0.5
            xhat = centred * r
        else:
            xhat = (x - ctx.mean) * r
        gw = gb = gx = None
        if need_w:
            gw = _poly.sum_keep(g * xhat, ctx.param_axes).reshape(weight.shape)
        if need_b:
            gb = _poly.sum_keep(g, ctx.param_axes).reshape(ctx.bias_shape)
        if need_x:
            dxhat = g if weight is None else g * weight.reshape(ctx.param_shape)
            if ctx.batch_stats:
                mean_d = _poly.sum_keep(dxhat, axes) * inv_n
                mean_dx = _poly.sum_keep(dxhat * xhat, axes) * inv_n
                gx = (dxhat - mean_d - xhat * mean_dx) * r
            else:
                gx = dxhat * r
        return gx, gw, gb


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
        if isinstance(g, Tensor):
            return _poly.index_scatter(rows, flat, ctx.shape, g.dtype), None
        return _sum_rows_by_index(flat, rows, ctx.shape, g.dtype), None


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
