"""Observers: modules that watch the values flowing through them and choose the int8 grid
(scale and zero point) that covers them, with PyTorch's names and formulas
(``torch.ao.quantization.MinMaxObserver`` and friends, dtype ``qint8``, range [-128, 127]).

Ranges always include 0, so 0 is exactly representable (zero padding, ReLU zeros):

* affine:    scale = (max - min) / 255,           zero_point = -128 - round(min / scale)
* symmetric: scale = max(|min|, max) / 127.5,     zero_point = 0

    >>> obs = MinMaxObserver()
    >>> _ = obs(cr.tensor([-1.0, 0.5, 3.0]))
    >>> scale, zero_point = obs.calculate_qparams()
    >>> float(scale), int(zero_point)
    (0.01568627543747425, -64)
"""
from __future__ import annotations

import numpy as np

from chainrule.nn.module import Module
from chainrule.quantization.functional import QINT8_MAX, QINT8_MIN
from chainrule.tensor import Tensor

__all__ = ["QSCHEMES", "MinMaxObserver", "MovingAverageMinMaxObserver", "PerChannelMinMaxObserver"]

QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
            "per_channel_symmetric")
_EPS = np.finfo(np.float32).eps  # the smallest scale (PyTorch's default eps)


def qparams(min_val: np.ndarray, max_val: np.ndarray, symmetric: bool,
            quant_min: int = QINT8_MIN, quant_max: int = QINT8_MAX) -> tuple[np.ndarray, np.ndarray]:
    """(scale float32, zero_point int64) covering [min_val, max_val] (arrays of one shape)."""
    lo = np.minimum(np.asarray(min_val, dtype=np.float32), np.float32(0))
    hi = np.maximum(np.asarray(max_val, dtype=np.float32), np.float32(0))
    if symmetric:
        scale = np.maximum(np.maximum(-lo, hi) / np.float32((quant_max - quant_min) / 2), _EPS)
        return scale.astype(np.float32), np.zeros(scale.shape, dtype=np.int64)
    scale = np.maximum((hi - lo) / np.float32(quant_max - quant_min), _EPS).astype(np.float32)
    zero_point = quant_min - np.rint(lo / scale).astype(np.int64)
    return scale, np.clip(zero_point, quant_min, quant_max)


class _ObserverBase(Module):
    """Keeps running ``min_val``/``max_val`` buffers; ``forward`` returns its input unchanged."""

    _per_channel = False

    def __init__(self, qscheme: str, quant_min: int = QINT8_MIN, quant_max: int = QINT8_MAX):
        super().__init__()
        if qscheme not in QSCHEMES or qscheme.startswith("per_channel") != self._per_channel:
            allowed = [q for q in QSCHEMES if q.startswith("per_channel") == self._per_channel]
            raise ValueError(f"{type(self).__name__}: qscheme must be one of {allowed}, got "
                             f"{qscheme!r}")
        if not quant_min <= 0 <= quant_max or quant_min >= quant_max:
            raise ValueError(f"{type(self).__name__}: need quant_min <= 0 <= quant_max, got "
                             f"{quant_min} and {quant_max}")
        self.qscheme, self.quant_min, self.quant_max = qscheme, int(quant_min), int(quant_max)
        self.register_buffer("min_val", Tensor(np.array(np.inf, dtype=np.float32)))
        self.register_buffer("max_val", Tensor(np.array(-np.inf, dtype=np.float32)))

    def _extremes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.float32(x.min()), np.float32(x.max())

    def _update(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self.min_val = Tensor(np.minimum(self.min_val.data, lo).astype(np.float32))
        self.max_val = Tensor(np.maximum(self.max_val.data, hi).astype(np.float32))

    def forward(self, x: Tensor) -> Tensor:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.size:
            self._update(*self._extremes(data))
        return x

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, zero_point) for the values seen so far."""
        if not np.all(np.isfinite(self.min_val.data)):
            raise ValueError(f"{type(self).__name__}: no values observed yet, so there is no "
                             f"range to quantise (run calibration data through the model first)")
        return qparams(self.min_val.data, self.max_val.data, self.qscheme.endswith("symmetric"),
                       self.quant_min, self.quant_max)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val.data}, max_val={self.max_val.data}"

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0


class MinMaxObserver(_ObserverBase):
    """The running minimum and maximum of everything seen (calibration of activations).

    Args:
        qscheme: ``"per_tensor_affine"`` (default) or ``"per_tensor_symmetric"``.
    """

    def __init__(self, qscheme: str = "per_tensor_affine", quant_min: int = QINT8_MIN,
                 quant_max: int = QINT8_MAX):
        super().__init__(qscheme, quant_min, quant_max)


class MovingAverageMinMaxObserver(MinMaxObserver):
    """An exponential moving average of each batch's minimum and maximum (the first batch
    sets them): ``min = min + c (batch_min - min)``, for activations during
    quantisation-aware training, where ranges drift as the weights learn."""

    def __init__(self, averaging_constant: float = 0.01, qscheme: str = "per_tensor_affine",
                 quant_min: int = QINT8_MIN, quant_max: int = QINT8_MAX):
        super().__init__(qscheme, quant_min, quant_max)
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"MovingAverageMinMaxObserver: averaging_constant must be in (0, 1], "
                             f"got {averaging_constant}")
        self.averaging_constant = float(averaging_constant)

    def _update(self, lo, hi) -> None:
        if not np.isfinite(self.min_val.data):
            self.min_val, self.max_val = Tensor(np.asarray(lo)), Tensor(np.asarray(hi))
            return
        c = np.float32(self.averaging_constant)
        self.min_val = Tensor((self.min_val.data + c * (lo - self.min_val.data)).astype(np.float32))
        self.max_val = Tensor((self.max_val.data + c * (hi - self.max_val.data)).astype(np.float32))


class PerChannelMinMaxObserver(_ObserverBase):
    """Running minimum and maximum per slice along ``ch_axis`` (weights: one per output).

    Args:
        ch_axis: the channel axis (0: a Linear's or Conv2d's output).
        qscheme: ``"per_channel_symmetric"`` (default) or ``"per_channel_affine"``.
    """

    _per_channel = True

    def __init__(self, ch_axis: int = 0, qscheme: str = "per_channel_symmetric",
                 quant_min: int = QINT8_MIN, quant_max: int = QINT8_MAX):
        super().__init__(qscheme, quant_min, quant_max)
        self.ch_axis = int(ch_axis)

    def _extremes(self, x: np.ndarray):
        rows = np.moveaxis(x, self.ch_axis, 0).reshape(x.shape[self.ch_axis], -1)
        return rows.min(axis=1).astype(np.float32), rows.max(axis=1).astype(np.float32)

    def _update(self, lo, hi) -> None:
        if self.min_val.data.shape != lo.shape:   # first batch: one entry per channel
            self.min_val, self.max_val = Tensor(lo), Tensor(hi)
            return
        super()._update(lo, hi)
