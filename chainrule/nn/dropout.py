"""Dropout: random zeroing in training, the identity in evaluation."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the survivors by
    1/(1-p), so the expected output equals the input; in eval mode, return the input.

    The mask comes from chainrule's global generator (``cr.manual_seed`` fixes it).

    Example:
        >>> drop = cr.nn.Dropout(0.2)
        >>> drop.eval()(x) is x
        True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # a mask: no multiply-adds counted
