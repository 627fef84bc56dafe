"""Ordering along a dim: sort, argsort, msort, topk, kthvalue, median, nanmedian, mode.

Each finds its indices on the arrays (a stable sort: equal values keep their order, and NaN
sorts above everything, as in PyTorch) and takes its values with ``gather``, so the gradient
goes back to exactly the elements picked. Where PyTorch leaves the choice among equal values
to its algorithm, chainrule follows it: median takes the stable-sort position (as PyTorch's
index-tie-broken selection does), kthvalue runs PyTorch's quickselect on slices with equal
values. topk takes equal values in stable-sort order, where PyTorch's partial sort may
pick others among them: indices can differ there, values never do.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from chainrule.ops import _poly
from chainrule.ops.registry import S, op
from chainrule.ops.shape import gather, reshape, squeeze
from chainrule.tensor import Tensor

SortResult = namedtuple("SortResult", ["values", "indices"])
TopkResult = namedtuple("TopkResult", ["values", "indices"])
KthvalueResult = namedtuple("KthvalueResult", ["values", "indices"])
MedianResult = namedtuple("MedianResult", ["values", "indices"])
ModeResult = namedtuple("ModeResult", ["values", "indices"])


def stable_argsort(x: np.ndarray, axis: int, descending: bool = False) -> np.ndarray:
    """Indices that sort ``x`` along ``axis``, equal values in their original order; NaN
    counts as the largest value (last ascending, first descending)."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    if x.dtype == np.bool_ or x.dtype.kind == "u":
        x = x.astype(np.int64)
    if x.dtype.kind == "f":
        nan = np.isnan(x)
        key = np.where(nan, -np.inf, -x)
        # lexsort: the last key decides first; NaN (secondary key 0) before -x = -inf ties.
        return np.lexsort((~nan, key), axis=axis)
    return np.argsort(-x, axis=axis, kind="stable")


def _moved_sort(x, axis, descending):
    """stable_argsort for an axis of any position (lexsort sorts the last axis only)."""
    if x.ndim == 0:
        return np.zeros((), np.int64)
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(stable_argsort(moved, -1, descending), -1, axis).astype(np.int64)


def _check_dim(a, dim, name):
    return _poly.one_dim(dim, a.ndim, name)


def _take(a, dim, idx):
    """``a`` gathered at ``idx`` along ``dim`` (a 0-d tensor is its own result)."""
    if a.ndim == 0:
        return a * 1 if a.dtype.kind in "fc" else Tensor(a.data.copy())
    return gather(a, dim, idx)


@op(samples=lambda s: [S(s.distinct(3, 4)), S(s.distinct(3, 4), 0, True),
                       S(s.distinct(2, 5), descending=True, stable=True)])
def sort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """(values, indices) sorted along ``dim`` (stably: equal values keep their order).
    Example: ``values, order = x.sort(descending=True)``"""
    d = _check_dim(input, dim, "sort")
    idx = _moved_sort(input.data, d, descending)
    return SortResult(_take(input, d, idx), Tensor(idx))


@op(differentiable=False, dtypes="any",
    samples=lambda s: [S(s.distinct(3, 4)), S(s.distinct(3, 4), 0, True)])
def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim``. Example: ``order = x.argsort()``"""
    return Tensor(_moved_sort(input.data, _check_dim(input, dim, "argsort"), descending))


@op(samples=lambda s: [S(s.distinct(4, 3))])
def msort(input) -> Tensor:
    """``input`` sorted along dim 0. Example: ``cr.msort(x)``"""
    return sort(input, 0).values


@op(samples=lambda s: [S(s.distinct(3, 5), 2), S(s.distinct(3, 5), 2, 0, False),
                       S(s.distinct(4, 3), 3, largest=True, sorted=True)])
def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices, largest
    first. Example: ``scores.topk(5)``"""
    d = _check_dim(input, dim, "topk")
    size = input.shape[d] if input.ndim else 1
    if not 0 <= k <= size:
        raise IndexError(f"topk: k ({k}) is out of range for dimension {dim} of size {size}")
    idx = _moved_sort(input.data, d, descending=largest)
    if input.ndim:
        idx = np.take(idx, np.arange(k), axis=d)
    return TopkResult(_take(input, d, idx), Tensor(idx))


