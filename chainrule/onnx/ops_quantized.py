"""Emitters for the int8 layers of ``chainrule.quantization``: QDQ graphs.

An int8 layer becomes ONNX's quantize-dequantize ("QDQ") form, which onnxruntime and other
runtimes fuse into their integer kernels (QLinearMatMul, QLinearConv, ...):

    x --QuantizeLinear(s_x, z_x)--DequantizeLinear(s_x, z_x)--+
                                                              Gemm / MatMul+Add / Conv --> y
    W_q (int8) --DequantizeLinear(s_w per output channel, 0)--+

The int8 weight is stored as it is (an int8 initializer under its state-dict name), with its
per-channel scales; the input's scale is the layer's ``input_scale`` buffer and its zero
point an int8 constant. Rounding is the same as chainrule's: round(x / s) half to even, then
the zero point, clamped to [-128, 127].
"""
from __future__ import annotations

import numpy as np

from chainrule.onnx.ops_layers import _spatial_pads
from chainrule.onnx.registry import emitter
from chainrule.quantization.modules import QuantizedConv2dFunction, QuantizedLinearFunction


def _dequantized_input(node, g) -> str:
    """The layer's float input rounded to its int8 grid and back (QuantizeLinear and
    DequantizeLinear with the calibrated scale and zero point)."""
    scale = node.input(4)
    zero_point = g.constant(np.asarray(node.constant(5), dtype=np.int8).reshape(()))
    codes = g.op("QuantizeLinear", [node.input(0), scale, zero_point])
    return g.op("DequantizeLinear", [codes, scale, zero_point])


def _dequantized_weight(node, g) -> str:
    """The int8 weight times its per-output-channel scales (DequantizeLinear along axis 0)."""
    outputs = node.shapes(1)[0][0]
    zero_points = g.constant(np.zeros(outputs, dtype=np.int8))
    return g.op("DequantizeLinear", [node.input(1), node.input(2), zero_points], axis=0)


def _bias(node) -> list[str]:
    return [node.input(3)] if node.arg(3) is not None else []


@emitter(QuantizedLinearFunction)
def _quantized_linear(node, g):
    x, w = _dequantized_input(node, g), _dequantized_weight(node, g)
    if len(node.shapes(0)[0]) == 2:
        return g.op("Gemm", [x, w] + _bias(node), transB=1)
    out = g.op("MatMul", [x, g.op("Transpose", [w], perm=[1, 0])])
    return g.op("Add", [out] + _bias(node)) if _bias(node) else out


@emitter(QuantizedConv2dFunction)
def _quantized_conv2d(node, g):
    kernel = node.shapes(1)[0][2:]
    return g.op("Conv", [_dequantized_input(node, g), _dequantized_weight(node, g)] + _bias(node),
                kernel_shape=list(kernel), strides=list(node.setting(6, name="stride")),
                dilations=list(node.setting(8, name="dilation")),
                pads=_spatial_pads(node.setting(7, name="padding")),
                group=int(node.setting(9, name="groups")))
