"""Linear (fully connected) layer and Identity."""
from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.nn import init
from chainrule.nn._factory import non_negative_int, param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as in PyTorch);
    handy as a placeholder when swapping layers out."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features) and b of shape
    (out_features,), exactly as ``torch.nn.Linear`` (so weights copy across one to one).

    Default initialisation (PyTorch's): W ~ U(-1/sqrt(in), 1/sqrt(in)) via
    ``kaiming_uniform_(a=sqrt(5))``, and b ~ U(-1/sqrt(in), 1/sqrt(in)).

    Example:
        >>> layer = cr.nn.Linear(3, 2)
        >>> layer(cr.randn(5, 3)).shape
        (5, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in_features = non_negative_int("Linear: in_features", in_features)
        self.out_features = non_negative_int("Linear: out_features", out_features)
        dt = param_dtype(device, dtype)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((out_features,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw the weights with PyTorch's default initialisation."""
        init.default_reset_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return ops.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")

    def forward_macs(self, inputs: tuple, output) -> int:
        """A dot product of length in_features per output element (the bias add is not counted)."""
        return output.numel() * self.in_features
