"""ONNX forms of the fused layer operations: linear, convolutions, pooling, normalisation and
embedding lookup, each mapped onto ONNX's own operator (Gemm/MatMul, Conv, ConvTranspose,
MaxPool, AveragePool, BatchNormalization, LayerNormalization, Gather)."""
from __future__ import annotations

import numpy as np

from chainrule.ops.conv import Conv2d, ConvTranspose2d
from chainrule.ops.embedding import EmbeddingLookup
from chainrule.ops.nn import Linear
from chainrule.ops.norm import AffineNormalize
from chainrule.ops.pool import AvgPool2d, MaxPool2d
from chainrule.onnx.registry import emitter


@emitter(Linear)
def _linear(node, g):
    x, w = node.input(0), node.input(1)
    x_shape, w_shape = node.shapes(0)[0], node.shapes(1)[0]
    bias = node.arg(2)
    if len(w_shape) == 2 and len(x_shape) == 2:         # y = x W^T + b in one operator
        inputs = [x, w] + ([node.input(2)] if bias is not None else [])
        return g.op("Gemm", inputs, transB=1)
    weight = g.op("Transpose", [w], perm=[1, 0]) if len(w_shape) == 2 else w
    out = g.op("MatMul", [x, weight])
    return out if bias is None else g.op("Add", [out, node.input(2)])


# ---------------------------------------------------------------- convolution
def _spatial_pads(padding) -> list[int]:
    """chainrule's (top, bottom, left, right) as ONNX's [top, left, bottom, right]."""
    top, bottom, left, right = (int(p) for p in padding)
    return [top, left, bottom, right]


def _with_bias(node, inputs: list) -> list:
    return inputs + ([node.input(2)] if node.arg(2) is not None else [])


@emitter(Conv2d)
def _conv2d(node, g):
    geom = node.setting(3, name="geom")
    kernel = node.shapes(1)[0][2:]
    return g.op("Conv", _with_bias(node, [node.input(0), node.input(1)]),
                kernel_shape=list(kernel), strides=list(geom.stride),
                dilations=list(geom.dilation), pads=_spatial_pads(geom.padding),
                group=int(geom.groups))


@emitter(ConvTranspose2d)
def _conv_transpose2d(node, g):
    geom, out_hw = node.setting(3, name="geom"), node.setting(4, name="out_hw")
    in_hw, kernel = node.shapes(0)[0][2:], node.shapes(1)[0][2:]
    pads = _spatial_pads(geom.padding)
    # out = (n - 1) s - pad_begin - pad_end + d (k - 1) + output_padding + 1
    extra = [o - ((n - 1) * s - pads[i] - pads[i + 2] + d * (k - 1) + 1)
             for i, (o, n, s, d, k) in enumerate(zip(out_hw, in_hw, geom.stride,
                                                      geom.dilation, kernel))]
    return g.op("ConvTranspose", _with_bias(node, [node.input(0), node.input(1)]),
                kernel_shape=list(kernel), strides=list(geom.stride),
                dilations=list(geom.dilation), pads=pads, group=int(geom.groups),
                output_padding=extra if any(extra) else None)


# -------------------------------------------------------------------- pooling
def _pool_pads(geom) -> list[int]:
    """ONNX pads for a pooling geometry: the near sides as given; the far sides only as much
    as the last window reaches past the input (ceil_mode), so that ONNX's floor-mode size
    formula gives exactly chainrule's output size."""
    top, _, left, _ = geom.padding
    far = [max(0, (o - 1) * s + d * (k - 1) + 1 - n - p)
           for o, s, d, k, n, p in zip(geom.out_hw, geom.stride, geom.dilation, geom.kernel,
                                       geom.in_hw, (top, left))]
    return [int(top), int(left), int(far[0]), int(far[1])]


@emitter(MaxPool2d)
def _max_pool2d(node, g):
    geom = node.setting(1, name="geom")
    return g.op("MaxPool", [node.input(0)], kernel_shape=list(geom.kernel),
                strides=list(geom.stride), dilations=list(geom.dilation),
                pads=_pool_pads(geom))


