"""Reductions over dimensions (``dim`` int, tuple or negative; ``keepdim``; NumPy's ``axis``
and ``keepdims`` are accepted too, as PyTorch accepts them).

Every backward first restores the reduced axes (size 1), then broadcasts back up: the
gradient of a sum is the incoming gradient copied to every summed element.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from chainrule.backend import ArgumentError, DtypeError
from chainrule.autograd import Function
from chainrule.ops import _poly
from chainrule.ops.elementwise import _floating, maximum, minimum, sqrt
from chainrule.ops.registry import S, op
from chainrule.ops.shape import cat, gather, reshape, squeeze
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


def _moved(a, axes: tuple):
    """``a`` with the reduced ``axes`` moved last and merged into one: (rest..., n)."""
    rest = tuple(i for i in range(a.ndim) if i not in axes)
    moved = np.transpose(a, rest + axes)
    n = math.prod([a.shape[i] for i in axes]) if axes else 1
    return moved.reshape(moved.shape[:len(rest)] + (n,)), rest


class Prod(Function):
    """Product over ``axes``. Fused: its array rule uses running products (zeros allowed);
    the reference multiplies halves pairwise, so second derivatives come from ``mul``."""

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.axes, ctx.keepdim = axes, keepdim
        ctx.save_for_backward(a)
        return a.prod(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):  # d(prod a)/da_i = product of all the other a_j
        a, = ctx.saved_tensors
        if a.size == 0:
            return np.zeros(a.shape, a.dtype), None, None
        flat, rest = _moved(a, ctx.axes)
        ones = np.ones(flat.shape[:-1] + (1,), dtype=a.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        moved_shape = tuple(a.shape[i] for i in rest + ctx.axes)
        others = (left * right).reshape(moved_shape).transpose(np.argsort(rest + ctx.axes))
        return _restore(g, a.shape, ctx.axes, ctx.keepdim) * others, None, None

    @staticmethod
    def reference(a, axes, keepdim):
        flat, rest = _moved(a, axes)
        while flat.shape[-1] > 1:            # pairwise: log2(n) products of halves
            n = flat.shape[-1]
            half = n // 2
            paired = flat[..., :half] * flat[..., half:2 * half]
            flat = paired if n % 2 == 0 else cat([paired, flat[..., 2 * half:]], -1)
        if flat.shape[-1] == 0:             # an empty product is 1
            flat = flat.sum(axis=-1, keepdims=True) + 1
        out = flat.reshape(tuple(a.shape[i] for i in rest))
        return out.reshape(_poly.keepdim_shape(a.shape, axes)) if keepdim else out


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
        return _restore(g, ctx.shape, ctx.axes, ctx.keepdim) * share, None, None, None


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
        a, out = ctx.saved_tensors
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
        m = a.max(axis=axes, keepdims=True) if a.size else np.zeros((1,) * a.ndim, a.dtype)
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
def _axes(a, dim, axis=None):
    return _poly.normalize_dims(axis if dim is None else dim, a.ndim)


def _keep(keepdim, keepdims) -> bool:
    return bool(keepdim if keepdims is None else keepdims)


def _reduction_samples(s):
    return [S(s.real(2, 3, 4)), S(s.real(2, 3, 4), 1), S(s.real(2, 3, 4), (0, 2), keepdim=True),
            S(s.real(2, 3, 4), -1)]


@op(numpy={"sum": "self"}, samples=_reduction_samples)
def sum(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, dtype=None):
    """Sum over ``dim`` (all dims when None). Example: ``x.sum(dim=1)``"""
    if dtype is not None:
        a = a.astype(dtype)
    elif a.dtype.kind in "bu" or (a.dtype.kind == "i" and a.dtype != np.int64):
        a = a.astype(np.int64)          # as PyTorch: integer and bool sums are int64
    return Sum.apply(a, _axes(a, dim, axis), _keep(keepdim, keepdims))


@op(numpy={"mean": "self"}, samples=_reduction_samples)
def mean(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, dtype=None):
    """Mean over ``dim`` (all dims when None). Example: ``x.mean(0)``"""
    if dtype is not None:
        a = a.astype(dtype)
    if a.dtype.kind not in "fc":
        raise DtypeError(f"mean: needs a floating tensor (or dtype=), got dtype {a.dtype}")
    return Mean.apply(a, _axes(a, dim, axis), _keep(keepdim, keepdims))


@op(numpy={"prod": "self"},
    samples=lambda s: [S(s.real(2, 3)), S(s.real(2, 3, 4), 1), S(s.real(2, 3, 5), -1, keepdim=True),
                       S(np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]), 1)])
def prod(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, dtype=None):
    """Product over ``dim``; the gradient of each entry is the product of the others (zeros
    handled). Integers and bools multiply in int64 (as PyTorch) unless ``dtype`` is given.
    Example: ``x.prod(dim=1)``"""
    if dtype is not None:
        a = a.astype(dtype)
    elif a.dtype.kind in "bu" or (a.dtype.kind == "i" and a.dtype != np.int64):
        a = a.astype(np.int64)
    return Prod.apply(a, _axes(a, dim, axis), _keep(keepdim, keepdims))


@op(numpy={"amax": "self"}, samples=lambda s: [S(s.distinct(2, 3, 4), (0, 2)), S(s.distinct(3, 4))])
def amax(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """Largest value over ``dim``; ties share the gradient equally. Example: ``x.amax(1)``"""
    return Amax.apply(a, _axes(a, dim, axis), _keep(keepdim, keepdims), True)


@op(numpy={"amin": "self"},
    samples=lambda s: [S(s.distinct(2, 3, 4), 1, keepdim=True), S(s.distinct(3, 4))])
def amin(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """Smallest value over ``dim``; ties share the gradient equally. Example: ``x.amin(dim=0)``"""
    return Amax.apply(a, _axes(a, dim, axis), _keep(keepdim, keepdims), False)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme_along(a, dim, keepdim, index_fn):
    """(values, indices) along ``dim``; the values are gathered at the returned indices, so
    the gradient goes to exactly that element even among ties, as in PyTorch."""
    idx = index_fn(a, dim, keepdim=True)
    values = gather(a, dim, idx)
    if not keepdim:
        values, idx = squeeze(values, dim), squeeze(idx, dim)
    return MaxResult(values, idx)


@op(samples=lambda s: [S(s.distinct(3, 4)), S(s.distinct(2, 3, 4), 1), S(s.distinct(2, 3), -1, True)])
def max(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``a.max()`` is the largest value (ties share the gradient); ``a.max(dim)`` is
    (values, indices), as in PyTorch; ``cr.max(a, b)`` is the elementwise maximum.
    Example: ``best, where = scores.max(dim=1)``"""
    if isinstance(dim, Tensor):
        return maximum(a, dim)
    dim = axis if dim is None else dim
    if dim is None:
        return amax(a)
    return _extreme_along(a, dim, _keep(keepdim, keepdims), argmax)


