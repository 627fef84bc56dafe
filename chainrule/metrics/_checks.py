"""Input checks shared by every metric: turn Tensors, arrays and lists into ndarrays and
refuse bad shapes with a message that names the function, the argument and the shapes."""
from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from chainrule.tensor import Tensor

ArrayLike = Union[Tensor, np.ndarray, Sequence[Any]]

_NUMERIC_KINDS = "biuf"
_STRING_KINDS = "US"


def to_numpy(x: ArrayLike, name: str, fn: str) -> np.ndarray:
    """The values of ``x`` as an ndarray (a Tensor gives its data, never a graph node)."""
    if isinstance(x, Tensor):
        return x._array
    arr = np.asarray(x)
    if arr.dtype.kind not in _NUMERIC_KINDS + _STRING_KINDS:
        raise ValueError(f"{fn}: {name} must hold numbers or strings, got dtype {arr.dtype}")
    return arr


def check_nonempty(arr: np.ndarray, name: str, fn: str) -> None:
    if arr.shape[0] == 0:
        raise ValueError(f"{fn}: {name} is empty (shape {arr.shape}); at least one sample "
                         f"is needed")


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str, fn: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{fn}: {name_a} has {a.shape[0]} samples (shape {a.shape}) but "
                         f"{name_b} has {b.shape[0]} (shape {b.shape})")


def as_labels(x: ArrayLike, name: str, fn: str) -> np.ndarray:
    """A 1-D array of class labels: integers, bools, strings, or floats that hold whole
    numbers (``[0., 1.]``). Fractional floats are refused: they look like scores."""
    arr = to_numpy(x, name, fn)
    if arr.ndim != 1:
        raise ValueError(f"{fn}: {name} must be 1-D class labels of shape (N,), got shape "
                         f"{arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{fn}: {name} contains NaN or infinity; class labels must be "
                             f"finite")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{fn}: {name} holds fractional values, which look like scores, "
                             f"not class labels; threshold or argmax them first")
    return arr


def as_scores(x: ArrayLike, name: str, fn: str, ndims: tuple[int, ...] = (1, 2)) -> np.ndarray:
    """Finite float64 scores of an allowed number of dimensions."""
    arr = to_numpy(x, name, fn)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"{fn}: {name} must be numeric scores, got dtype {arr.dtype}")
    if arr.ndim not in ndims:
        expected = " or ".join({1: "(N,)", 2: "(N, C)"}[d] for d in ndims)
        raise ValueError(f"{fn}: {name} must have shape {expected}, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: {name} contains NaN or infinity")
    return arr


def check_label_kinds(arrays: Sequence[np.ndarray], fn: str) -> None:
    """Labels must be all numbers or all strings: the two never compare equal."""
    kinds = {"string" if a.dtype.kind in _STRING_KINDS else "number" for a in arrays}
    if len(kinds) > 1:
        raise ValueError(f"{fn}: cannot mix string and number labels "
                         f"(dtypes {', '.join(str(a.dtype) for a in arrays)})")


def unique_labels(*arrays: np.ndarray, fn: str) -> np.ndarray:
    """The sorted labels present in any of ``arrays``."""
    check_label_kinds(arrays, fn)
    return np.unique(np.concatenate([np.unique(a) for a in arrays]))


def index_of(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in ``labels``, or -1 where the value is not a label."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.searchsorted(sorted_labels, values)
    pos = np.minimum(pos, len(labels) - 1)
    found = sorted_labels[pos] == values
    return np.where(found, order[pos], -1)


def check_zero_division(zero_division: float, fn: str) -> float:
    """The value a 0/0 ratio takes: 0, 1 or NaN (scikit-learn's choices, without warnings)."""
    ok = isinstance(zero_division, (int, float, np.floating, np.integer)) and not isinstance(
        zero_division, bool) and (zero_division in (0, 1) or np.isnan(zero_division))
    if not ok:
        raise ValueError(f"{fn}: zero_division must be 0, 1 or nan, got {zero_division!r}")
    return float(zero_division)
