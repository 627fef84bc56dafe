"""Shared handling of the ``device=`` and ``dtype=`` arguments that layer constructors take."""
from __future__ import annotations

import numpy as np

from chainrule import backend


def param_dtype(device=None, dtype=None) -> np.dtype:
    """The floating dtype for a new layer's parameters (the default dtype unless given);
    ``device`` may only be None or 'cpu'."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"device {device!r} is not available: chainrule runs on the CPU")
    dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"layer parameters must be floating point, got dtype {dt}")
    return dt


def non_negative_int(name: str, value) -> int:
    """``value`` as an int, or a clear error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)
