"""3-D convolution and pooling over (N, C, D, H, W), built on the 2-D kernels.

A 3-D window is kd 2-D windows stacked in depth. So ``conv3d`` is a sum over the kernel's
depth taps of ``conv2d`` applied to every depth slice the tap reads (all slices as one
batch), and the 3-D pools first pool each depth slice in 2-D (``max_pool2d``, or the window
sums of ``avg_pool2d``) and then combine kd slices in depth. Every step is a differentiable
op, so gradients (and second derivatives) come from the 2-D kernels.
"""
from __future__ import annotations

import numpy as np

from chainrule.backend import ArgumentError, ShapeError
from chainrule.ops.conv import conv2d, pair
from chainrule.ops.pool import _out_size, avg_pool2d, max_pool2d
from chainrule.ops.reduce import max as max_along
from chainrule.ops.registry import S, op
from chainrule.ops.shape import index, pad, reshape, stack
from chainrule.tensor import Tensor

_F = dict(namespace="F", method=False)


def _batched3d(name: str, x):
    if x.ndim == 4:
        return x.unsqueeze(0), True
    if x.ndim != 5:
        raise ShapeError(f"{name}: expected a 5-D input (batch, channels, depth, height, width) "
                         f"or a 4-D unbatched one, got shape {tuple(x.shape)}")
    return x, False


def _depth_slices(x, start: int, count: int, step: int):
    """x[:, :, start : start + (count-1) step + 1 : step] as (N*count, C, H, W)."""
    n, c = x.shape[:2]
    picked = index(x, (slice(None), slice(None), slice(start, start + (count - 1) * step + 1, step)))
    return reshape(picked.permute(0, 2, 1, 3, 4), (n * count, c) + tuple(x.shape[3:]))


def _from_slices(y, n: int, count: int):
    """(N*count, O, H', W') back to (N, O, count, H', W')."""
    return reshape(y, (n, count) + tuple(y.shape[1:])).permute(0, 2, 1, 3, 4)


def _same_padding(kernel, dilation):
    """PyTorch's 'same' padding per dim: (before, after), the odd extra at the end."""
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return out


