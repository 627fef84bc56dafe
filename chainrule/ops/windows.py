"""Sliding windows as data: ``F.unfold`` (im2col) and its adjoint ``F.fold`` (col2im),
``F.max_unpool1d/2d/3d`` (the inverse of max pooling with indices) and adaptive max pooling.

All are compositions of indexing and its adjoint ``IndexScatter`` (which adds where windows
overlap), so their gradients and second derivatives come from those primitives.
"""
from __future__ import annotations

import numpy as np

from chainrule.backend import ArgumentError, ShapeError
from chainrule.ops.conv import batched, pair
from chainrule.ops.elementwise import _data
from chainrule.ops.reduce import max as max_along
from chainrule.ops.registry import S, op
from chainrule.ops.scatter import IndexPut
from chainrule.ops.shape import IndexScatter, index, pad, reshape
from chainrule.tensor import Tensor

_F = dict(namespace="F", method=False)


def _window_rows(n_out: int, k: int, stride: int, dilation: int) -> np.ndarray:
    """(n_out, k): the input position of kernel tap j of window i."""
    return np.arange(n_out)[:, None] * stride + np.arange(k)[None, :] * dilation


def _grid(name, spatial, kernel_size, dilation, padding, stride):
    kernel, dil = pair(kernel_size, "kernel_size"), pair(dilation, "dilation")
    pads, strides = pair(padding, "padding"), pair(stride, "stride")
    if min(kernel) < 1 or min(dil) < 1 or min(strides) < 1 or min(pads) < 0:
        raise ArgumentError(f"{name}: kernel_size, dilation and stride must be positive and "
                            f"padding non-negative, got {kernel}, {dil}, {strides}, {pads}")
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, k, d, p, s in zip(spatial, kernel, dil, pads, strides))
    if min(out) < 1:
        raise ShapeError(f"{name}: the input's spatial size {tuple(spatial)} (padding {pads}) "
                         f"is smaller than the dilated kernel")
    return kernel, dil, pads, strides, out


@op(**_F, samples=lambda s: [S(s.real(2, 3, 4, 5), 2), S(s.real(1, 2, 5, 5), (2, 3), 2, 1, 2),
                             S(s.real(2, 4, 4), 3, padding=1)])
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Every sliding window of (N, C, H, W) as a column: (N, C*kh*kw, L) with L the number
    of windows (im2col); unbatched (C, H, W) gives (C*kh*kw, L).
    Example: ``F.unfold(x, 3, padding=1)``"""
    x = input
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ShapeError(f"unfold: expects a 3-D or 4-D input, got shape {tuple(input.shape)}")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (ho, wo) = _grid(
        "unfold", x.shape[2:], kernel_size, dilation, padding, stride)
    xp = pad(x, (pw, pw, ph, ph)) if ph or pw else x
    rows = _window_rows(ho, kh, sh, dh)[:, :, None, None]          # (Ho, kh, 1, 1)
    cols = _window_rows(wo, kw, sw, dw)[None, None, :, :]          # (1, 1, Wo, kw)
    win = index(xp, (slice(None), slice(None), rows, cols))         # (N, C, Ho, kh, Wo, kw)
    n, c = x.shape[:2]
    out = reshape(win.permute(0, 1, 3, 5, 2, 4), (n, c * kh * kw, ho * wo))
    return out.squeeze(0) if unbatched else out


@op(**_F, samples=lambda s: [S(s.real(2, 12, 12), (4, 5), 2), S(s.real(1, 12, 6), (5, 5), (2, 3), 2, 1, 2),
                             S(s.real(8, 16), 3, 2, padding=1)])
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of ``unfold`` (col2im): columns (N, C*kh*kw, L) added back into place in
    an (N, C, H, W) output; overlapping windows sum. Example: ``F.fold(cols, (8, 8), 3)``"""
    cols_in = input
    unbatched = cols_in.ndim == 2
    if unbatched:
        cols_in = cols_in.unsqueeze(0)
    if cols_in.ndim != 3:
        raise ShapeError(f"fold: expects a 2-D or 3-D input, got shape {tuple(input.shape)}")
    h, w = pair(output_size, "output_size")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (ho, wo) = _grid(
        "fold", (h, w), kernel_size, dilation, padding, stride)
    n, ckk, length = cols_in.shape
    if ckk % (kh * kw):
        raise ShapeError(f"fold: input dim 1 ({ckk}) must be divisible by the kernel size "
                         f"{kh * kw}")
    if length != ho * wo:
        raise ShapeError(f"fold: input has {length} windows but output_size {(h, w)} with "
                         f"this kernel, stride, padding and dilation has {ho * wo}")
    c = ckk // (kh * kw)
    win = reshape(cols_in, (n, c, kh, kw, ho, wo)).permute(0, 1, 4, 2, 5, 3)
    rows = _window_rows(ho, kh, sh, dh)[:, :, None, None]
    cols = _window_rows(wo, kw, sw, dw)[None, None, :, :]
    full = IndexScatter.apply(win, (slice(None), slice(None), rows, cols),
                              (n, c, h + 2 * ph, w + 2 * pw))
    out = index(full, (slice(None), slice(None), slice(ph, ph + h), slice(pw, pw + w)))
    return out.squeeze(0) if unbatched else out


