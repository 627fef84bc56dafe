"""Quantised layers (int8 inference) and their quantisation-aware-training counterparts.

:class:`QuantizedLinear` and :class:`QuantizedConv2d` hold int8 weights with one symmetric
scale per output channel, and the scale and zero point of their input, calibrated
beforehand. A forward pass

1. quantises the float input to int8 with the calibrated (scale s_x, zero point z_x),
2. multiplies int8 by int8 with exact int32 accumulation (:func:`int8_matmul`):
   ``acc[o] = sum_k x_q[k] w_q[o, k]``,
3. rescales once per output channel: ``y[o] = s_x s_w[o] (acc[o] - z_x sum_k w_q[o, k]) + b[o]``
   (the zero point's share, ``z_x sum_k w_q[o, k]``, is an int32 constant of the layer).

Activations between layers stay float (ReLU, pooling and reshapes are unchanged); each
quantised layer quantises its own input, as PyTorch's eager mode does between a QuantStub
and a DeQuantStub. These layers are for inference: nothing in them is differentiable.

:class:`QATLinear` and :class:`QATConv2d` train with fake quantisation: the weight (per
channel, symmetric, from its current range) and the input (per tensor, a moving-average
range) are rounded to their int8 grids in forward, and the gradient passes straight
through the rounding.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import nn
from chainrule.autograd import Function
from chainrule.ops.conv import pair
from chainrule.quantization.functional import (
    QINT8_MAX, QINT8_MIN, fake_quantize_per_channel_affine, fake_quantize_per_tensor_affine,
    int8_matmul, quantize_per_channel, quantize_per_tensor)
from chainrule.quantization.observers import (
    MovingAverageMinMaxObserver, PerChannelMinMaxObserver, qparams)
from chainrule.tensor import Tensor

__all__ = ["QuantizedLinear", "QuantizedConv2d", "FakeQuantize", "QATLinear", "QATConv2d",
           "quantize_weight", "QuantizedLinearFunction", "QuantizedConv2dFunction"]


def quantize_weight(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes, float32 scale per output channel) of a weight, symmetric per channel
    (PyTorch's ``per_channel_symmetric`` qint8: scale = max |w[o]| / 127.5)."""
    rows = weight.reshape(weight.shape[0], -1)
    scale, zero_point = qparams(rows.min(axis=1), rows.max(axis=1), symmetric=True)
    return quantize_per_channel(weight, scale, zero_point, axis=0), scale


# ----------------------------------------------------------------- the int8 arithmetic
def _rescale(acc: np.ndarray, weight: np.ndarray, weight_scale: np.ndarray, bias,
             input_scale: np.ndarray, input_zero_point: np.ndarray, shape: tuple) -> np.ndarray:
    """float32 outputs from the int32 accumulators ``acc``: the input's zero point taken out
    (``z_x sum_k W_q[o, k]``, an int32 constant per output), times ``s_x s_w[o]``, plus the
    bias; ``shape`` broadcasts the per-output values along acc's output axis."""
    zero_share = int(input_zero_point) * weight.reshape(weight.shape[0], -1).sum(axis=1, dtype=np.int32)
    acc -= zero_share.reshape(shape)
    y = acc.astype(np.float32)
    y *= (input_scale * weight_scale).astype(np.float32).reshape(shape)
    if bias is not None:
        y += bias.reshape(shape)
    return y


class _Int8Inference(Function):
    """Base of the int8 layers' operations: recorded like any operation (so ``cr.onnx``
    can export them, as QDQ), but without a gradient."""

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("int8 layers are for inference: no gradient flows through them; "
                           "train the float model (or a prepare_qat model) and convert it again")


class QuantizedLinearFunction(_Int8Inference):
    """y = s_x s_w (x_q W_q^T - z_x sum_k W_q) + b for float input x (..., in): x quantised
    with (s_x, z_x), the product int8 x int8 accumulated in int32."""

    @staticmethod
    def forward(ctx, x, weight, weight_scale, bias, input_scale, input_zero_point):
        xq = quantize_per_tensor(x, float(input_scale), int(input_zero_point))
        acc = int8_matmul(xq.reshape(-1, weight.shape[1]), weight.T)
        y = _rescale(acc, weight, weight_scale, bias, input_scale, input_zero_point, (1, -1))
        return y.reshape(x.shape[:-1] + (weight.shape[0],))