def _greater_or_nan(x, y) -> bool:
    return (x != x and y == y) or x > y


def quickselect(values: list, k: int) -> int:
    """The original position of the ``k``-th smallest of ``values`` (k from 0), by PyTorch's
    own selection (median-of-three quickselect, NaN largest), so that among equal values
    the same one is picked as in ``torch.kthvalue``."""
    arr, pos = list(values), list(range(len(values)))

    def swap(i, j):
        arr[i], arr[j] = arr[j], arr[i]
        pos[i], pos[j] = pos[j], pos[i]
    lo, hi = 0, len(arr) - 1
    while hi > lo:
        if hi == lo + 1:
            if _greater_or_nan(arr[lo], arr[hi]):
                swap(lo, hi)
            break
        swap(lo + (hi - lo) // 2, lo + 1)          # the median of three as the pivot, at lo
        if _greater_or_nan(arr[lo + 1], arr[hi]):
            swap(lo + 1, hi)
        if _greater_or_nan(arr[lo], arr[hi]):
            swap(lo, hi)
        if _greater_or_nan(arr[lo + 1], arr[lo]):
            swap(lo + 1, lo)
        i, j, pivot = lo + 1, hi, arr[lo]
        while True:
            i += 1
            while _greater_or_nan(pivot, arr[i]):
                i += 1
            j -= 1
            while _greater_or_nan(arr[j], pivot):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(lo, j)
        if j <= k:
            lo = i
        if j >= k:
            hi = j - 1
    return pos[k]


@op(samples=lambda s: [S(s.distinct(3, 5), 2), S(s.distinct(3, 5), 1, 0, True)])
def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """The ``k``-th smallest entry along ``dim`` (k from 1) and its index (among equal
    values, the one PyTorch picks). Example: ``cr.kthvalue(x, 2, dim=0)``"""
    d = _check_dim(input, dim, "kthvalue")
    size = input.shape[d] if input.ndim else 1
    if not 1 <= k <= size:
        raise IndexError(f"kthvalue: k ({k}) is out of range for dimension {dim} of size {size}")
    if input.ndim == 0:
        return KthvalueResult(_take(input, 0, None), Tensor(np.zeros((), np.int64)))
    x = np.moveaxis(input.data, d, -1)
    order = stable_argsort(x, -1)
    picked = order[..., k - 1].copy()
    ordered = np.take_along_axis(x, order, -1)
    tied = (ordered[..., 1:] == ordered[..., :-1]).any(axis=-1)
    if x.dtype.kind == "f":
        tied |= np.isnan(x).sum(axis=-1) > 1
    for at in map(tuple, np.argwhere(np.asarray(tied))):   # only slices with equal values:
        picked[at] = quickselect(x[at].tolist(), k - 1)        # PyTorch's pick among them
    picked = np.expand_dims(picked, d).astype(np.int64)
    values = gather(input, d, picked)
    if keepdim:
        return KthvalueResult(values, Tensor(picked))
    return KthvalueResult(squeeze(values, d), Tensor(np.squeeze(picked, d)))


def _median_along(name, input, dim, keepdim, skip_nan: bool):
    d = _check_dim(input, dim, name)
    if input.ndim == 0:
        return MedianResult(_take(input, 0, None), Tensor(np.zeros((), np.int64)))
    x = input.data
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"{name}: cannot compute the median of an empty dimension {dim}")
    idx = _moved_sort(x, d, False)
    if x.dtype.kind == "f":
        nans = np.isnan(x).sum(axis=d, keepdims=True)
        if skip_nan:   # the lower median of the non-NaN entries (all NaN: the first NaN)
            count = n - nans
            position = np.where(count > 0, (count - 1) // 2, 0)
        else:          # any NaN: the result is NaN, at the first NaN
            position = np.where(nans > 0, n - nans, (n - 1) // 2)
    else:
        position = np.full(_poly.keepdim_shape(x.shape, (d,)), (n - 1) // 2)
    picked = np.take_along_axis(idx, position.astype(np.int64), axis=d)
    values = gather(input, d, picked)
    if keepdim:
        return MedianResult(values, Tensor(picked))
    return MedianResult(squeeze(values, d), Tensor(np.squeeze(picked, d)))


def _median_all(input, skip_nan: bool):
    flat = reshape(input, (-1,))
    if flat.shape[0] == 0:
        return Tensor(np.asarray(np.nan, input.dtype)) if input.dtype.kind == "f" else \
            Tensor(np.zeros((), input.dtype))
    return _median_along("median", flat, 0, False, skip_nan).values


@op(samples=lambda s: [S(s.distinct(3, 5)), S(s.distinct(3, 4), 1), S(s.distinct(3, 5), 0, True)])
def median(input, dim: int | None = None, keepdim: bool = False):
    """The lower median: over everything (a tensor), or along ``dim`` (values, indices);
    NaN wins (a slice with NaN has median NaN). Example: ``x.median(dim=1)``"""
    if dim is None:
        return _median_all(input, skip_nan=False)
    return _median_along("median", input, dim, keepdim, skip_nan=False)


@op(samples=lambda s: [S(np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, np.nan, 0.5, -1.0]]), 1),
                       S(s.distinct(3, 4))])
