"""Reductions over dimensions (``dim`` int, tuple or negative; ``keepdim``).

Every backward first restores the reduced axes (size 1), then broadcasts back up: the
gradient of a sum is the incoming gradient copied to every summed element.
"""
from __future__ import annotations

from collections import namedtuple

import math

import numpy as np

from chainrule.autograd import Function
from chainrule.ops import _poly
from chainrule.ops.elementwise import maximum, minimum, sqrt
from chainrule.ops.shape import gather, squeeze
from chainrule.tensor import Tensor


def _restore(g, in_shape, axes, keepdim):
    """Put the reduced axes back as size-1 dims so ``g`` broadcasts against the input."""
    return g if keepdim else g.reshape(_poly.keepdim_shape(in_shape, axes))


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):  # d(sum a)/da_i = 1
        return _poly.broadcast_to(_restore(g, ctx.shape, ctx.axes, ctx.keepdim), ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = math.prod([a.shape[i] for i in axes]) if a.ndim else 1
        return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):  # d(mean a)/da_i = 1/N
        scale = 1.0 / ctx.count if ctx.count else float("nan")   # empty: nan, as its mean
        g = _restore(g, ctx.shape, ctx.axes, ctx.keepdim) * scale
        return _poly.broadcast_to(g, ctx.shape)


class Prod(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.axes, ctx.keepdim = axes, keepdim
        ctx.save_for_backward(a)
        return a.prod(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):  # d(prod a)/da_i = product of all the other a_j (zeros handled)
        a, = ctx.saved_tensors
        if isinstance(a, Tensor):  # create_graph: the same quantity, built from recorded ops
            return _restore(g, a.shape, ctx.axes, ctx.keepdim) * _others_product(a, ctx.axes)
        axes = ctx.axes
        rest = tuple(i for i in range(a.ndim) if i not in axes)
        moved = a.transpose(rest + axes)
        flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
        ones = np.ones(flat.shape[:-1] + (1,), dtype=a.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = (left * right).reshape(moved.shape).transpose(np.argsort(rest + axes))
        return _restore(g, a.shape, axes, ctx.keepdim) * others


def _others_product(a: Tensor, axes: tuple) -> Tensor:
    """prod_{j != i} a_j for every i along ``axes``, recorded (so differentiable again).

    Row i of an (n, n) stack holds the reduced values with a_i replaced by 1; the product of
    that row is the product of all the others. O(n^2) memory, used only under create_graph.
    """
    from chainrule.ops.elementwise import where
    from chainrule.ops.shape import permute, reshape, unsqueeze
    rest = tuple(i for i in range(a.ndim) if i not in axes)
    order = rest + axes
    moved = permute(a, order)
    n = math.prod([a.shape[i] for i in axes]) if axes else 1
    flat = reshape(moved, moved.shape[:len(rest)] + (n,))
    rows = where(np.eye(n, dtype=bool), 1.0, unsqueeze(flat, -2))
    others = reshape(prod(rows, -1), moved.shape)
    return permute(others, tuple(int(i) for i in np.argsort(order)))


class Amax(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim, largest=True):
        out = a.max(axis=axes, keepdims=True) if largest else a.min(axis=axes, keepdims=True)
        mask = (a == out)
        ctx.save_for_backward(mask / mask.sum(axis=axes, keepdims=True))
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):  # the maximum gets the gradient; ties share it equally
        share, = ctx.saved_tensors
        return _restore(g, ctx.shape, ctx.axes, ctx.keepdim) * share


class Norm(Function):
    # forward keeps the reduced dims (the public norm() drops them), so the saved ``out`` is
    # this node's own output array and, under create_graph, backward differentiates through it.
    @staticmethod
    def forward(ctx, a, p, axes):
        absa = np.abs(a)
        if p == np.inf:
            out = absa.max(axis=axes, keepdims=True)
        elif p == 1:
            out = absa.sum(axis=axes, keepdims=True)
        elif p == 2:
            out = np.sqrt((a * a).sum(axis=axes, keepdims=True))
        else:
            out = (absa ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        ctx.p, ctx.axes = p, axes
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):  # d||a||_p/da_i = sign(a_i) (|a_i| / ||a||)^(p-1); 0 where ||a|| = 0
        a, out = ctx.saved_tensors   # operators and ufuncs only: works under create_graph
        p = ctx.p
        nonzero = out != 0
        safe = out + (out == 0)      # 1 where the norm is 0, so nothing divides by 0
        if p == np.inf:
            mask = np.abs(a) == out  # ties share the gradient
            grad = np.sign(a) * mask / _poly.sum_keep(mask, ctx.axes)
        elif p == 1:
            grad = np.sign(a)
        elif p == 2:
            grad = a / safe
        else:
            grad = np.sign(a) * (np.abs(a) / safe) ** (p - 1)
        return g * grad * nonzero, None, None


class LogSumExp(Function):
    # Keeps the reduced dims, like Norm, so the saved ``out`` is the node's own output and
    # the second derivative (through softmax = exp(a - out)) is right under create_graph.
    @staticmethod
    def forward(ctx, a, axes):
        m = a.max(axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):  # all -inf: log(0) = -inf is the right answer
            out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):  # d lse(a)/da_i = exp(a_i - lse(a)) = softmax(a)_i
        a, out = ctx.saved_tensors
        return g * np.exp(a - out), None