@op(samples=lambda s: [S(s.distinct(3, 4)), S(s.distinct(2, 3, 4), -1, True)])
def min(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``a.min()`` is the smallest value; ``a.min(dim)`` is (values, indices);
    ``cr.min(a, b)`` is the elementwise minimum. Example: ``x.min(dim=0).values``"""
    if isinstance(dim, Tensor):
        return minimum(a, dim)
    dim = axis if dim is None else dim
    if dim is None:
        return amin(a)
    return _extreme_along(a, dim, _keep(keepdim, keepdims), argmin)


def _correction(correction, unbiased) -> float:
    if unbiased is not None:
        return 1 if unbiased else 0
    return 1 if correction is None else correction


@op(samples=lambda s: [S(s.real(2, 3, 4), 1), S(s.real(2, 3, 4)), S(s.real(2, 3, 4), (0, 2), correction=0),
                       S(s.real(2, 3, 4), -1, keepdim=True), S(s.real(2, 3, 4), False),
                       S(s.real(2, 3, 4), 1, False, True)])
def var(a, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims=None):
    """Variance with Bessel's correction by default (``correction=1``), as PyTorch; a
    correction as large as the count gives inf (nan for an empty reduction), as there.
    PyTorch's positional forms work: ``x.var(dim, unbiased, keepdim)`` and ``x.var(False)``
    (biased, over everything). Example: ``x.var(dim=0)``"""
    if isinstance(dim, bool):                  # torch.var(x, unbiased)
        dim, unbiased = None, dim
    c = _correction(correction, unbiased)
    axes = _axes(a, dim, axis)
    n = math.prod([a.shape[i] for i in axes]) if a.ndim else 1
    centred = a - mean(a, axes, keepdim=True)
    scale = 1.0 / (n - c) if n - c > 0 else (float("inf") if n else float("nan"))
    return sum(centred * centred, axes, _keep(keepdim, keepdims)) * scale


@op(samples=lambda s: [S(s.real(2, 3, 4), 1), S(s.real(2, 3, 4)),
                       S(s.real(2, 3, 4), -1, keepdim=True, correction=0), S(s.real(2, 3), True),
                       S(s.real(2, 3, 4), 0, True, True)])
def std(a, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims=None):
    """Standard deviation, sqrt of ``var`` (Bessel-corrected by default; the same positional
    forms). Example: ``x.std(dim=0)``"""
    return sqrt(var(a, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims))


@op(samples=lambda s: [S(s.real(2, 3, 4)), S(s.real(2, 3, 4), 1, dim=1), S(s.real(2, 3, 4), 3, dim=-1, keepdim=True),
                       S(s.distinct(2, 3, 4), float("inf"), dim=(0, 2)), S(s.real(2, 3), -1, dim=1),
                       S(s.distinct(2, 3), float("-inf")), S(s.real(2, 3), 0, dim=0)])
def norm(a, p=2, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """The p-norm over ``dim``: (sum |a|^p)^(1/p) for any p (inf: the largest |a|, -inf: the
    smallest, 0: the number of non-zero entries; 'fro' is 2). Example: ``grad.norm()``"""
    if p == "fro" or p is None:
        p = 2
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        raise ArgumentError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r}")
    axes = _axes(a, dim, axis)
    keep = _keep(keepdim, keepdims)
    if p > 0:
        return _drop_dims(Norm.apply(a, float(p), axes), axes, keep)
    if p == 0:                  # the number of non-zero entries (gradient 0, as PyTorch)
        count = np.asarray((a.data != 0).sum(axis=axes, keepdims=keep), dtype=a.dtype)
        return a.sum(axes, keep) * 0 + Tensor(count) if a._requires_grad else Tensor(count)
    magnitude = a.abs()
    if p == -np.inf:
        return amin(magnitude, axes, keep)
    return sum(magnitude ** float(p), axes, keep) ** (1.0 / p)


@op(samples=lambda s: [S(s.real(2, 3, 4), 1), S(s.real(2, 3, 4), (0, 2), keepdim=True),
                       S(np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4]]), 1)])
def logsumexp(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """log(sum(exp(a))) over ``dim``, computed without overflow. Example: ``x.logsumexp(1)``"""
    dim = axis if dim is None else dim
    if dim is None:
        raise TypeError("logsumexp: dim is required (as in PyTorch); pass dim=tuple(range(x.ndim)) "
                        "to reduce over everything")
    a = _floating(a)
    axes = _axes(a, dim)
    return _drop_dims(LogSumExp.apply(a, axes), axes, _keep(keepdim, keepdims))


def _drop_dims(out, axes: tuple, keepdim: bool):
    """Remove the size-1 reduced dims of a keepdim result unless ``keepdim``."""
    if keepdim:
        return out
    return reshape(out, tuple(s for i, s in enumerate(out.shape) if i not in axes))


def _index_reduce(fn, a, dim, keepdim):
    data = a.data if isinstance(a, Tensor) else np.asarray(a)
    if dim is None:
        out = fn(data.reshape(-1), axis=0)
        return Tensor(np.asarray(out, dtype=np.int64).reshape((1,) * data.ndim) if keepdim
                      else np.asarray(out, dtype=np.int64))
    _poly.one_dim(dim, data.ndim, fn.__name__)
    if data.ndim == 0:           # a 0-d tensor: its one element is at index 0
        return Tensor(np.zeros((), np.int64))
    return Tensor(np.asarray(fn(data, axis=dim, keepdims=keepdim), dtype=np.int64))


@op(differentiable=False, dtypes="any", numpy={"argmax": "self"},
    samples=lambda s: [S(s.distinct(3, 4)), S(s.distinct(3, 4), 1), S(s.distinct(3, 4), -1, keepdim=True)])
def argmax(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """Index of the largest value (over the flattened tensor when ``dim`` is None)."""
    return _index_reduce(np.argmax, a, axis if dim is None else dim, _keep(keepdim, keepdims))


@op(differentiable=False, dtypes="any", numpy={"argmin": "self"},
    samples=lambda s: [S(s.distinct(3, 4)), S(s.distinct(3, 4), 0)])
def argmin(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """Index of the smallest value (over the flattened tensor when ``dim`` is None)."""
    return _index_reduce(np.argmin, a, axis if dim is None else dim, _keep(keepdim, keepdims))


@op(differentiable=False, dtypes="any", numpy={"any": "self"},
    samples=lambda s: [S(s.bools(3, 4)), S(s.bools(3, 4), 1)])
def any(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """True where some entry along ``dim`` is non-zero (no gradient). Example: ``mask.any(dim=1)``"""
    dim = axis if dim is None else dim
    return Tensor(np.asarray(np.any(a.data, axis=dim, keepdims=_keep(keepdim, keepdims))))


@op(differentiable=False, dtypes="any", numpy={"all": "self"},
    samples=lambda s: [S(s.bools(3, 4)), S(s.bools(3, 4), 0)])
def all(a, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """True where every entry along ``dim`` is non-zero (no gradient). Example: ``(x > 0).all()``"""
    dim = axis if dim is None else dim
    return Tensor(np.asarray(np.all(a.data, axis=dim, keepdims=_keep(keepdim, keepdims))))
