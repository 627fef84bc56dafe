"""Running (cumulative) operations along one dim: cumprod, cummax, cummin, logcumsumexp.
(``cumsum`` lives with the shape primitives.)

cumprod and logcumsumexp are fused: a fast rule on arrays, and a ``reference`` composition
for second derivatives. cummax and cummin find their indices on the arrays and take their
values with ``gather``, so the gradient goes to the element each running extreme came from.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from chainrule.backend import ArgumentError
from chainrule.autograd import Function
from chainrule.ops import _poly
from chainrule.ops.binary import logaddexp
from chainrule.ops.elementwise import _floating
from chainrule.ops.registry import S, op
from chainrule.ops.shape import cat, gather, index, reshape, stack, unbind
from chainrule.tensor import Tensor

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _scan_dim(a, dim, name: str) -> int:
    return _poly.one_dim(dim, a.ndim, name)


def _integer_sum_dtype(a, dtype):
    """PyTorch: cumulative sums and products of integers and bools are int64 (unless dtype=)."""
    if dtype is not None:
        return np.dtype(dtype)
    return np.dtype(np.int64) if a.dtype.kind in "biu" else a.dtype


# --------------------------------------------------------------------------- cumprod
class Cumprod(Function):
    """y_j = a_0 a_1 ... a_j along ``dim``. Fused: the array rule handles zeros exactly."""

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        ctx.save_for_backward(a)
        return np.cumprod(a, axis=dim)

    @staticmethod
    def backward(ctx, g):  # da_i = sum_{j>=i} g_j prod_{k<=j, k!=i} a_k = L_i R_i
        # with L_i = prod_{k<i} a_k and R_i = sum_{j>=i} g_j prod_{i<k<=j} a_k, which obeys
        # R_i = g_i + a_{i+1} R_{i+1} (no division, so zeros are exact)
        a, = ctx.saved_tensors
        d = ctx.dim
        am, gm = np.moveaxis(a, d, 0), np.moveaxis(g, d, 0)
        n = am.shape[0]
        left = np.empty_like(am)
        if n:
            left[0] = 1
            np.cumprod(am[:-1], axis=0, out=left[1:])
        right = np.empty_like(gm)
        if n:
            right[n - 1] = gm[n - 1]
        for i in range(n - 2, -1, -1):
            right[i] = gm[i] + am[i + 1] * right[i + 1]
        return np.moveaxis(left * right, 0, d), None

    @staticmethod
    def reference(a, dim):
        parts = list(unbind(a, dim))
        out = parts[:1]
        for p in parts[1:]:
            out.append(out[-1] * p)
        return stack(out, dim) if out else a * 1


@op(numpy={"cumprod": lambda a, axis=None, dtype=None, out=None: cumprod(a, axis, dtype=dtype)},
    samples=lambda s: [S(s.real(3, 4), 1), S(s.real(4, 3), 0),
                       S(np.array([[2.0, 0.0, 3.0, 1.5], [0.0, 0.0, 5.0, 2.0]]), 1)])
def cumprod(input, dim: int, *, dtype=None):
    """Running product along ``dim`` (zeros allowed: gradients stay exact).
    Example: ``cr.cumprod(x, dim=0)``"""
    a = input
    target = _integer_sum_dtype(a, dtype)
    if a.dtype != target:
        a = a.astype(target)
    if a.ndim == 0:
        return reshape(cumprod(reshape(a, (1,)), _scan_dim(a, dim, "cumprod")), ())
    return Cumprod.apply(a, _scan_dim(a, dim, "cumprod"))


# ------------------------------------------------------------------- cummax, cummin
def _running_extreme_indices(x: np.ndarray, dim: int, largest: bool) -> np.ndarray:
    """The index of each running maximum (minimum): the latest position holding it (PyTorch
    moves on ties), and NaN, once met, stays the extreme (the latest NaN)."""
    acc = np.maximum if largest else np.minimum
    running = acc.accumulate(x, axis=dim) if x.size else x
    record = x == running
    if x.dtype.kind == "f":
        record |= np.isnan(x)
    shape = [1] * x.ndim
    shape[dim] = x.shape[dim]
    positions = np.arange(x.shape[dim]).reshape(shape)
    marks = np.where(record, positions, 0)
    return np.maximum.accumulate(marks, axis=dim) if x.size else marks.astype(np.int64)


def _cumulative_extreme(name: str, a, dim, largest: bool) -> ValuesIndices:
    if a.ndim == 0:
        return ValuesIndices(a * 1 if a.dtype.kind in "fc" else Tensor(a.data.copy()),
                             Tensor(np.zeros((), np.int64)))
    d = _scan_dim(a, dim, name)
    idx = _running_extreme_indices(a.data, d, largest).astype(np.int64)
    return ValuesIndices(gather(a, d, idx), Tensor(idx))


@op(samples=lambda s: [S(s.distinct(3, 4), 1), S(s.distinct(4, 3), 0)])
def cummax(input, dim: int) -> ValuesIndices:
    """(values, indices) of the running maximum along ``dim``; the gradient goes to where
    each maximum came from. Example: ``best, where = cr.cummax(x, 0)``"""
    return _cumulative_extreme("cummax", input, dim, True)


@op(samples=lambda s: [S(s.distinct(3, 4), 1), S(s.distinct(4, 3), -1)])
def cummin(input, dim: int) -> ValuesIndices:
    """(values, indices) of the running minimum along ``dim``. Example: ``cr.cummin(x, 1)``"""
    return _cumulative_extreme("cummin", input, dim, False)


# ------------------------------------------------------------------- logcumsumexp
def _log_abs_suffix_sums(w: np.ndarray, dim: int) -> np.ndarray:
    """log(sum_{j>=i} e^w_j) along ``dim``, computed stably (reversed running logaddexp)."""
    flipped = np.flip(w, dim)
    return np.flip(np.logaddexp.accumulate(flipped, axis=dim), dim)


class LogCumSumExp(Function):
    """y_j = log sum_{i<=j} e^a_i along ``dim``, by a running logaddexp (no overflow)."""

    @staticmethod
    def forward(ctx, a, dim):
        out = np.logaddexp.accumulate(a, axis=dim) if a.size else a.copy()
        ctx.dim = dim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):  # da_i = sum_{j>=i} g_j e^(a_i - y_j): the positive and negative
        # parts of g each summed in log space, e^(a_i + log sum_{j>=i} |g_j| e^-y_j)
        a, out = ctx.saved_tensors
        d = ctx.dim
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = _log_abs_suffix_sums(np.log(np.maximum(g, 0)) - out, d)
            neg = _log_abs_suffix_sums(np.log(np.maximum(-g, 0)) - out, d)
            grad = np.exp(a + pos) - np.exp(a + neg)
        return np.where(np.isnan(grad) & ~np.isnan(a), 0, grad).astype(a.dtype), None

    @staticmethod
    def reference(a, dim):
        parts = list(unbind(a, dim))          # y_j = logaddexp(y_{j-1}, a_j): stable throughout
        out = parts[:1]
        for p in parts[1:]:
            out.append(logaddexp(out[-1], p))
        return stack(out, dim) if out else a * 1


@op(samples=lambda s: [S(s.real(3, 4), 1), S(s.real(4, 3), 0),
                       S(np.array([[1e3, -1e3, 0.0, 5.0], [-2.0, 700.0, 700.0, -1e3]]), 1)])
def logcumsumexp(input, dim: int):
    """log(cumsum(exp(input))) along ``dim``, without overflow. Example:
    ``cr.logcumsumexp(scores, 1)``"""
    a = _floating(input)
    if a.ndim == 0:
        return reshape(logcumsumexp(reshape(a, (1,)), _scan_dim(a, dim, "logcumsumexp")), ())
    return LogCumSumExp.apply(a, _scan_dim(a, dim, "logcumsumexp"))


@op(samples=lambda s: [S(s.real(3, 5)), S(s.real(4, 3), 2, 0), S(s.real(3, 4), 1, -1, s.real(3, 1), s.real(3, 2))])
def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim`` (``out[i] = x[i+1] - x[i]``), after
    joining ``prepend`` and ``append`` to the ends; for bools, ``x[i+1] != x[i]``.
    Example: ``cr.diff(t)``"""
    if input.ndim == 0:
        raise ArgumentError("diff: expects a tensor with at least one dim")
    if n < 0:
        raise ArgumentError(f"diff: n must be non-negative, got {n}")
    d = _scan_dim(input, dim, "diff")
    if n == 0:                  # as PyTorch: the input itself, prepend and append ignored
        return input
    parts = [p if isinstance(p, Tensor) or p is None else Tensor(np.asarray(p))
             for p in (prepend, input, append)]
    parts = [p.reshape(input.shape[:d] + (1,) + input.shape[d + 1:]) if p is not None and p.ndim == 0
             else p for p in parts]
    x = cat([p for p in parts if p is not None], d) if prepend is not None or append is not None \
        else input
    for _ in range(n):
        size = x.shape[d]
        later = index(x, (slice(None),) * d + (slice(1, size),))
        earlier = index(x, (slice(None),) * d + (slice(0, size - 1),))
        x = Tensor(later.data != earlier.data) if x.dtype == np.bool_ else later - earlier
    return x
