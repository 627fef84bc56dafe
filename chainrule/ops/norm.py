"""Normalisation (BatchNorm, LayerNorm, GroupNorm ...) as one fused primitive.

One Function with a closed-form backward, faster than the composed graph (which for a
normalisation is about ten nodes); under ``create_graph`` the engine differentiates its
``reference`` composition instead.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import kernels
from chainrule.autograd import Function
from chainrule.ops.elementwise import sqrt


def broadcast_axes(param_shape: tuple, ndim: int) -> tuple[int, ...]:
    """The axes of an ``ndim``-d input over which a parameter of ``param_shape`` (right-
    aligned) is broadcast: the axes its gradient must be summed over."""
    lead = ndim - len(param_shape)
    return tuple(i for i in range(ndim) if i < lead or param_shape[i - lead] == 1)


def normalization_statistics(x: np.ndarray, axes: tuple):
    """(mean, biased variance, x - mean) over ``axes`` (keepdims), in three passes: the
    variance is the mean square of the centred values (two-pass, so no cancellation), and the
    centred copy is handed on to :class:`AffineNormalize`, which reuses it as its output."""
    count = math.prod(x.shape[a] for a in axes)
    mean = kernels.reduce_sum(x, axes) / count
    centered = x - mean
    var = kernels.reduce_dot(centered, centered, axes) / count
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
        need_x, need_w, need_b = ctx.needs_input_grad
        axes, param_axes, inv_n = ctx.axes, ctx.param_axes, 1.0 / ctx.count
        same = param_axes == tuple(axes)     # BatchNorm: parameters per statistic
        w = None if weight is None else weight.reshape(ctx.param_shape)
        centered = x - ctx.mean if (need_w or (need_x and ctx.batch_stats)) else None
        gw = gb = gx = None
        sum_g = kernels.reduce_sum(g, axes) if same and (need_b or (need_x and ctx.batch_stats)) else None
        sum_gc = kernels.reduce_dot(g, centered, axes) if same and centered is not None else None
        if need_b:
            gb = (sum_g if same else kernels.reduce_sum(g, param_axes)).reshape(ctx.bias_shape)
        if need_w:
            gw = (sum_gc * r if same else kernels.reduce_sum(g * centered * r, param_axes))
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
                mean_d = kernels.reduce_sum(dxhat, axes) * inv_n
                mean_dc = kernels.reduce_dot(np.ascontiguousarray(dxhat), centered, axes) * inv_n
                gx = dxhat * r if w is None else dxhat          # dxhat is ours when w is set
                if w is not None:
                    gx *= r
                gx -= r * mean_d
                centered *= r * r * r * mean_dc
                gx -= centered
        return gx, gw, gb

    @staticmethod
    def reference(x, weight, bias, *, axes, param_shape, eps, mean, var, batch_stats,
                  centered=None):
        if batch_stats:                     # the statistics depend on x: recompute them
            c = x - x.mean(axis=axes, keepdims=True)
            xhat = c / sqrt((c * c).mean(axis=axes, keepdims=True) + eps)
        else:
            xhat = (x - mean) * (1.0 / np.sqrt(var + eps))
        out = xhat if weight is None else xhat * weight.reshape(param_shape)
        return out if bias is None else out + bias.reshape(param_shape)