@emitter(AvgPool2d)
def _avg_pool2d(node, g):
    # chainrule's divisor (count_include_pad, ceil_mode, divisor_override) is an array per
    # output position: pad with zeros explicitly, average over whole windows, then rescale
    # by kernel area / divisor where the two differ.
    geom, divisor = node.setting(1, name="geom"), node.constant(2, name="divisor")
    x = node.input(0)
    pads = _pool_pads(geom)
    if any(pads):
        top, left, bottom, right = pads
        x = g.op("Pad", [x, g.ints([0, 0, top, left, 0, 0, bottom, right]),
                         g.constant(0, node.dtype)], mode="constant")
    out = g.op("AveragePool", [x], kernel_shape=list(geom.kernel), strides=list(geom.stride))
    area = geom.kernel[0] * geom.kernel[1]
    factor = (area / divisor.astype(np.float64)).astype(node.dtype)
    if np.all(factor == 1):
        return out
    return g.op("Mul", [out, g.constant(factor, node.dtype)])


# -------------------------------------------------------------- normalisation
@emitter(AffineNormalize)
def _affine_normalize(node, g):
    k = node.kwargs
    axes, param_shape, eps = tuple(k["axes"]), tuple(k["param_shape"]), float(k["eps"])
    shape = node.shapes(0)[0]
    ndim = len(shape)
    weight, bias = node.arg(1), node.arg(2)
    if not k["batch_stats"] and axes == (0,) + tuple(range(2, ndim)) \
            and param_shape == (shape[1],) + (1,) * (ndim - 2):
        return _batch_norm(node, g, shape[1], eps)
    trailing = tuple(range(ndim - len(axes), ndim))
    if k["batch_stats"] and axes == trailing and param_shape == tuple(shape[a] for a in axes):
        scale = node.input(1) if weight is not None else g.constant(np.ones(param_shape), node.dtype)
        inputs = [node.input(0), scale] + ([node.input(2)] if bias is not None else [])
        return g.op("LayerNormalization", inputs, axis=-len(axes), epsilon=eps)
    return _normalize_composed(node, g, axes, param_shape, eps)


def _batch_norm(node, g, channels: int, eps: float) -> str:
    """Eval-mode BatchNorm: ONNX's BatchNormalization with the running statistics."""
    ones, zeros = np.ones(channels), np.zeros(channels)
    weight, bias = node.arg(1), node.arg(2)
    scale = node.input(1) if weight is not None else g.constant(ones, node.dtype)
    shift = node.input(2) if bias is not None else g.constant(zeros, node.dtype)
    stats = []
    for what in ("mean", "var"):
        # a view of the running buffer shaped (C, 1, ...): read as (C,), it is the buffer
        flat, twin = (np.reshape(a[what], channels) for a in (node.kwargs, node.twin_kwargs))
        stats.append(node.value(flat, twin, f"running {what}", node.dtype))
    return g.op("BatchNormalization", [node.input(0), scale, shift] + stats, epsilon=eps)


def _normalize_composed(node, g, axes, param_shape, eps: float) -> str:
    """Any other normalisation, written out: (x - mean) / sqrt(var + eps) * w + b."""
    x = node.input(0)
    if node.kwargs["batch_stats"]:
        mean = g.reduce("ReduceMean", x, axes, True)
        centered = g.op("Sub", [x, mean])
        var = g.reduce("ReduceMean", g.op("Mul", [centered, centered]), axes, True)
    else:
        centered = g.op("Sub", [x, node.value(node.kwargs["mean"], node.twin_kwargs["mean"],
                                              "mean", node.dtype)])
        var = node.value(node.kwargs["var"], node.twin_kwargs["var"], "variance", node.dtype)
    std = g.op("Sqrt", [g.op("Add", [var, g.constant(eps, node.dtype)])])
    out = g.op("Div", [centered, std])
    for i in (1, 2):
        if node.arg(i) is not None:
            param = g.op("Reshape", [node.input(i), g.ints(param_shape)])
            out = g.op("Mul" if i == 1 else "Add", [out, param])
    return out


# ------------------------------------------------------------------ embedding
@emitter(EmbeddingLookup)
def _embedding(node, g):
    return g.op("Gather", [node.input(0), node.input(1)], axis=0)
