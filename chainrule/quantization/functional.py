"""Quantisation arithmetic on arrays: affine quantisation, the int8 matrix product with int32
accumulation, and fake quantisation with a straight-through gradient.

An int8 value ``q`` stands for the real number ``scale * (q - zero_point)``. Quantising
rounds ``x / scale`` half to even (computed as ``x * (1 / scale)`` in float32, as PyTorch
does), adds the zero point and clamps to ``[quant_min, quant_max]``.

    >>> x = np.array([-1.0, 0.0, 0.5, 2.0], dtype=np.float32)
    >>> q = quantize_per_tensor(x, scale=0.0157, zero_point=-64)
    >>> q
    array([-128,  -64,  -32,   63], dtype=int8)
    >>> dequantize(q, 0.0157, -64)
    array([-1.0048,  0.    ,  0.5024,  1.9939], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.tensor import Tensor

__all__ = ["QINT8_MIN", "QINT8_MAX", "EXACT_K", "quantize_per_tensor", "quantize_per_channel",
           "dequantize", "int8_matmul", "fake_quantize_per_tensor_affine",
           "fake_quantize_per_channel_affine"]

QINT8_MIN, QINT8_MAX = -128, 127
# float32 represents every integer up to 2^24 exactly. A product of two int8 values is at
# most 128 * 128 = 2^14 in magnitude, so any sum of up to 2^10 of them, and every partial
# sum on the way, is an integer below 2^24: a float32 matrix product over at most EXACT_K
# terms returns the exact integer result, whatever order BLAS adds in.
EXACT_K = 2 ** 24 // (128 * 128)


def _inverse(scale) -> np.ndarray:
    return np.float32(1.0) / np.asarray(scale, dtype=np.float32)


def _quantize(x: np.ndarray, inv_scale, zero_point, quant_min: int, quant_max: int) -> np.ndarray:
    """round(x / scale) + zero_point, clamped; float32 holding integers."""
    q = np.rint(np.asarray(x, dtype=np.float32) * inv_scale)
    q += np.asarray(zero_point, dtype=np.float32)
    return np.clip(q, quant_min, quant_max, out=q)


def _channel_shape(ndim: int, axis: int) -> tuple[int, ...]:
    return tuple(-1 if d == axis else 1 for d in range(ndim))


def quantize_per_tensor(x, scale: float, zero_point: int, quant_min: int = QINT8_MIN,
                        quant_max: int = QINT8_MAX) -> np.ndarray:
    """The int8 codes of ``x`` with one scale and zero point (PyTorch's
    ``torch.quantize_per_tensor(x, scale, zero_point, torch.qint8).int_repr()``)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if not float(scale) > 0:
        raise ValueError(f"quantize_per_tensor: scale must be > 0, got {scale}")
    return _quantize(data, _inverse(scale), int(zero_point), quant_min, quant_max).astype(np.int8)


