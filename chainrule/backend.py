"""The array module in use, and the one place that knows which it is.

Everything numeric in chainrule goes through ``xp``. Today that is NumPy; a GPU build swaps
in CuPy here and nowhere else.
"""
from __future__ import annotations

import numpy as np

xp = np

_default_float = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The floating dtype given to tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Set the floating dtype for new tensors: ``cr.set_default_dtype(np.float64)``."""
    global _default_float
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_float = d


def as_array(data, dtype=None) -> np.ndarray:
    """Turn user data into an ndarray: Python floats become the default float dtype,
    NumPy arrays keep theirs (float64 stays float64), Python ints become int64."""
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and not isinstance(data, np.generic):
        arr = arr.astype(_default_float, copy=False)
    elif arr.dtype.kind == "i" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")
    return arr
