"""Channel dropout for convolutional features: Dropout1d, Dropout2d (and their functional
forms). Neighbouring pixels of a feature map are strongly correlated, so dropping single
elements barely regularises a conv net; these drop whole channels instead.
"""
from __future__ import annotations

import numpy as np

from chainrule.nn.module import Module
from chainrule.random import default_generator
from chainrule.tensor import Tensor

__all__ = ["dropout1d", "dropout2d", "Dropout1d", "Dropout2d"]


def _channel_dropout(name: str, input: Tensor, p: float, training: bool, ranks: tuple,
                     unbatched_rank: int) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: probability has to be between 0 and 1, but got {p}")
    if input.ndim not in ranks:
        raise ValueError(f"{name}: expected a {' or '.join(f'{r}-D' for r in ranks)} input, "
                         f"got shape {input.shape}")
    if not training or p == 0.0:
        return input
    # One draw per (sample, channel); unbatched input has the channel first.
    lead = 1 if input.ndim == unbatched_rank else 2
    shape = input.shape[:lead] + (1,) * (input.ndim - lead)
    if p == 1.0:
        return input * np.zeros(shape, dtype=input.dtype)
    keep = default_generator().random(shape) >= p
    return input * (keep * (1.0 / (1.0 - p))).astype(input.dtype)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) (or (N, C, L)) with probability ``p`` and scale
    the kept ones by 1/(1-p); the identity when not training. ``inplace`` is accepted for
    PyTorch compatibility; the result is always a new tensor.

    Example:
        >>> y = dropout2d(cr.ones(2, 8, 4, 4), 0.5)   # each y[n, c] is all 0 or all 2
    """
    return _channel_dropout("dropout2d", input, p, training, (3, 4), -1)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) (or unbatched (C, L)) with probability ``p``.

    Example:
        >>> y = dropout1d(cr.ones(2, 8, 10), 0.25)
    """
    return _channel_dropout("dropout1d", input, p, training, (2, 3), 2)


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
        return dropout2d(input, self.p, self.training)


class Dropout1d(_ChannelDropout):
    """In training, zero each channel of (N, C, L) with probability ``p``.

    Example:
        >>> cr.nn.Dropout1d(0.1)(cr.randn(4, 16, 30)).shape
        (4, 16, 30)
    """

    def forward(self, input: Tensor) -> Tensor:
        return dropout1d(input, self.p, self.training)
