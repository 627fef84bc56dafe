"""Upsample (and PyTorch's two fixed-mode shorthands): ``F.interpolate`` as a layer."""
from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn._sampling_functions import MODES
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

# Interpolation weights per output element (see Upsample.forward_macs).
_WEIGHTS_PER_AXIS = {"linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


class Upsample(Module):
    """Resize (N, C, *spatial) input (1 to 3 spatial dims) to ``size`` or by
    ``scale_factor`` with ``mode`` nearest, nearest-exact, linear, bilinear, bicubic,
    trilinear or area; see :func:`chainrule.nn.functional.interpolate`.

    Example:
        >>> up = cr.nn.Upsample(scale_factor=2, mode="bilinear")
        >>> up(cr.randn(1, 3, 8, 8)).shape
        (1, 3, 16, 16)
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"{type(self).__name__}: mode must be one of {', '.join(MODES)}, "
                             f"got {mode!r}")
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        return f"{what}, mode={self.mode!r}"

    def forward_macs(self, inputs: tuple, output) -> int:
        """Nearest modes copy (0); linear modes weigh 2 inputs per spatial axis for each
        output element (bilinear 4, trilinear 8), bicubic 4 per axis (16); area averages,
        one per input element."""
        if self.mode in ("nearest", "nearest-exact"):
            return 0
        if self.mode == "area":
            return inputs[0].numel()
        return output.numel() * _WEIGHTS_PER_AXIS[self.mode] ** (output.ndim - 2)


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode="nearest")`` for (N, C, H, W) input.

    Example: ``cr.nn.UpsamplingNearest2d(scale_factor=2)``
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode="bilinear", align_corners=True)`` for
    (N, C, H, W) input.

    Example: ``cr.nn.UpsamplingBilinear2d(scale_factor=2)``
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