class QuantizedConv2dFunction(_Int8Inference):
    """A convolution of float input x (N, C, H, W) quantised with (s_x, z_x), padded with z_x
    (the code of a real 0), its windows multiplied by the int8 filters in int32."""

    @staticmethod
    def forward(ctx, x, weight, weight_scale, bias, input_scale, input_zero_point, *,
                stride, padding, dilation, groups):
        xq = quantize_per_tensor(x, float(input_scale), int(input_zero_point))
        cols, (ho, wo) = _columns(xq, weight.shape[2:], stride, padding, dilation,
                                  int(input_zero_point))
        o = weight.shape[0]
        w = weight.reshape(groups, o // groups, -1)
        per_group = cols.reshape(groups, cols.shape[0] // groups, -1)
        acc = np.concatenate([int8_matmul(w[i], per_group[i]) for i in range(groups)])
        y = _rescale(acc, weight, weight_scale, bias, input_scale, input_zero_point, (-1, 1))
        return np.ascontiguousarray(y.reshape(o, x.shape[0], ho, wo).transpose(1, 0, 2, 3))


def _columns(xq: np.ndarray, kernel, stride, padding, dilation, fill: int):
    """(N, C, H, W) int8 -> the (C*kh*kw, N*Ho*Wo) int8 windows, and (Ho, Wo); the input is
    padded (top, bottom, left, right) with ``fill``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    xp = np.pad(xq, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"QuantizedConv2d: the padded input {xp.shape[2:]} is smaller than "
                         f"the dilated kernel")
    view = np.lib.stride_tricks.sliding_window_view(
        xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    view = view[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]          # (N, C, Ho, Wo, kh, kw)
    cols = view.transpose(1, 4, 5, 0, 2, 3).reshape(xq.shape[1] * kh * kw, -1)
    return cols, (ho, wo)


# ---------------------------------------------------------------------------- layers
class _Quantized(nn.Module):
    """What both quantised layers share: the int8 weight, its scales, the input's qparams."""

    def __init__(self, weight_shape: tuple[int, ...], bias: bool):
        super().__init__()
        out = weight_shape[0]
        self.register_buffer("weight", Tensor(np.zeros(weight_shape, dtype=np.int8)))
        self.register_buffer("weight_scale", Tensor(np.ones(out, dtype=np.float32)))
        self.register_buffer("bias", Tensor(np.zeros(out, dtype=np.float32)) if bias else None)
        self.register_buffer("input_scale", Tensor(np.array(1.0, dtype=np.float32)))
        self.register_buffer("input_zero_point", Tensor(np.array(0, dtype=np.int32)))

    def _set(self, float_layer, input_scale, input_zero_point) -> None:
        weight, scale = quantize_weight(float_layer.weight.data)
        self.weight, self.weight_scale = Tensor(weight), Tensor(scale)
        if float_layer.bias is not None:
            self.bias = Tensor(float_layer.bias.data.astype(np.float32))
        self.input_scale = Tensor(np.array(input_scale, dtype=np.float32).reshape(()))
        self.input_zero_point = Tensor(np.array(input_zero_point, dtype=np.int32).reshape(()))

    def _arguments(self) -> tuple:
        return (self.weight, self.weight_scale, self.bias, self.input_scale,
                self.input_zero_point)


class QuantizedLinear(_Quantized):
    """An int8 Linear: y = x W^T + b with int8 W (per-channel scales) and int8 x.

    Build it from a float layer and its input's calibrated qparams with :meth:`from_float`
    (``chainrule.quantization.convert`` does that for a whole model).

    Example:
        >>> layer = cr.nn.Linear(4, 3)
        >>> q = QuantizedLinear.from_float(layer, input_scale=0.02, input_zero_point=0)
        >>> q.weight.dtype, q(cr.ones(2, 4)).shape
        (dtype('int8'), (2, 3))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__((out_features, in_features), bias)
        self.in_features, self.out_features = int(in_features), int(out_features)

    @classmethod
    def from_float(cls, layer: nn.Linear, input_scale: float, input_zero_point: int) -> "QuantizedLinear":
        """The int8 twin of ``layer`` for inputs on the grid (``input_scale``, ``input_zero_point``)."""
        q = cls(layer.in_features, layer.out_features, layer.bias is not None)
        q._set(layer, input_scale, input_zero_point)
        return q

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 1 or input.shape[-1] != self.in_features:
            raise ValueError(f"QuantizedLinear: expected inputs with {self.in_features} features "
                             f"in the last dimension, got shape {tuple(input.shape)}")
        return QuantizedLinearFunction.apply(input, *self._arguments())

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"input_scale={float(self.input_scale.data):.4g}, "
                f"input_zero_point={int(self.input_zero_point.data)}")

    def forward_macs(self, inputs: tuple, output) -> int:
        return output.numel() * self.in_features


def _explicit_padding(padding, kernel, dilation) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from a Conv2d's padding (a pair, 'valid' or 'same'; 'same'
    puts an odd total's extra row/column at the bottom/right, as PyTorch does)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return (totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2)
    ph, pw = pair(padding, "padding")
    return (ph, ph, pw, pw)


class QuantizedConv2d(_Quantized):
    """An int8 Conv2d: the int8 input's windows (padded with the zero point, which stands for
    a real 0) as columns, multiplied by the int8 filters with int32 accumulation.

    Example:
        >>> conv = cr.nn.Conv2d(1, 4, 3, padding=1)
        >>> q = QuantizedConv2d.from_float(conv, input_scale=0.05, input_zero_point=-10)
        >>> q(cr.randn(2, 1, 8, 8)).shape
        (2, 4, 8, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        self.kernel_size = pair(kernel_size, "kernel_size")
        super().__init__((out_channels, in_channels // groups) + self.kernel_size, bias)
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.stride, self.dilation = pair(stride, "stride"), pair(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding")

    @classmethod
    def from_float(cls, conv: nn.Conv2d, input_scale: float, input_zero_point: int) -> "QuantizedConv2d":
        """The int8 twin of ``conv`` for inputs on the grid (``input_scale``, ``input_zero_point``)."""
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                conv.dilation, conv.groups, conv.bias is not None)
        q._set(conv, input_scale, input_zero_point)
        return q

    def forward(self, input: Tensor) -> Tensor:
        unbatched = input.ndim == 3
        x = input.unsqueeze(0) if unbatched else input
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"QuantizedConv2d: expected input (N, {self.in_channels}, H, W), "
                             f"got shape {tuple(input.shape)}")
        y = QuantizedConv2dFunction.apply(
            x, *self._arguments(), stride=self.stride, groups=self.groups, dilation=self.dilation,
            padding=_explicit_padding(self.padding, self.kernel_size, self.dilation))
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"input_scale={float(self.input_scale.data):.4g}, "
                f"input_zero_point={int(self.input_zero_point.data)}")

    def forward_macs(self, inputs: tuple, output) -> int:
        return output.numel() * (self.in_channels // self.groups) * math.prod(self.kernel_size)


# ------------------------------------------------------------------------------ QAT
class FakeQuantize(nn.Module):
    """Observe the values passing through, then round them to the observed int8 grid
    (straight-through gradient), as ``torch.ao.quantization.FakeQuantize``.

    Args:
        observer: the observer choosing the grid (default: a per-tensor moving average).
    """

    def __init__(self, observer: nn.Module | None = None):
        super().__init__()
        self.activation_post_process = observer or MovingAverageMinMaxObserver()
        self.observer_enabled, self.fake_quant_enabled = True, True

    def forward(self, x: Tensor) -> Tensor:
        if self.observer_enabled and self.training:
            self.activation_post_process(x.detach())
        if not self.fake_quant_enabled:
            return x
        scale, zero_point = self.calculate_qparams()
        obs = self.activation_post_process
        if isinstance(obs, PerChannelMinMaxObserver):
            return fake_quantize_per_channel_affine(x, scale, zero_point, obs.ch_axis,
                                                    obs.quant_min, obs.quant_max)
        return fake_quantize_per_tensor_affine(x, float(scale), int(zero_point), obs.quant_min,
                                               obs.quant_max)

    def calculate_qparams(self):
        return self.activation_post_process.calculate_qparams()

    def forward_macs(self, inputs: tuple, output) -> int:
        return 0


def _fake_quantized_weight(weight: Tensor) -> Tensor:
    """The weight on its per-channel symmetric int8 grid, taken from its current range (the
    grid ``convert`` will use), with the straight-through gradient."""
    rows = weight.data.reshape(weight.shape[0], -1)
    scale, zero_point = qparams(rows.min(axis=1), rows.max(axis=1), symmetric=True)
    return fake_quantize_per_channel_affine(weight, scale, zero_point, 0, QINT8_MIN, QINT8_MAX)


class QATLinear(nn.Linear):
    """A Linear that trains through fake quantisation of its input and weight; its
    parameters are a Linear's (``weight``, ``bias``), so float weights load into it."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.input_fake_quant = FakeQuantize()

    @classmethod
    def from_float(cls, layer: nn.Linear) -> "QATLinear":
        q = cls(layer.in_features, layer.out_features, layer.bias is not None)
        q.weight, q.bias = layer.weight, layer.bias
        return q

    def forward(self, input: Tensor) -> Tensor:
        return nn.functional.linear(self.input_fake_quant(input),
                                    _fake_quantized_weight(self.weight), self.bias)


class QATConv2d(nn.Conv2d):
    """A Conv2d that trains through fake quantisation of its input and weight."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_fake_quant = FakeQuantize()

    @classmethod
    def from_float(cls, conv: nn.Conv2d) -> "QATConv2d":
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                bias=conv.bias is not None)
        q.weight, q.bias = conv.weight, conv.bias
        return q

    def forward(self, input: Tensor) -> Tensor:
        return nn.functional.conv2d(self.input_fake_quant(input),
                                    _fake_quantized_weight(self.weight), self.bias, self.stride,
                                    self.padding, self.dilation, self.groups)
