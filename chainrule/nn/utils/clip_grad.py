"""Gradient clipping, in place on ``.grad``, with PyTorch's semantics."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from chainrule.tensor import Tensor


def _grads(parameters) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def _scale_in_place(g: Tensor, factor) -> None:
    np.multiply(g._array, factor, out=g._array, casting="unsafe")
    g._version += 1


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Rescale the gradients so their combined ``norm_type``-norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated into one vector. Every
    gradient is multiplied by min(1, max_norm / (total_norm + 1e-6)). Returns the total norm
    *before* clipping (a 0-d tensor), handy for logging.

    Example:
        >>> loss.backward()
        >>> total = cr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        >>> optimizer.step()
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm}")
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = grads[0].dtype
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g._array))) if g._array.size else 0.0 for g in grads)
    elif norm_type <= 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type}")
    else:
        # Accumulate in float64: summing many float32 squares loses digits.
        parts = [np.sum(np.abs(g._array.astype(np.float64)) ** norm_type) for g in grads]
        total = float(np.sum(parts)) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}, so they cannot be clipped; set "
                           f"error_if_nonfinite=False to clip anyway")
    coef = min(max_norm / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
    if coef < 1.0 or math.isnan(coef):
        for g in grads:
            _scale_in_place(g, coef)
    return Tensor(np.array(total, dtype=dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value], in place.

    Example: ``cr.nn.utils.clip_grad_value_(model.parameters(), 0.5)``
    """
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for g in _grads(parameters):
        np.clip(g._array, -clip_value, clip_value, out=g._array)
        g._version += 1