# ---------------------------------------------------------------- public forms
def _axes(a, dim):
    return _poly.normalize_dims(dim, a.ndim)


def sum(a, dim=None, keepdim: bool = False):
    """Sum over ``dim`` (all dims when None)."""
    return Sum.apply(a, _axes(a, dim), keepdim)


def mean(a, dim=None, keepdim: bool = False):
    """Mean over ``dim`` (all dims when None)."""
    if a.dtype.kind not in "fc":
        raise TypeError(f"mean: needs a floating tensor, got dtype {a.dtype}")
    return Mean.apply(a, _axes(a, dim), keepdim)


def prod(a, dim=None, keepdim: bool = False):
    """Product over ``dim``; the gradient of each entry is the product of the others (zeros handled). Example: ``x.prod(dim=1)``"""
    return Prod.apply(a, _axes(a, dim), keepdim)


def amax(a, dim=None, keepdim: bool = False):
    """Largest value over ``dim``; ties share the gradient equally."""
    return Amax.apply(a, _axes(a, dim), keepdim, True)


def amin(a, dim=None, keepdim: bool = False):
    """Smallest value over ``dim``; ties share the gradient equally. Example: ``x.amin(dim=0)``"""
    return Amax.apply(a, _axes(a, dim), keepdim, False)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme_along(a, dim, keepdim, index_fn):
    """(values, indices) along ``dim``; the values are gathered at the returned indices, so
    the gradient goes to exactly that element even among ties, as in PyTorch."""
    idx = index_fn(a, dim, keepdim=True)
    values = gather(a, dim, idx)
    if not keepdim:
        values, idx = squeeze(values, dim), squeeze(idx, dim)
    return MaxResult(values, idx)


def max(a, dim=None, keepdim: bool = False):
    """``a.max()`` is the largest value (ties share the gradient); ``a.max(dim)`` is
    (values, indices), as in PyTorch. Example: ``best, where = scores.max(dim=1)``"""
    if isinstance(dim, Tensor):          # torch.max(a, b): the elementwise maximum
        return maximum(a, dim)
    if dim is None:
        return amax(a)
    return _extreme_along(a, dim, keepdim, argmax)


def min(a, dim=None, keepdim: bool = False):
    """``a.min()`` is the smallest value; ``a.min(dim)`` is (values, indices)."""
    if isinstance(dim, Tensor):          # torch.min(a, b): the elementwise minimum
        return minimum(a, dim)
    if dim is None:
        return amin(a)
    return _extreme_along(a, dim, keepdim, argmin)


def var(a, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
    """Variance with Bessel's correction by default (``correction=1``), as PyTorch."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axes = _axes(a, dim)
    n = math.prod([a.shape[i] for i in axes]) if a.ndim else 1
    centred = a - mean(a, axes, keepdim=True)
    scale = 1.0 / (n - correction) if n > correction else float("nan")  # as PyTorch: nan
    return sum(centred * centred, axes, keepdim) * scale


def std(a, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
    """Standard deviation, sqrt of ``var`` (Bessel-corrected by default). Example: ``x.std(dim=0)``"""
    return sqrt(var(a, dim, keepdim, correction, unbiased))


def norm(a, p=2, dim=None, keepdim: bool = False):
    """The p-norm over ``dim`` (p = 1, 2, inf or any positive number; 'fro' is 2)."""
    if p == "fro":
        p = 2
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"norm: p must be a positive number, inf or 'fro', got {p!r}")
    axes = _axes(a, dim)
    return _drop_dims(Norm.apply(a, float(p), axes), axes, keepdim)


def logsumexp(a, dim, keepdim: bool = False):
    """log(sum(exp(a))) over ``dim``, computed without overflow."""
    axes = _axes(a, dim)
    return _drop_dims(LogSumExp.apply(a, axes), axes, keepdim)


def _drop_dims(out, axes: tuple, keepdim: bool):
    """Remove the size-1 reduced dims of a keepdim result unless ``keepdim``."""
    if keepdim:
        return out
    from chainrule.ops.shape import reshape
    return reshape(out, tuple(s for i, s in enumerate(out.shape) if i not in axes))


def _index_reduce(fn, a, dim, keepdim):
    data = a.data if isinstance(a, Tensor) else np.asarray(a)
    if dim is None:
        out = fn(data.reshape(-1), axis=0)
        return Tensor(np.asarray(out).reshape((1,) * data.ndim) if keepdim else np.asarray(out))
    return Tensor(np.asarray(fn(data, axis=dim, keepdims=keepdim), dtype=np.int64))


def argmax(a, dim=None, keepdim: bool = False):
    """Index of the largest value (over the flattened tensor when ``dim`` is None)."""
    return _index_reduce(np.argmax, a, dim, keepdim)


def argmin(a, dim=None, keepdim: bool = False):
    """Index of the smallest value (over the flattened tensor when ``dim`` is None)."""
    return _index_reduce(np.argmin, a, dim, keepdim)


def any(a, dim=None, keepdim: bool = False):
    """True where some entry along ``dim`` is non-zero (no gradient). Example: ``mask.any(dim=1)``"""
    return Tensor(np.asarray(np.any(a.data, axis=dim, keepdims=keepdim)))


def all(a, dim=None, keepdim: bool = False):
    """True where every entry along ``dim`` is non-zero (no gradient). Example: ``(x > 0).all()``"""
    return Tensor(np.asarray(np.all(a.data, axis=dim, keepdims=keepdim)))
