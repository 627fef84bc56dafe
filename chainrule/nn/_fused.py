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


class AffineNormalize(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over ``axes``.

    ``mean`` and ``var`` (biased, keepdim) come from the caller, which also needs them to
    update running statistics. With ``batch_stats=True`` they are the statistics of x
    itself (BatchNorm in training, LayerNorm), so they depend on x; otherwise they are
    constants (BatchNorm in eval mode).

    Backward, with xhat = (x - mean) r, r = 1/sqrt(var + eps), n values per statistic and
    dxhat = g * weight:
        dx      = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (batch statistics)
        dx      = r dxhat                                           (constant statistics)
        dweight = sum(g xhat),  dbias = sum(g)   over the axes the parameters broadcast along
    """

    @staticmethod
    def forward(ctx, x, weight, bias, *, axes, param_shape, eps, mean, var, batch_stats):
        r = 1.0 / np.sqrt(var + eps)
        xhat = (x - mean) * r
        out = xhat if weight is None else xhat * weight.reshape(param_shape)
        if bias is not None:
            out = out + bias.reshape(param_shape)
        ctx.axes, ctx.param_shape, ctx.eps = axes, param_shape, eps
        ctx.batch_stats, ctx.mean = batch_stats, mean
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.count = math.prod([x.shape[a] for a in axes])
        ctx.param_axes = broadcast_axes(param_shape, x.ndim)
        ctx.save_for_backward(x, weight, xhat, r)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, weight, xhat, r = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        axes, inv_n = ctx.axes, 1.0 / ctx.count
        if isinstance(g, Tensor):  # create_graph: rebuild xhat (and r) from the graph input x
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
        out = np.zeros(ctx.shape, dtype=g.dtype)
        np.add.at(out, flat, rows)
        return out, None
