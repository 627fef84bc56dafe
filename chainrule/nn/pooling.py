"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d (PyTorch's arguments).

They hold no parameters; each forwards to the pooling primitive in ``chainrule.ops.pool``.
"""
from __future__ import annotations

import math

from chainrule.nn.module import Module
from chainrule.ops import pool
from chainrule.tensor import Tensor

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d"]


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0  # comparisons


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of (N, C, L); ``stride`` defaults to ``kernel_size``; padding
    reads as -inf.

    Example:
        >>> cr.nn.MaxPool1d(2)(cr.randn(4, 3, 10)).shape
        (4, 3, 5)
    """

    def forward(self, input: Tensor):
        return pool.max_pool1d(input, self.kernel_size, self.stride, self.padding,
                               self.dilation, self.ceil_mode, self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of (N, C, H, W); ``stride`` defaults to ``kernel_size``;
    padding reads as -inf. The gradient goes to each window's maximum (the first one on ties,
    as PyTorch). ``return_indices=True`` also returns the flat H*W index of each maximum.

    Example:
        >>> cr.nn.MaxPool2d(2)(cr.randn(4, 3, 28, 28)).shape
        (4, 3, 14, 14)
    """

    def forward(self, input: Tensor):
        return pool.max_pool2d(input, self.kernel_size, self.stride, self.padding,
                               self.dilation, self.ceil_mode, self.return_indices)


class AvgPool1d(Module):
    """Mean over sliding windows of (N, C, L).

    Example:
        >>> cr.nn.AvgPool1d(3, stride=2)(cr.randn(4, 3, 11)).shape
        (4, 3, 5)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return pool.avg_pool1d(input, self.kernel_size, self.stride, self.padding,
                               self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward_macs(self, inputs: tuple, output) -> int:
        """One per window element of each output."""
        k = self.kernel_size
        return output.numel() * (math.prod(k) if isinstance(k, (tuple, list)) else k)


class AvgPool2d(Module):
    """Mean over sliding windows of (N, C, H, W). Zero padding counts in the divisor unless
    ``count_include_pad=False``; ``divisor_override`` replaces the divisor.

    Example:
        >>> cr.nn.AvgPool2d(2)(cr.randn(4, 3, 8, 8)).shape
        (4, 3, 4, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return pool.avg_pool2d(input, self.kernel_size, self.stride, self.padding,
                               self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward_macs(self, inputs: tuple, output) -> int:
        """One per window element of each output."""
        k = self.kernel_size
        return output.numel() * (math.prod(k) if isinstance(k, (tuple, list)) else k * k)


class AdaptiveAvgPool1d(Module):
    """Average pooling of (N, C, L) to a fixed length.

    Example:
        >>> cr.nn.AdaptiveAvgPool1d(4)(cr.randn(2, 3, 10)).shape
        (2, 3, 4)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return pool.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward_macs(self, inputs: tuple, output) -> int:
        """One per input element (each is summed into its window)."""
        return inputs[0].numel()


class AdaptiveAvgPool2d(Module):
    """Average pooling of (N, C, H, W) to a fixed (Ho, Wo), whatever H and W are; output
    (i, j) averages rows floor(i H/Ho) .. ceil((i+1) H/Ho) - 1 (and likewise columns), as
    PyTorch. ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Example:
        >>> cr.nn.AdaptiveAvgPool2d((1, 1))(cr.randn(2, 64, 7, 7)).shape
        (2, 64, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return pool.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward_macs(self, inputs: tuple, output) -> int:
        """One per input element (each is summed into its window)."""
        return inputs[0].numel()
