"""Channel dropout for convolutional features: Dropout1d, Dropout2d (their functional forms
are ``F.dropout1d``/``F.dropout2d``). Neighbouring pixels of a feature map are strongly
correlated, so dropping single elements barely regularises a conv net; these drop whole
channels instead.
"""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["Dropout1d", "Dropout2d"]


class _ChannelDropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability has to be between 0 and 1, "
                             f"but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # a mask: no multiply-adds counted


class Dropout2d(_ChannelDropout):
    """In training, zero each channel of (N, C, H, W) with probability ``p`` (the whole
    H x W map at once) and scale the others by 1/(1-p); in eval mode, the identity.

    Example:
        >>> drop = cr.nn.Dropout2d(0.2)
        >>> drop(cr.randn(4, 16, 8, 8)).shape
        (4, 16, 8, 8)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)


class Dropout1d(_ChannelDropout):
    """In training, zero each channel of (N, C, L) with probability ``p``.

    Example:
        >>> cr.nn.Dropout1d(0.1)(cr.randn(4, 16, 30)).shape
        (4, 16, 30)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training)