def nanmedian(input, dim: int | None = None, keepdim: bool = False):
    """The lower median of the non-NaN entries (NaN only where all are). Example:
    ``x.nanmedian(0)``"""
    if dim is None:
        return _median_all(input, skip_nan=True)
    return _median_along("nanmedian", input, dim, keepdim, skip_nan=True)


@op(samples=lambda s: [S(s.distinct(3, 4), 1), S(s.distinct(3, 2), 0, True)],
    notes="samples of distinct values (ties would move under finite differences); "
          "tests/test_ops_sorting.py checks ties against PyTorch")
def mode(input, dim: int = -1, keepdim: bool = False) -> ModeResult:
    """The most frequent value along ``dim`` (the smallest among equally frequent ones) and
    the index of its last occurrence, as PyTorch. Example: ``cr.mode(labels, 1)``"""
    d = _check_dim(input, dim, "mode")
    if input.ndim == 0:
        return ModeResult(_take(input, 0, None), Tensor(np.zeros((), np.int64)))
    x = np.moveaxis(input.data, d, -1)
    n = x.shape[-1]
    if n == 0:
        raise IndexError(f"mode: dimension {dim} is empty")
    order = stable_argsort(x, -1)
    ordered = np.take_along_axis(x, order, -1)
    # run lengths over the sorted values: the start of each run of equal values
    new_run = np.ones(ordered.shape, dtype=bool)
    same = ordered[..., 1:] == ordered[..., :-1]
    if x.dtype.kind == "f":
        same |= np.isnan(ordered[..., 1:]) & np.isnan(ordered[..., :-1])
    new_run[..., 1:] = ~same
    positions = np.arange(n)
    start = np.maximum.accumulate(np.where(new_run, positions, 0), axis=-1)
    length = positions - start + 1                # the run length so far, at each position
    # the longest run, the first (smallest value) among the longest; its last element
    best_end = np.argmax(_run_totals(length, new_run), axis=-1)
    last_sorted = best_end[..., None]
    picked = np.take_along_axis(order, last_sorted, -1)        # stable: the last occurrence
    picked = np.moveaxis(picked, -1, d).astype(np.int64)
    values = gather(input, d, picked)
    if keepdim:
        return ModeResult(values, Tensor(picked))
    return ModeResult(squeeze(values, d), Tensor(np.squeeze(picked, d)))


def _run_totals(length, new_run):
    """At the last position of each run, that run's length; elsewhere -1 (so argmax finds
    the end of the first longest run)."""
    last = np.ones(length.shape, dtype=bool)
    last[..., :-1] = new_run[..., 1:]
    return np.where(last, length, -1)
