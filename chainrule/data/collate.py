"""Collation: turn a list of samples into one batch.

:func:`default_collate` follows ``torch.utils.data.default_collate``: Tensors and NumPy arrays
are stacked along a new first axis, numbers become 1-D Tensors, strings stay a list, and
dicts, lists, tuples and namedtuples are collated field by field (tuples and lists come back
as lists, as in PyTorch, so ``x, y = batch`` works either way).
"""
from __future__ import annotations

import collections.abc
from typing import Any, Sequence

import numpy as np

from chainrule import backend
from chainrule.tensor import Tensor


def _stack(arrays: list[np.ndarray], what: str) -> Tensor:
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != first:
            raise ValueError(
                f"default_collate: cannot stack {what} of different shapes: sample 0 has "
                f"shape {first}, sample {i} has shape {a.shape}; make them equal (pad or "
                "crop) or pass a collate_fn to the DataLoader")
    return Tensor(np.stack(arrays))


def _check_numeric(dtype: np.dtype, what: str) -> None:
    if dtype.kind not in "fiub":
        raise TypeError(f"default_collate: {what} of dtype {dtype} cannot become a Tensor; "
                        "only numbers and booleans can (pass a collate_fn for other data)")


def default_collate(batch: Sequence[Any]) -> Any:
    """Collate a list of samples into a batch.

    * Tensors / ndarrays of equal shape -> one Tensor with a leading batch axis (dtype kept)
    * Python ints -> int64 Tensor; Python floats -> default float dtype (float32);
      bools -> bool; NumPy scalars keep their dtype (np.float64 stays float64)
    * strings -> the list of strings
    * dict -> dict of collated values; tuple/list -> list of collated fields;
      namedtuple -> the same namedtuple of collated fields

    Example:
        >>> import chainrule as cr
        >>> x, y = default_collate([(cr.tensor([1.0, 2.0]), 0), (cr.tensor([3.0, 4.0]), 1)])
        >>> x.shape, y.dtype
        ((2, 2), dtype('int64'))
    """
    if len(batch) == 0:
        raise ValueError("default_collate: the batch is empty")
    elem = batch[0]
    if isinstance(elem, Tensor):
        if not all(isinstance(b, Tensor) for b in batch):
            raise TypeError("default_collate: sample 0 is a Tensor but not every sample is")
        return _stack([b._array for b in batch], "tensors")
    if isinstance(elem, np.ndarray):
        _check_numeric(elem.dtype, "a NumPy array")
        return _stack([np.asarray(b) for b in batch], "arrays")
    if isinstance(elem, np.generic):
        arr = np.asarray(batch)
        _check_numeric(arr.dtype, "a NumPy scalar")
        return Tensor(arr)
    if isinstance(elem, (bool, int, float)):
        if not all(isinstance(b, (bool, int, float, np.generic)) for b in batch):
            raise TypeError("default_collate: sample 0 is a number but not every sample is")
        arr = np.asarray(batch)
        if arr.dtype.kind == "f":
            arr = arr.astype(backend.get_default_dtype())
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        return Tensor(arr)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        keys = list(elem.keys())
        for i, b in enumerate(batch):
            if set(b.keys()) != set(keys):
                raise KeyError(f"default_collate: sample {i} has keys {sorted(map(str, b))}, "
                               f"sample 0 has {sorted(map(str, keys))}")
        return {k: default_collate([b[k] for b in batch]) for k in keys}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(f)) for f in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        n = len(elem)
        for i, b in enumerate(batch):
            if len(b) != n:
                raise ValueError(f"default_collate: every sample must have the same number of "
                                 f"fields; sample 0 has {n}, sample {i} has {len(b)}")
        return [default_collate(list(f)) for f in zip(*batch)]
    raise TypeError(
        f"default_collate: cannot collate samples of type {type(elem).__name__}; samples must "
        "be Tensors, NumPy arrays, numbers, strings, dicts, lists or tuples (or pass a "
        "collate_fn)")