# ----------------------------------------------------------------------- unpooling
def _unpool(name: str, nd: int, input, indices, kernel_size, stride, padding, output_size):
    x, unbatched = batched(name, input, nd)
    idx = np.asarray(_data(indices)).astype(np.int64)
    if unbatched:
        idx = idx[None]
    if idx.shape != tuple(x.shape):
        raise ShapeError(f"{name}: indices have shape {idx.shape}, expected the input's "
                         f"{tuple(x.shape)}")
    kernel = pair(kernel_size, "kernel_size", nd)
    strides = kernel if stride is None else pair(stride, "stride", nd)
    pads = pair(padding, "padding", nd)
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in
                    zip(x.shape[2:], strides, pads, kernel))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)[-nd:]
        for got, expected, s in zip(size, default, strides):
            if not expected - s < got < expected + s:
                raise ShapeError(f"{name}: output_size {size} must be within one stride of "
                                 f"the default {default}")
    n, c = x.shape[:2]
    total = int(np.prod(size))
    if idx.size and (idx.min() < 0 or idx.max() >= total):
        raise IndexError(f"{name}: indices must lie in [0, {total - 1}] for an output of "
                         f"spatial size {size}")
    flat = reshape(x, (n, c, -1))
    key = (np.arange(n)[:, None, None], np.arange(c)[None, :, None], idx.reshape(n, c, -1))
    zeros = Tensor(np.zeros((n, c, total), dtype=x.dtype))
    out = reshape(IndexPut.apply(zeros, flat, key), (n, c) + size)
    return out.squeeze(0) if unbatched else out


def _unpool_samples(s, shape, k):
    """Distinct values and, as max pooling by ``k`` would return, one index per window,
    at a random place inside it."""
    spatial = shape[2:]
    grids = np.meshgrid(*[np.arange(n) for n in spatial], indexing="ij")
    flat = np.zeros(spatial, dtype=np.int64)
    for g, n in zip(grids, spatial):
        flat = flat * (n * k) + g * k + s.rng.integers(0, k, spatial)
    return s.distinct(*shape), np.broadcast_to(flat, shape).copy()


@op(**_F, samples=lambda s: [S(*_unpool_samples(s, (2, 3, 4), 2), 2)])
def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of ``max_pool1d(return_indices=True)``: zeros, with each value put back
    at its index. Example: ``F.max_unpool1d(y, idx, 2)``"""
    return _unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


@op(**_F, samples=lambda s: [S(*_unpool_samples(s, (2, 2, 3, 2), 2), 2),
                             S(*_unpool_samples(s, (1, 2, 2, 2), 2), 2, 2, 0, (5, 5))])
def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of ``max_pool2d(return_indices=True)``: an (N, C, H, W) output of zeros
    with each input value put back at its flat index into H*W.
    Example: ``F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2)``"""
    return _unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


@op(**_F, samples=lambda s: [S(*_unpool_samples(s, (1, 2, 2, 2, 2), 2), 2)])
def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of ``max_pool3d(return_indices=True)``. Example:
    ``F.max_unpool3d(y, idx, 2)``"""
    return _unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


# ------------------------------------------------------------------ adaptive max
def _adaptive_windows(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, L): the positions of PyTorch's adaptive window i, floor(i n/o) ..
    ceil((i+1) n/o) - 1, padded to one length L by repeating the last position (a repeat
    changes no maximum, and the first of equal candidates wins, so it never takes a
    gradient)."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -(-((i + 1) * n_in) // n_out)
    length = int((end - start).max())
    taps = start[:, None] + np.arange(length)[None, :]
    return np.minimum(taps, (end - 1)[:, None])


def _adaptive_max(name: str, nd: int, input, output_size, return_indices: bool):
    x, unbatched = batched(name, input, nd)
    if nd == 1:
        x = x.unsqueeze(2)
        sizes = (1, pair(output_size, "output_size", 1)[0])
    else:
        raw = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        sizes = tuple(n if o is None else int(o) for o, n in zip(raw, x.shape[2:]))
    if min(sizes) < 1:
        raise ArgumentError(f"{name}: output_size must be positive, got {output_size!r}")
    (h, w), (ho, wo) = x.shape[2:], sizes
    rows = _adaptive_windows(h, ho)
    cols = _adaptive_windows(w, wo)
    win = index(x, (slice(None), slice(None), rows[:, :, None, None], cols[None, None, :, :]))
    n, c = x.shape[:2]
    lh, lw = rows.shape[1], cols.shape[1]
    win = reshape(win.permute(0, 1, 2, 4, 3, 5), (n, c, ho, wo, lh * lw))
    values, winner = max_along(win, -1)
    out = values.squeeze(2) if nd == 1 else values
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    tap_r, tap_c = np.divmod(winner.data, lw)
    flat = rows[np.arange(ho)[:, None], tap_r] * w + cols[np.arange(wo)[None, :], tap_c]
    flat = flat.astype(np.int64)
    if nd == 1:
        flat = flat[:, :, 0, :]
    if unbatched:
        flat = flat[0]
    return out, Tensor(flat)


@op(**_F, samples=lambda s: [S(s.distinct(2, 3, 7), 3), S(s.distinct(2, 3, 8), 4, True)])
def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    """Max pooling to a fixed length (PyTorch's adaptive windows). Example:
    ``F.adaptive_max_pool1d(x, 4)``"""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


@op(**_F, samples=lambda s: [S(s.distinct(2, 3, 7, 5), (3, 2)), S(s.distinct(1, 2, 6, 6), 3, True),
                             S(s.distinct(2, 5, 4), (2, None))])
def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """Max pooling to a fixed (H, W) (an int, a pair, or a pair with None to keep a dim);
    ``return_indices`` adds each maximum's flat index into H*W. Example:
    ``F.adaptive_max_pool2d(x, (1, 1))``"""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)
