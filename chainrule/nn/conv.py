"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d.

Parameter names, shapes and default initialisation are PyTorch's, so weights copy across
one to one: ``weight`` is (out, in/groups, *kernel) for a convolution and (in, out/groups,
*kernel) for a transposed one; ``bias`` is (out,). Both are drawn from U(-1/sqrt(fan_in),
1/sqrt(fan_in)) (``kaiming_uniform_(a=sqrt(5))`` for the weight), with fan_in =
weight.shape[1] * prod(kernel), as PyTorch computes it.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.nn import init
from chainrule.nn._factory import param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, pair
from chainrule.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class _ConvNd(Module):
    """What every convolution layer shares: argument checks, parameters, init, repr."""

    _nd = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
                 dilation, groups: int, bias: bool, padding_mode: str, output_padding=0,
                 device=None, dtype=None):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        self.in_channels = _positive_int(f"{name}: in_channels", in_channels)
        self.out_channels = _positive_int(f"{name}: out_channels", out_channels)
        self.groups = _positive_int(f"{name}: groups", groups)
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by "
                             f"groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        self.kernel_size = pair(kernel_size, "kernel_size", nd)
        self.stride = pair(stride, "stride", nd)
        self.dilation = pair(dilation, "dilation", nd)
        for what, v in (("kernel_size", self.kernel_size), ("stride", self.stride),
                        ("dilation", self.dilation)):
            if min(v) < 1:
                raise ValueError(f"{name}: {what} must be positive, got {v}")
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                allowed = "an int or a tuple" if self._transposed else \
                    "'same', 'valid', an int or a tuple"
                raise ValueError(f"{name}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and self.stride != (1,) * nd:
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", nd)
            if min(self.padding) < 0:
                raise ValueError(f"{name}: padding must be non-negative, got {self.padding}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode={padding_mode!r} is not supported; chainrule "
                             f"convolutions pad with zeros only (padding_mode='zeros')")
        self.padding_mode = padding_mode
        self.output_padding = pair(output_padding, "output_padding", nd)
        self.transposed = self._transposed
        dt = param_dtype(device, dtype)
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw the weights with PyTorch's default initialisation."""
        init.default_reset_(self.weight, self.bias)

    def extra_repr(self) -> str:
        nd = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"     # as PyTorch prints it: padding=same
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s

    def forward_macs(self, inputs: tuple, output) -> int:
        """Per output element, in_channels/groups x kernel elements products."""
        return output.numel() * (self.in_channels // self.groups) * math.prod(self.kernel_size)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) (or unbatched (C_in, L)) -> (N, C_out, L_out).

    Example:
        >>> conv = cr.nn.Conv1d(3, 8, kernel_size=5, padding="same")
        >>> conv(cr.randn(4, 3, 20)).shape
        (4, 8, 20)
    """

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        return conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) (or unbatched (C_in, H, W)).

    Output size per axis: floor((H + 2 padding - dilation (kernel - 1) - 1) / stride) + 1;
    ``padding='same'`` keeps H (stride 1; an odd total goes to the bottom/right).

    Example:
        >>> conv = cr.nn.Conv2d(1, 6, kernel_size=5, padding=2)
        >>> conv(cr.randn(8, 1, 28, 28)).shape
        (8, 6, 28, 28)
    """

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def _output_padding(self, input: Tensor, output_size) -> tuple[int, ...]:
        """PyTorch's ``output_size=``: the output_padding that makes the output that size."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = tuple(output_size)[-nd:]
        if len(size) != nd:
            raise ValueError(f"{type(self).__name__}: output_size must have {nd} spatial sizes "
                             f"(optionally after batch and channel), got {output_size!r}")
        pads = []
        for d in range(nd):
            n = input.shape[input.ndim - nd + d]
            smallest = ((n - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            largest = smallest + max(self.stride[d], self.dilation[d]) - 1
            if not smallest <= size[d] <= largest:
                raise ValueError(f"{type(self).__name__}: requested output size {tuple(size)} "
                                 f"is not reachable from input {input.shape}; dim {d} must lie in "
                                 f"{smallest}..{largest}")
            pads.append(size[d] - smallest)
        return tuple(pads)

    def forward_macs(self, inputs: tuple, output) -> int:
        """Per input element, out_channels/groups x kernel elements products (each input element
        is spread over a kernel-sized patch of every output channel of its group)."""
        return inputs[0].numel() * (self.out_channels // self.groups) * math.prod(self.kernel_size)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C_in, L): L_out = (L - 1) stride - 2 padding +
    dilation (kernel - 1) + output_padding + 1.

    Example:
        >>> up = cr.nn.ConvTranspose1d(4, 2, kernel_size=4, stride=2, padding=1)
        >>> up(cr.randn(1, 4, 10)).shape
        (1, 2, 20)
    """

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device=device, dtype=dtype)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups,
                                self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (the gradient of Conv2d with respect to its input), used
    to upsample: H_out = (H - 1) stride - 2 padding + dilation (kernel - 1) +
    output_padding + 1. ``forward(x, output_size=...)`` picks the output_padding for you.

    Example:
        >>> up = cr.nn.ConvTranspose2d(16, 8, kernel_size=3, stride=2, padding=1, output_padding=1)
        >>> up(cr.randn(2, 16, 7, 7)).shape
        (2, 8, 14, 14)
    """

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device=device, dtype=dtype)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups,
                                self.dilation)
