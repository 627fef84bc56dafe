"""Statistics built on the reductions: var_mean/std_mean, nansum/nanmean, aminmax,
quantile/nanquantile, cov and corrcoef. Compositions of differentiable ops throughout.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from chainrule.backend import ArgumentError, DtypeError, ShapeError, get_default_dtype
from chainrule.ops import _poly
from chainrule.ops.binary import lerp
from chainrule.ops.elementwise import _data, sqrt, where
from chainrule.ops.reduce import amax, amin, mean, std, sum, var
from chainrule.ops.registry import Const, S, op
from chainrule.ops.shape import gather, reshape, squeeze, unsqueeze
from chainrule.ops.sorting import sort
from chainrule.tensor import Tensor

MinMax = namedtuple("aminmax", ["min", "max"])


def _stat_samples(s):
    return [S(s.real(3, 4), 1), S(s.real(2, 3, 4), (0, 2), keepdim=True, correction=0),
            S(s.real(3, 4))]


@op(samples=_stat_samples)
def var_mean(input, dim=None, keepdim: bool = False, *, correction=None, unbiased=None):
    """(variance, mean) over ``dim``, as ``torch.var_mean``. Example:
    ``v, m = cr.var_mean(x, 0)``"""
    if isinstance(dim, bool):              # torch.var_mean(x, unbiased)
        dim, unbiased = None, dim
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


@op(samples=_stat_samples)
def std_mean(input, dim=None, keepdim: bool = False, *, correction=None, unbiased=None):
    """(standard deviation, mean) over ``dim``, as ``torch.std_mean``. Example:
    ``s, m = cr.std_mean(x, 1, keepdim=True)``"""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


@op(samples=lambda s: [S(np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, 0.5]]), 1), S(s.real(3, 4))])
def nansum(input, dim=None, keepdim: bool = False, *, dtype=None):
    """The sum ignoring NaN (as zeros; their gradient is 0). Example: ``x.nansum(1)``"""
    a = input
    if a.dtype.kind == "f":
        nan = np.isnan(a.data)
        if nan.any():
            a = where(nan, np.zeros((), a.dtype), a)
    return sum(a, dim, keepdim, dtype=dtype)


@op(samples=lambda s: [S(np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, 0.5]]), 1), S(s.real(3, 4))])
def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None):
    """The mean of the non-NaN entries (NaN where there are none). Example: ``x.nanmean(0)``"""
    a = input if dtype is None else input.astype(dtype)
    if a.dtype.kind != "f":
        raise DtypeError(f"nanmean: needs a floating tensor, got dtype {a.dtype}")
    axes = _poly.normalize_dims(dim, a.ndim)
    count = (~np.isnan(a.data)).sum(axis=axes, keepdims=keepdim)
    return nansum(a, dim, keepdim) / np.asarray(count, a.dtype)


@op(samples=lambda s: [S(s.distinct(3, 4)), S(s.distinct(3, 4), dim=1), S(s.distinct(3, 4), dim=0, keepdim=True)])
def aminmax(input, *, dim=None, keepdim: bool = False) -> MinMax:
    """(min, max) over ``dim`` (everything when None). Example: ``lo, hi = x.aminmax()``"""
    return MinMax(amin(input, dim, keepdim), amax(input, dim, keepdim))


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name: str, input, q, dim, keepdim, interpolation, skip_nan: bool):
    if interpolation not in _INTERPOLATIONS:
        raise ArgumentError(f"{name}: interpolation must be one of {_INTERPOLATIONS}, got "
                            f"{interpolation!r}")
    if input.dtype.kind != "f":
        raise DtypeError(f"{name}: needs a floating tensor, got dtype {input.dtype}")
    q_values = np.asarray(_data(q), dtype=np.float64)
    if q_values.ndim > 1:
        raise ShapeError(f"{name}: q must be a number or a 1-D tensor, got shape {q_values.shape}")
    if ((q_values < 0) | (q_values > 1)).any():
        raise ArgumentError(f"{name}: q values must be in the range [0, 1]")
    if dim is None:
        x, d = reshape(input, (-1,)), 0
    else:
        x, d = input, _poly.one_dim(dim, input.ndim, name)
    if x.ndim == 0:
        x, d = reshape(x, (1,)), 0
    x = x.movedim(d, -1) if x.ndim > 1 else x
    n = x.shape[-1]
    if n == 0:
        raise IndexError(f"{name}: cannot take a quantile over an empty dimension")
    ordered = sort(x, -1).values
    nan = np.isnan(ordered.data)
    q_col = q_values.reshape(-1, *([1] * x.ndim)).astype(input.dtype)   # (Q, ..., 1)
    if skip_nan:
        span = np.maximum((~nan).sum(-1, keepdims=True) - 1, 0)
    else:
        span = np.where(nan.any(-1, keepdims=True), 0, n - 1)
        last = nan.any(-1, keepdims=True)     # any NaN: the last (a NaN) is the answer
    ranks = q_col * span
    if not skip_nan:
        ranks = np.where(last, n - 1, ranks)
    ranks = np.broadcast_to(ranks, q_col.shape[:1] + ordered.shape[:-1] + (1,))
    if interpolation == "nearest":
        ranks = np.round(ranks)
    lo = np.minimum(np.floor(ranks).astype(np.int64), n - 1)
    hi = np.minimum(np.ceil(ranks).astype(np.int64), n - 1)
    rows = ordered.unsqueeze(0).expand(ranks.shape[:-1] + (n,))
    low_v, high_v = gather(rows, -1, lo), gather(rows, -1, hi)
    if interpolation in ("lower", "nearest"):
        out = low_v
    elif interpolation == "higher":
        out = high_v
    elif interpolation == "midpoint":
        out = lerp(low_v, high_v, Tensor(np.full(lo.shape, 0.5, input.dtype)))
    elif isinstance(q, Tensor) and q._requires_grad:
        # the weight is q (n - 1) - lo: differentiable in q, as PyTorch's is
        q_t = reshape(q.astype(input.dtype), q_col.shape)
        weight = q_t * span.astype(input.dtype) - lo.astype(input.dtype)
        if not skip_nan:
            weight = where(np.broadcast_to(last, ranks.shape), np.zeros((), input.dtype), weight)
        out = lerp(low_v, high_v, weight)
    else:
        out = lerp(low_v, high_v, Tensor((ranks - lo).astype(input.dtype)))
    out = squeeze(out, -1)                                   # (Q, ...)
    if keepdim and input.ndim:
        if dim is None:
            out = reshape(out, out.shape[:1] + (1,) * input.ndim)
        else:
            out = unsqueeze(out, d + 1)
    if q_values.ndim == 0:
        out = squeeze(out, 0)
    return out


@op(samples=lambda s: [S(s.distinct(3, 5), 0.3), S(s.distinct(3, 5), Const(np.array([0.0, 0.25, 1.0])), 1),
                       S(s.distinct(3, 5), 0.5, 1, True, interpolation="midpoint"),
                       S(s.distinct(4, 3), 0.4, 0, interpolation="nearest")])
def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """The ``q``-th quantiles (q in [0, 1], a number or a vector that adds a leading dim)
    over ``dim`` (everything when None), interpolating between the sorted values as
    ``interpolation`` says; NaN anywhere in a slice gives NaN. Example: ``x.quantile(0.9, 1)``"""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, skip_nan=False)


@op(samples=lambda s: [S(np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, 0.5, -1.0, 4.0]]), 0.3, 1),
                       S(s.distinct(3, 5), 0.3)])
def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """``quantile`` of the non-NaN entries. Example: ``x.nanquantile(0.5, dim=0)``"""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, skip_nan=True)


@op(samples=lambda s: [S(s.real(3, 5)), S(s.real(5), correction=0),
                       S(s.real(2, 4), fweights=np.array([1, 2, 1, 3]), aweights=s.positive(4))])
def cov(input, *, correction: int = 1, fweights=None, aweights=None):
    """The covariance matrix of the variables in the rows of ``input`` (observations in
    columns), with frequency and importance weights, computed as ``torch.cov`` computes it
    (size-1 dims of the result dropped: one variable gives a 0-d tensor). Example:
    ``cr.cov(x.T)``"""
    if input.ndim > 2:
        raise ShapeError(f"cov: expects a 1-D or 2-D tensor, got shape {tuple(input.shape)}")
    x = reshape(input, (1, -1)) if input.ndim < 2 else input
    if x.dtype.kind not in "fc":
        x = x.astype(get_default_dtype())
    observations = x.shape[1]

    def weights(w, name):
        if w is None:
            return None
        w = w if isinstance(w, Tensor) else Tensor(np.asarray(w))
        if w.ndim > 1 or w.numel() != observations:
            raise ShapeError(f"cov: {name} must be a vector of {observations} weights, got "
                             f"shape {tuple(w.shape)}")
        return w
    fw, aw = weights(fweights, "fweights"), weights(aweights, "aweights")
    w = fw if aw is None else (aw if fw is None else fw * aw)
    if w is None:
        average = mean(x, 1, keepdim=True)
        total = float(observations)
        norm = total - correction
    else:
        total = sum(w)
        average = sum(x * w, 1, keepdim=True) / total
        if correction == 0:
            norm = total
        elif aw is None:
            norm = total - correction
        else:
            norm = total - correction * sum(w * aw) / total
    centred = x - average
    product = centred @ (centred * w if w is not None else centred).mT
    if isinstance(norm, Tensor):
        norm = where(norm.data <= 0, np.zeros((), norm.dtype), norm)
    else:
        norm = max(norm, 0.0)
    return squeeze(product / norm)


@op(samples=lambda s: [S(s.real(3, 5)), S(s.real(2, 4))])
def corrcoef(input):
    """Pearson correlation coefficients of the rows of ``input`` (in [-1, 1]). Example:
    ``cr.corrcoef(x)``"""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = sqrt(c.diagonal())
    return (c / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1, 1)
