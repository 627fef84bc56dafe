"""int8 quantisation of Linear and Conv2d layers: post-training (calibrated) and
quantisation-aware training, with PyTorch's eager-mode names.

    >>> import chainrule as cr
    >>> from chainrule import quantization
    >>> model = cr.nn.Sequential(cr.nn.Linear(8, 16), cr.nn.ReLU(), cr.nn.Linear(16, 3))
    >>> qmodel = quantization.quantize(model, cr.train.predict, (cr.randn(64, 8),))
    >>> qmodel
    Sequential(
      (0): QuantizedLinear(in_features=8, out_features=16, ...)
      (1): ReLU()
      (2): QuantizedLinear(in_features=16, out_features=3, ...)
    )

Weights are int8 with a symmetric scale per output channel; each layer's input is quantised
to int8 with a scale and zero point calibrated on sample data; the products run in int8
with exact int32 accumulation and are rescaled to float once per output
(:mod:`chainrule.quantization.modules` has the arithmetic). A converted model's
``state_dict`` holds the int8 weights, so its checkpoint is about 4x smaller.

This package sits above ``nn`` (it swaps nn layers) and below ``train``.
"""
from chainrule.quantization.workflow import (
    convert, prepare, prepare_qat, quantize, quantized_layer_names, quantized_skeleton)
from chainrule.quantization.functional import (
    dequantize, fake_quantize_per_channel_affine, fake_quantize_per_tensor_affine, int8_matmul,
    quantize_per_channel, quantize_per_tensor)
from chainrule.quantization.modules import (
    FakeQuantize, QATConv2d, QATLinear, QuantizedConv2d, QuantizedLinear, quantize_weight)
from chainrule.quantization.observers import (
    MinMaxObserver, MovingAverageMinMaxObserver, PerChannelMinMaxObserver)

__all__ = ["prepare", "convert", "quantize", "prepare_qat", "quantized_layer_names",
           "quantized_skeleton", "quantize_per_tensor", "quantize_per_channel", "dequantize",
           "int8_matmul", "fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine",
           "QuantizedLinear", "QuantizedConv2d", "QATLinear", "QATConv2d", "FakeQuantize",
           "quantize_weight", "MinMaxObserver", "MovingAverageMinMaxObserver",
           "PerChannelMinMaxObserver"]
