"""Resizing (public as ``chainrule.nn.functional.interpolate``), with PyTorch's modes, sizes
and coordinate rules.

Every mode is separable: the output is the input resampled along each spatial axis in
turn. Nearest modes pick source indices (``index_select``, so integer input keeps its dtype
and gradients add up where a source is picked repeatedly); the others multiply the axis by
a constant (out, in) weight matrix (``matmul``), whose rows hold the interpolation weights:
two per row for linear modes, four for bicubic (Keys' kernel, a = -0.75), a window average
for ``area``. Gradients and second derivatives come from those two operations.

Source coordinates, as PyTorch computes them (``scale`` = 1 / scale_factor when a scale
factor was given and not recomputed, else in / out):

* nearest:        floor(dst * scale) (in float32, as PyTorch), at most in - 1
* nearest-exact:  floor((dst + 0.5) * scale), at most in - 1
* linear modes:   align_corners: dst * (in - 1) / (out - 1); otherwise
                  (dst + 0.5) * scale - 0.5, clamped at 0 (bicubic: not clamped)
* area:           the window floor(dst * in / out) .. ceil((dst + 1) * in / out)
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import ops
from chainrule.backend import ShapeError
from chainrule.ops.registry import S, op
from chainrule.tensor import Tensor

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_INTERPOLATING = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}   # mode -> input rank
_CUBIC_A = -0.75


# ------------------------------------------------------------------ per-axis weights
def _scale(in_size: int, out_size: int, scale_factor: float | None, dtype=np.float64):
    """PyTorch's compute_scales_value: 1 / scale_factor when given, else in / out."""
    if scale_factor is not None and scale_factor > 0:
        return dtype(1.0 / scale_factor)
    return dtype(in_size) / dtype(out_size)