def quantize_per_channel(x, scales, zero_points, axis: int, quant_min: int = QINT8_MIN,
                         quant_max: int = QINT8_MAX) -> np.ndarray:
    """The int8 codes of ``x`` with a scale and zero point per slice along ``axis`` (PyTorch's
    ``torch.quantize_per_channel(...).int_repr()``); weights use ``axis=0``, one per output."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    scales = np.asarray(scales, dtype=np.float32)
    if scales.shape != (data.shape[axis],) or np.shape(zero_points) != scales.shape:
        raise ValueError(f"quantize_per_channel: need one scale and zero point per slice along "
                         f"axis {axis} ({data.shape[axis]}), got {scales.shape} and "
                         f"{np.shape(zero_points)}")
    if not np.all(scales > 0):
        raise ValueError("quantize_per_channel: every scale must be > 0")
    shape = _channel_shape(data.ndim, axis)
    return _quantize(data, _inverse(scales).reshape(shape),
                     np.asarray(zero_points).reshape(shape), quant_min, quant_max).astype(np.int8)


def dequantize(q: np.ndarray, scale, zero_point, axis: int | None = None) -> np.ndarray:
    """The real values ``scale * (q - zero_point)`` of int8 codes, in float32 (per channel
    along ``axis`` when ``scale`` is a vector)."""
    q = np.asarray(q)
    scale = np.asarray(scale, dtype=np.float32)
    zero_point = np.asarray(zero_point, dtype=np.int32)
    if axis is not None:
        shape = _channel_shape(q.ndim, axis)
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return ((q.astype(np.int32) - zero_point) * scale).astype(np.float32)


def int8_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for int8 matrices, accumulated exactly in int32.

    NumPy has no int8 matrix product, and its integer ``matmul`` skips BLAS (tens of times
    slower than float32). So the product runs as float32 BLAS on blocks of at most
    :data:`EXACT_K` terms, where float32 is exact for int8 operands (see EXACT_K), and the
    blocks' integer results are summed in int32. The result equals
    ``a.astype(np.int32) @ b.astype(np.int32)`` bit for bit.

    Example:
        >>> a = np.array([[127, -128]], dtype=np.int8); b = np.array([[2], [3]], dtype=np.int8)
        >>> int8_matmul(a, b)
        array([[-130]], dtype=int32)
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != np.int8 or b.dtype != np.int8:
        raise TypeError(f"int8_matmul: both operands must be int8, got {a.dtype} and {b.dtype}")
    if a.ndim < 1 or b.ndim < 1 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"int8_matmul: shapes {a.shape} and {b.shape} do not chain (the last "
                         f"dimension of the first must equal the first of the second)")
    k = a.shape[-1]
    if k <= EXACT_K:
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.int32)
    acc = None
    for lo in range(0, k, EXACT_K):
        part = np.matmul(a[..., lo:lo + EXACT_K].astype(np.float32),
                         b[lo:lo + EXACT_K].astype(np.float32)).astype(np.int32)
        acc = part if acc is None else np.add(acc, part, out=acc)
    return acc


# ----------------------------------------------------------------- fake quantisation
class _FakeQuantize(Function):
    """Quantise and dequantise in one step; the straight-through estimator as gradient.

    forward: x -> scale * (clamp(round(x / scale) + zp, qmin, qmax) - zp)
    backward: dL/dx = dL/dy where round(x / scale) + zp lies in [qmin, qmax], else 0 (the
    rounding is treated as the identity; the clamp's flat parts pass nothing)."""

    @staticmethod
    def forward(ctx, x, *, scale, zero_point, quant_min, quant_max):
        inv = _inverse(scale)
        zp = np.asarray(zero_point, dtype=np.float32)
        q = np.rint(x.astype(np.float32) * inv) + zp
        inside = (q >= quant_min) & (q <= quant_max)
        ctx.save_for_backward(inside)
        np.clip(q, quant_min, quant_max, out=q)
        return ((q - zp) * np.asarray(scale, dtype=np.float32)).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        inside, = ctx.saved_tensors
        return grad * inside


def _check_range(name: str, quant_min: int, quant_max: int) -> None:
    if not quant_min <= 0 <= quant_max or quant_min >= quant_max:
        raise ValueError(f"{name}: need quant_min <= 0 <= quant_max and quant_min < quant_max, "
                         f"got {quant_min} and {quant_max}")


def fake_quantize_per_tensor_affine(input: Tensor, scale: float, zero_point: int,
                                    quant_min: int = QINT8_MIN, quant_max: int = QINT8_MAX) -> Tensor:
    """``input`` rounded to the int8 grid of ``scale``/``zero_point`` and back to float, with
    the straight-through gradient (as ``torch.fake_quantize_per_tensor_affine``): what
    quantisation-aware training computes with.

    Example:
        >>> x = cr.tensor([0.26, 20.0], requires_grad=True)
        >>> y = fake_quantize_per_tensor_affine(x, 0.1, 0, -128, 127); y
        tensor([ 0.3, 12.7], grad_fn=<_FakeQuantizeBackward>)
        >>> y.sum().backward(); x.grad              # 20.0 lies beyond the grid: no gradient
        tensor([1., 0.])
    """
    _check_range("fake_quantize_per_tensor_affine", quant_min, quant_max)
    if not float(scale) > 0:
        raise ValueError(f"fake_quantize_per_tensor_affine: scale must be > 0, got {scale}")
    return _FakeQuantize.apply(input, scale=float(scale), zero_point=int(zero_point),
                               quant_min=quant_min, quant_max=quant_max)


def fake_quantize_per_channel_affine(input: Tensor, scale, zero_point, axis: int,
                                     quant_min: int = QINT8_MIN, quant_max: int = QINT8_MAX) -> Tensor:
    """Per-channel fake quantisation along ``axis`` (as ``torch.fake_quantize_per_channel_affine``),
    with the straight-through gradient."""
    _check_range("fake_quantize_per_channel_affine", quant_min, quant_max)
    scale = np.asarray(scale.data if isinstance(scale, Tensor) else scale, dtype=np.float32)
    zero_point = np.asarray(zero_point.data if isinstance(zero_point, Tensor) else zero_point)
    if not -input.ndim <= axis < input.ndim:
        raise ValueError(f"fake_quantize_per_channel_affine: axis {axis} is out of range for "
                         f"shape {tuple(input.shape)}")
    if scale.shape != (input.shape[axis],) or zero_point.shape != scale.shape:
        raise ValueError(f"fake_quantize_per_channel_affine: need one scale and zero point per "
                         f"slice along axis {axis} ({input.shape[axis]}), got {scale.shape} and "
                         f"{zero_point.shape}")
    if not np.all(scale > 0):
        raise ValueError("fake_quantize_per_channel_affine: every scale must be > 0")
    shape = _channel_shape(input.ndim, axis % input.ndim)
    return _FakeQuantize.apply(input, scale=scale.reshape(shape),
                               zero_point=zero_point.reshape(shape), quant_min=quant_min,
                               quant_max=quant_max)
