"""Activation layers: thin Modules over the engine's activation primitives.

``inplace=True`` is accepted (and shown in the repr) so PyTorch code runs unchanged; the
output is always a new tensor.
"""
from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn._factory import non_negative_int, param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


class _Activation(Module):
    """An activation: elementwise (softmax: along one dim), so by ``forward_macs``'s rules
    it costs no multiply-adds."""

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0


class _Inplace(_Activation):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """max(x, 0). Example: ``cr.nn.ReLU()(cr.tensor([-1., 2.]))`` -> [0., 2.]"""

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)


class SiLU(_Inplace):
    """x sigmoid(x) (swish)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)


class LeakyReLU(_Activation):
    """x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class PReLU(_Activation):
    """x where x > 0, else a * x with a learned slope ``a``: one shared (``num_parameters=1``)
    or one per channel (dim 1 of the input), each starting at ``init``. Parameter:
    ``weight`` of shape (num_parameters,).

    Example:
        >>> act = cr.nn.PReLU(16)                  # one slope per channel
        >>> act(cr.randn(8, 16, 10)).shape
        (8, 16, 10)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = non_negative_int("PReLU: num_parameters", num_parameters)
        self.init = init
        self.weight = Parameter(np.full(self.num_parameters, init, dtype=param_dtype(device, dtype)))

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(_Activation):
    """x where x > 0, else alpha (e^x - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(_Activation):
    """x Phi(x), exact (``approximate='none'``) or with the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(_Activation):
    """1 / (1 + e^-x)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(_Activation):
    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Softplus(_Activation):
    """log(1 + e^(beta x)) / beta, linear where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(_Activation):
    """Softmax along ``dim``. Example: ``cr.nn.Softmax(dim=1)(logits)``"""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(_Activation):
    """log(softmax) along ``dim``, computed stably (pair it with NLLLoss)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