@op(namespace=("cr", "F"), method=False,
    samples=lambda s: [S(s.real(1, 1, 3, 3, 2), s.real(2, 1, 2, 2, 1), s.real(2)),
                       S(s.real(1, 2, 3, 3, 3), s.real(2, 1, 2, 2, 2), None, (2, 1, 1), 1, (1, 1, 2), 2),
                       S(s.real(1, 2, 2, 3), s.real(2, 1, 2, 1, 2), padding="same")])
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """3-D convolution (cross-correlation) over (N, C, D, H, W) or unbatched (C, D, H, W);
    ``weight`` is (out_channels, in_channels/groups, kd, kh, kw); ``padding`` an int, a
    triple, ``'valid'`` or ``'same'``. Example: ``F.conv3d(x, w, padding=1)``"""
    x, unbatched = _batched3d("conv3d", input)
    if weight.ndim != 5:
        raise ShapeError(f"conv3d: expected a 5-D weight, got shape {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1] * groups:
        raise ShapeError(f"conv3d: input has {x.shape[1]} channels (shape {tuple(x.shape)}) but "
                         f"weight {tuple(weight.shape)} with groups={groups} expects "
                         f"{weight.shape[1] * groups}")
    kernel = tuple(weight.shape[2:])
    strides, dilations = pair(stride, "stride", 3), pair(dilation, "dilation", 3)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * 3
        elif padding == "same":
            if strides != (1, 1, 1):
                raise ArgumentError("conv3d: padding='same' is not supported for strided "
                                    "convolutions")
            pads = _same_padding(kernel, dilations)
        else:
            raise ArgumentError(f"conv3d: padding must be 'valid', 'same', an int or a triple, "
                                f"got {padding!r}")
    else:
        pads = [(p, p) for p in pair(padding, "padding", 3)]
    if any(p < 0 for pp in pads for p in pp):
        raise ArgumentError(f"conv3d: padding must be non-negative, got {padding!r}")
    flat = [p for pair_ in reversed(pads) for p in pair_]
    xp = pad(x, flat) if any(flat) else x
    n = x.shape[0]
    spatial = xp.shape[2:]
    out_size = tuple((m - d * (k - 1) - 1) // s + 1
                     for m, k, d, s in zip(spatial, kernel, dilations, strides))
    if min(out_size) < 1:
        raise ShapeError(f"conv3d: the (padded) input {tuple(spatial)} is smaller than the "
                         f"dilated kernel")
    total = None
    for k in range(kernel[0]):
        slices = _depth_slices(xp, k * dilations[0], out_size[0], strides[0])
        y = conv2d(slices, weight[:, :, k], None, strides[1:], 0, dilations[1:], groups)
        total = y if total is None else total + y
    out = _from_slices(total, n, out_size[0])
    if bias is not None:
        out = out + reshape(bias, (1, -1, 1, 1, 1))
    return out.squeeze(0) if unbatched else out


def _pool3d_geometry(name, x, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = pair(kernel_size, "kernel_size", 3)
    strides = kernel if stride is None or stride == () or stride == [] else pair(stride, "stride", 3)
    pads, dils = pair(padding, "padding", 3), pair(dilation, "dilation", 3)
    if min(kernel) < 1 or min(strides) < 1 or min(dils) < 1:
        raise ArgumentError(f"{name}: kernel_size, stride and dilation must be positive")
    for p, k in zip(pads, kernel):
        if p < 0 or p > k // 2:
            raise ArgumentError(f"{name}: padding should be at most half of the kernel size, got "
                                f"padding={pads} for kernel_size={kernel}")
    depth = x.shape[2]
    out_depth = _out_size(name, depth, kernel[0], strides[0], pads[0], dils[0], ceil_mode)
    far = max(pads[0], (out_depth - 1) * strides[0] + dils[0] * (kernel[0] - 1) + 1 - depth - pads[0])
    return kernel, strides, pads, dils, out_depth, far


def _depth_taps(y, kd, stride, dilation, out_depth, near, far, fill):
    """(N, C, D', H', W') -> stacked (N, C, Do, H', W', kd): the depth window taps, the
    depth padded by ``near``/``far`` with ``fill``."""
    if near or far:
        y = pad(y, (0, 0, 0, 0, near, far), value=fill)
    taps = [index(y, (slice(None), slice(None),
                      slice(k * dilation, k * dilation + (out_depth - 1) * stride + 1, stride)))
            for k in range(kd)]
    return stack(taps, -1)


def _by_depth(x):
    """(N, C, D, H, W) -> (N, C*D, H, W): every depth slice a channel of a 2-D pool."""
    n, c, d = x.shape[:3]
    return reshape(x, (n, c * d) + tuple(x.shape[3:]))


@op(**_F, samples=lambda s: [S(s.distinct(1, 1, 2, 4, 4), 2), S(s.distinct(1, 1, 3, 3, 3), 3, 2, 1),
                             S(s.distinct(2, 3, 3, 4), (2, 2, 3), (1, 2, 2), 0, (2, 1, 1), True),
                             S(s.distinct(1, 1, 2, 2, 4), 2, return_indices=True)])
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W); ``return_indices`` adds each
    maximum's flat index into D*H*W. Example: ``F.max_pool3d(x, 2)``"""
    x, unbatched = _batched3d("max_pool3d", input)
    kernel, strides, pads, dils, out_depth, far = _pool3d_geometry(
        "max_pool3d", x, kernel_size, stride, padding, dilation, ceil_mode)
    n, c, depth, h, w = x.shape
    pooled = max_pool2d(_by_depth(x), kernel[1:], strides[1:], pads[1:], dils[1:], ceil_mode,
                        return_indices)
    pooled, plane_idx = pooled if return_indices else (pooled, None)
    ho, wo = pooled.shape[2:]
    planes = reshape(pooled, (n, c, depth, ho, wo))
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min   # padding never wins
    taps = _depth_taps(planes, kernel[0], strides[0], dils[0], out_depth, pads[0], far, lowest)
    out, tap = max_along(taps, -1)
    if return_indices:
        # the winning depth of each output, then that depth's 2-D index
        d_win = np.arange(out_depth)[:, None, None] * strides[0] + tap.data * dils[0] - pads[0]
        d_clip = np.clip(d_win, 0, depth - 1)
        plane = reshape(plane_idx, (n, c, depth, ho, wo)).data
        in_plane = np.take_along_axis(plane, d_clip, axis=2)
        flat = Tensor((d_clip * (h * w) + in_plane).astype(np.int64))
        if unbatched:
            return out.squeeze(0), Tensor(flat.data[0])
        return out, flat
    return out.squeeze(0) if unbatched else out


def _axis_counts(n, k, s, p, out, count_include_pad):
    """How many positions of each window along one axis count in the average."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


@op(**_F, samples=lambda s: [S(s.real(1, 1, 2, 4, 4), 2), S(s.real(1, 1, 3, 3, 3), 3, 2, 1),
                             S(s.real(1, 3, 3, 3), 3, 2, 1, True, False),
                             S(s.real(1, 1, 2, 2, 4), 2, divisor_override=3)])
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None):
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W), with avg_pool2d's rules for
    padding, ``ceil_mode`` and the divisor. Example: ``F.avg_pool3d(x, 2)``"""
    x, unbatched = _batched3d("avg_pool3d", input)
    if x.dtype.kind in "biu":      # as PyTorch: integer averages, rounded towards zero
        out = avg_pool3d(x.astype(np.float64), kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)
        return Tensor(np.trunc(out.data).astype(x.dtype)[0] if unbatched else
                      np.trunc(out.data).astype(x.dtype))
    kernel, strides, pads, _, out_depth, far = _pool3d_geometry(
        "avg_pool3d", x, kernel_size, stride, padding, 1, ceil_mode)
    n, c, depth, h, w = x.shape
    sums = avg_pool2d(_by_depth(x), kernel[1:], strides[1:], pads[1:], ceil_mode, True, 1)
    ho, wo = sums.shape[2:]
    planes = reshape(sums, (n, c, depth, ho, wo))
    taps = _depth_taps(planes, kernel[0], strides[0], 1, out_depth, pads[0], far, 0.0)
    total = taps.sum(-1)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ArgumentError("avg_pool3d: divisor_override must be non-zero")
        return (total / divisor_override).squeeze(0) if unbatched else total / divisor_override
    counts = [_axis_counts(m, k, s, p, o, count_include_pad)
              for m, k, s, p, o in zip((depth, h, w), kernel, strides, pads, (out_depth, ho, wo))]
    divisor = (counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :])
    out = total / divisor.astype(x.dtype)
    return out.squeeze(0) if unbatched else out

