"""Flatten parameters into one vector and back (for second-order methods, evolution
strategies, or comparing models)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from chainrule import ops
from chainrule.autograd import no_grad
from chainrule.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated in order (differentiable).

    Example: ``vec = cr.nn.utils.parameters_to_vector(model.parameters())``
    """
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return ops.cat([ops.reshape(p, (-1,)) for p in params], 0)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters (in place, under no_grad)."""
    data = vec._array if isinstance(vec, Tensor) else np.asarray(vec)
    if data.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {data.shape}")
    params = list(parameters)
    needed = sum(p.numel() for p in params)
    if data.size != needed:
        raise ValueError(f"vector_to_parameters: the vector has {data.size} entries but the "
                         f"parameters hold {needed}")
    start = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(data[start:start + n].reshape(p.shape))
            start += n
