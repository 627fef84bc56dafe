"""PyTorch's type promotion, where NumPy's differs (the rules of ``torch.result_type``).

Operands fall into categories bool < integer < floating. The result takes the highest
category present, and its dtype comes from the operands of that category of the highest
rank present: dimensioned tensors, then zero-dimensional tensors, then Python numbers (which
give the default dtype of their category: ``get_default_dtype()`` for floats, int64 for
ints). So an int32 tensor times 0.5 is float32 (NumPy: float64), and a float32 tensor plus a
float64 0-d tensor stays float32 (NumPy 2: float64).
"""
from __future__ import annotations

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.tensor import Tensor

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_BOOL, _INT64 = np.dtype(np.bool_), np.dtype(np.int64)


def _rank_and_dtype(x):
    """(category, rank, dtype) of one operand; rank 2 dimensioned, 1 zero-dim, 0 a number."""
    if isinstance(x, Tensor):
        d = x._array.dtype
        return _CATEGORY[d.kind], (2 if x._array.ndim else 1), d
    if isinstance(x, np.ndarray):
        return _CATEGORY[x.dtype.kind], (2 if x.ndim else 1), x.dtype
    if isinstance(x, (bool, np.bool_)):
        return 0, 0, _BOOL
    if isinstance(x, (int, np.integer)):
        return 1, 0, _INT64
    if isinstance(x, (float, np.floating)):
        return 2, 0, get_default_dtype()
    if isinstance(x, complex):
        return 3, 0, np.dtype(np.complex64 if get_default_dtype() == np.float32 else np.complex128)
    raise TypeError(f"unsupported operand of type {type(x).__name__}")


def result_type(*operands) -> np.dtype:
    """The dtype PyTorch gives an elementwise operation on ``operands`` (tensors, arrays,
    numbers). Example: ``result_type(int32_tensor, 0.5)`` is float32."""
    infos = [_rank_and_dtype(x) for x in operands]
    category = max(c for c, _, _ in infos)
    rank = max(r for c, r, _ in infos if c == category)
    out = None
    for c, r, d in infos:
        if c == category and r == rank:
            out = d if out is None else np.promote_types(out, d)
    return out


def settled(a, b) -> bool:
    """True when NumPy already gives PyTorch's dtype, so ``promote`` can be skipped (the hot
    path): two tensors of one dtype, or a floating tensor and a Python number (both treat
    the number as weak)."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return a._array.dtype is b._array.dtype
        return a._array.dtype.kind == "f" and (type(b) is float or type(b) is int)
    return isinstance(b, Tensor) and b._array.dtype.kind == "f" and (type(a) is float or type(a) is int)


def promote(*operands):
    """The operands with every tensor (and array) cast to their common PyTorch dtype;
    numbers are left alone (NumPy treats them as weak, as PyTorch does)."""
    target = result_type(*operands)
    out = []
    for x in operands:
        if isinstance(x, Tensor) and x._array.dtype != target:
            x = x.astype(target)
        elif isinstance(x, np.ndarray) and x.dtype != target:
            x = x.astype(target)
        out.append(x)
    return out
