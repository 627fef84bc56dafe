"""Hand-made input features of 2-D points, as TensorFlow Playground offers them.

A network that sees ``x1^2`` and ``x2^2`` separates two circles with a single layer; one
that sees only ``x1`` and ``x2`` needs hidden units to bend its boundary. The names are the
ones the playground, run configs and exported scripts use.

    >>> import numpy as np
    >>> expand_features(np.array([[2.0, 3.0]]), ["x1", "x1*x2", "x2^2"]).tolist()
    [[2.0, 6.0, 9.0]]
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["FEATURES", "expand_features"]

# name -> f(x1, x2), each elementwise on the columns of an (n, 2) array
FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda a, b: a,
    "x2": lambda a, b: b,
    "x1^2": lambda a, b: a * a,
    "x2^2": lambda a, b: b * b,
    "x1*x2": lambda a, b: a * b,
    "sin(x1)": lambda a, b: np.sin(a),
    "sin(x2)": lambda a, b: np.sin(b),
}


def expand_features(X, names: Sequence[str]) -> np.ndarray:
    """The columns ``names`` (from :data:`FEATURES`, in the order given) of 2-D points ``X``
    of shape ``(n, 2)``; the result is ``(n, len(names))`` in X's float dtype (float64 for
    integer input)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"expand_features: X must have shape (n, 2) (the points x1, x2), got "
                         f"{X.shape}")
    names = list(names)
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise ValueError(f"expand_features: unknown or no features {unknown or names}; choose "
                         f"from {', '.join(FEATURES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"expand_features: features repeat in {names}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    a, b = X[:, 0], X[:, 1]
    return np.stack([FEATURES[n](a, b) for n in names], axis=1).astype(X.dtype, copy=False)