def nearest_indices(in_size: int, out_size: int, scale_factor: float | None,
                    exact: bool) -> np.ndarray:
    """The source index of every output position (float32 arithmetic, as PyTorch's kernel,
    so rounding at exact multiples agrees)."""
    dst = np.arange(out_size, dtype=np.float32)
    if not exact and out_size == in_size:
        return np.arange(out_size)
    if not exact and out_size == 2 * in_size:
        return np.arange(out_size) // 2
    scale = _scale(in_size, out_size, scale_factor, np.float32)
    src = np.floor((dst + np.float32(0.5)) * scale if exact else dst * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _source_coordinates(in_size: int, out_size: int, scale_factor, align_corners: bool,
                        cubic: bool) -> np.ndarray:
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        return dst * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    src = (dst + 0.5) * _scale(in_size, out_size, scale_factor) - 0.5
    return src if cubic else np.maximum(src, 0.0)


def linear_weights(in_size: int, out_size: int, scale_factor, align_corners: bool) -> np.ndarray:
    """(out, in): 1 - t at floor(src), t at the next index (or the same one at the edge)."""
    src = _source_coordinates(in_size, out_size, scale_factor, align_corners, cubic=False)
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    t = src - low
    high = np.minimum(low + 1, in_size - 1)
    w = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(w, (rows, low), 1.0 - t)
    np.add.at(w, (rows, high), t)
    return w


def cubic_weights(in_size: int, out_size: int, scale_factor, align_corners: bool) -> np.ndarray:
    """(out, in): Keys' cubic kernel on the four neighbours floor(src) - 1 .. floor(src) + 2,
    indices clamped to the edges (PyTorch's guard on the index and the fraction included)."""
    src = _source_coordinates(in_size, out_size, scale_factor, align_corners, cubic=True)
    base = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    t = np.clip(src - base, 0.0, 1.0)
    a = _CUBIC_A

    def near(x):      # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):       # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    coefficients = (far(t + 1), near(t), near(1 - t), far(2 - t))
    w = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    for k, c in enumerate(coefficients):
        np.add.at(w, (rows, np.clip(base - 1 + k, 0, in_size - 1)), c)
    return w


def area_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out, in): the mean over floor(i in / out) .. ceil((i + 1) in / out) (adaptive
    average pooling)."""
    w = np.zeros((out_size, in_size))
    for i in range(out_size):
        start = (i * in_size) // out_size
        stop = -((-(i + 1) * in_size) // out_size)
        w[i, start:stop] = 1.0 / (stop - start)
    return w


# -------------------------------------------------------------------- interpolate
def _per_axis(name: str, value, dims: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != dims:
            raise ValueError(f"{name}: {what} has {len(value)} entries but the input has "
                             f"{dims} spatial dims")
        return list(value)
    return [value] * dims


def _output_sizes(name, shape, size, scale_factor, recompute_scale_factor):
    dims = len(shape) - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{name}: give exactly one of size or scale_factor")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{name}: recompute_scale_factor is only meaningful with a "
                             f"scale_factor, not with size")
        sizes = [int(s) for s in _per_axis(name, size, dims, "size")]
        scales = [None] * dims
    else:
        factors = [float(f) for f in _per_axis(name, scale_factor, dims, "scale_factor")]
        sizes = [int(math.floor(float(n) * f)) for n, f in zip(shape[2:], factors)]
        scales = [None] * dims if recompute_scale_factor else factors
    if any(s <= 0 for s in sizes) or any(n <= 0 for n in shape[2:]):
        raise ShapeError(f"{name}: input and output sizes should be greater than 0, got "
                         f"input {tuple(shape[2:])} and output {tuple(sizes)}")
    return sizes, scales


def _apply_along(x: Tensor, axis: int, weights: np.ndarray) -> Tensor:
    """x with spatial ``axis`` replaced by weights (out, in) @ that axis."""
    m = Tensor(weights.astype(x.dtype))
    if axis == x.ndim - 1:
        return ops.matmul(x, m.mT)
    shape = x.shape
    rest = int(np.prod(shape[axis + 1:]))
    out = ops.matmul(m, x.reshape(shape[:axis + 1] + (rest,)))
    return out.reshape(shape[:axis] + (weights.shape[0],) + shape[axis + 1:])


def _samples(s):
    return [S(s.real(2, 3, 5), 7), S(s.real(2, 2, 4, 3), scale_factor=2),
            S(s.real(1, 2, 5, 6), (3, 4), mode="bilinear"),
            S(s.real(2, 2, 4, 5), scale_factor=(1.5, 0.7), mode="bilinear", align_corners=True),
            S(s.real(1, 2, 3, 4), (7, 5), mode="bicubic"),
            S(s.real(1, 1, 4, 4), scale_factor=1.75, mode="bicubic", align_corners=True),
            S(s.real(2, 3, 6), scale_factor=0.6, mode="linear", recompute_scale_factor=True),
            S(s.real(1, 2, 3, 4, 2), (4, 3, 5), mode="trilinear"),
            S(s.real(2, 2, 7, 5), (3, 2), mode="area"),
            S(s.real(2, 2, 5), 8, mode="nearest-exact"),
            S(s.real(1, 1, 2, 3, 2), scale_factor=(2, 1.5, 1), mode="nearest")]


@op(namespace="F", method=False, dtypes="any", samples=_samples)
def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, *spatial) input with 1 to 3 spatial dims to ``size`` (an int or one per
    spatial dim) or by ``scale_factor`` (output = floor(input * factor)).

    ``mode``: "nearest", "nearest-exact", "linear" (3-D input), "bilinear" (4-D), "bicubic"
    (4-D), "trilinear" (5-D) or "area" (adaptive average). ``align_corners`` (linear modes
    only): map the corner pixels' centres onto each other instead of their outer edges.
    The coordinate rules are PyTorch's (module docstring).

    Example:
        >>> F.interpolate(cr.randn(1, 3, 8, 8), scale_factor=2, mode="bilinear").shape
        (1, 3, 16, 16)
    """
    name = "interpolate"
    if mode not in MODES:
        raise ValueError(f"{name}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if input.ndim not in (3, 4, 5):
        raise ShapeError(f"{name}: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got "
                         f"shape {input.shape}")
    if mode in _INTERPOLATING and input.ndim != _INTERPOLATING[mode]:
        raise ShapeError(f"{name}: got {input.ndim}D input, but {mode} mode needs "
                         f"{_INTERPOLATING[mode]}D input")
    if align_corners is not None and mode not in _INTERPOLATING:
        raise ValueError(f"{name}: align_corners option can only be set with the "
                         f"interpolating modes: linear | bilinear | bicubic | trilinear")
    if antialias:
        raise ValueError(f"{name}: antialias=True is not supported; downsample with "
                         f"mode='area' for an averaging resize")
    if mode not in ("nearest", "nearest-exact") and input.dtype.kind != "f":
        raise TypeError(f"{name}: mode {mode!r} needs floating-point input, got {input.dtype}")
    sizes, scales = _output_sizes(name, input.shape, size, scale_factor, recompute_scale_factor)
    out = input
    for k, (n_in, n_out, scale) in enumerate(zip(input.shape[2:], sizes, scales)):
        axis = k + 2
        if mode in ("nearest", "nearest-exact"):
            idx = nearest_indices(n_in, n_out, scale, exact=mode == "nearest-exact")
            if n_in != n_out or not np.array_equal(idx, np.arange(n_in)):
                out = ops.index_select(out, axis, idx)
            continue
        if mode == "area":
            weights = area_weights(n_in, n_out)
        elif mode == "bicubic":
            weights = cubic_weights(n_in, n_out, scale, bool(align_corners))
        else:
            weights = linear_weights(n_in, n_out, scale, bool(align_corners))
        if n_in != n_out or not np.array_equal(weights, np.eye(n_in)):
            out = _apply_along(out, axis, weights)
    return ops.clone(out) if out is input else out
