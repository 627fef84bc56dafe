"""Activations with learnable parameters (public as ``chainrule.nn.functional.*``)."""
from __future__ import annotations

from chainrule.backend import DtypeError, ShapeError
from chainrule.ops.elementwise import PRelu
from chainrule.ops.promotion import promote
from chainrule.ops.registry import S, op
from chainrule.tensor import Tensor


@op(namespace="F", method=False, samples=lambda s: [
    S(s.real(3, 4), s.real(1)), S(s.real(2, 3, 4), s.real(3)), S(s.real(2, 3, 2, 2), s.real(3)),
    S(s.real(5), s.real(1))])
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x, with one learned slope (``weight`` of 1 element) or
    one per channel (``weight`` of C elements for the C channels in dim 1).

    Gradients (as PyTorch's, also at x = 0 and with infinite values): d/dx = 1 where x > 0,
    else weight; d/dweight = x where x <= 0, else 0, summed over what the slope is shared by.
    Second derivatives at exactly x = 0 keep that branch (PyTorch's double backward takes
    the x > 0 one there). Input and weight must share their floating dtype, as in PyTorch.

    Example:
        >>> y = F.prelu(cr.randn(8, 16, 5), cr.full((16,), 0.25))
    """
    if weight.ndim > 1:
        raise ShapeError(f"prelu: weight must be 1-D (1 or C elements), got shape {weight.shape}")
    slopes = weight.numel()
    if slopes != 1:
        channels = input.shape[1] if input.ndim > 1 else 1
        if slopes != channels:
            raise ShapeError(f"prelu: weight has {slopes} elements but the input (shape "
                             f"{input.shape}) has {channels} channels in dim 1; give 1 slope "
                             f"or one per channel")
        weight = weight.reshape((slopes,) + (1,) * (input.ndim - 2))
    elif weight.ndim == 1:
        weight = weight.reshape(())
    if input.dtype != weight.dtype:
        if input.dtype.kind == "f" and weight.dtype.kind == "f":   # as PyTorch: no promotion
            raise DtypeError(f"prelu: input is {input.dtype} and weight is {weight.dtype}; give "
                             f"both the same floating dtype (e.g. PReLU(dtype=...) or .to())")
        input, weight = promote(input, weight)
    return PRelu.apply(input, weight)
