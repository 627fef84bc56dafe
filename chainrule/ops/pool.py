"""Pooling: max, average and adaptive average, over (N, C, H, W) (1-D through height 1).

A pooling window of kh x kw positions is read as kh*kw strided slabs of the padded input
(slab (i, j) holds position (i, j) of every window, see ``conv.slab``): max pooling is the
elementwise maximum of the slabs, average pooling their sum over a divisor. No window is
ever copied out, and no loop runs over pixels, channels or the batch.

Max pooling remembers, for every output, which kernel position won (the first maximum, or
the last NaN, as PyTorch's CPU kernel picks); its gradient goes to that input alone.
Second derivatives differentiate each op's ``reference``: the windows picked by indexing,
then a gather at the winners (max) or a sum (average).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.backend import ArgumentError
from chainrule.autograd import Function
from chainrule.ops.conv import batched, pad_spatial, pair, slab
from chainrule.ops.linalg import matmul
from chainrule.ops.registry import S, op
from chainrule.ops.shape import gather, index, pad
from chainrule.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "MaxPool2d", "AvgPool2d", "PoolGeometry"]


@dataclass(frozen=True)
class PoolGeometry:
    """Window size, stride, dilation, the padding (top, bottom, left, right; the bottom and
    right include the extra room ``ceil_mode`` windows need) and the input/output sizes."""
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]

    def positions(self):
        kh, kw = self.kernel
        for i in range(kh):
            for j in range(kw):
                yield i * kw + j, slab(i, j, self.stride, self.dilation, self.out_hw)

    def disjoint(self) -> bool:
        """No two windows share an input (the stride is at least the dilated kernel)."""
        return all(s >= d * (k - 1) + 1 for s, d, k in zip(self.stride, self.dilation, self.kernel))

    def tiles(self) -> bool:
        """The windows cover the padded input exactly, every element once."""
        return self.disjoint() and self.kernel == self.stride and all(
            o * k == n + a + b for o, k, n, a, b in zip(
                self.out_hw, self.kernel, self.in_hw, self.padding[::2], self.padding[1::2]))

    def crop(self, xp: np.ndarray) -> np.ndarray:
        pt, _, pl, _ = self.padding
        h, w = self.in_hw
        return xp[:, :, pt:pt + h, pl:pl + w]

    def padded_shape(self, nc: tuple) -> tuple:
        pt, pb, pl, pr = self.padding
        return nc + (self.in_hw[0] + pt + pb, self.in_hw[1] + pl + pr)


@dataclass(frozen=True)
class _Routing:
    """Where each max-pool output came from: the winning kernel position per output."""
    winner: np.ndarray
    geom: PoolGeometry
    nc: tuple


# ---------------------------------------------------------------------------- max pooling
def _scatter_to_winners(g, route: _Routing) -> np.ndarray:
    """dL/dx: each output's gradient added to the input its window's winner sat on."""
    geom = route.geom
    if geom.disjoint():     # each input lies in at most one window: write, do not add
        gxp = (np.empty if geom.tiles() else np.zeros)(geom.padded_shape(route.nc), dtype=g.dtype)
        for pos, key in geom.positions():
            np.multiply(g, route.winner == pos, out=gxp[key])
        return geom.crop(gxp)
    gxp = np.zeros(geom.padded_shape(route.nc), dtype=g.dtype)
    for pos, key in geom.positions():
        gxp[key] += g * (route.winner == pos)
    return geom.crop(gxp)


def _max_with_winner(x: np.ndarray, geom: PoolGeometry, track: bool):
    """The pooled maxima and (when ``track``) the winning kernel position of each window."""
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min   # padding never wins
    xp = pad_spatial(x, geom.padding, lowest)
    keys = list(geom.positions())
    out = xp[keys[0][1]].copy()
    winner = np.zeros(out.shape, dtype=np.min_scalar_type(len(keys) - 1)) if track else None
    for pos, key in keys[1:]:
        s = xp[key]
        if track:
            # A later value wins only when strictly larger (the first maximum is kept). Later
            # positions have larger numbers, so winner = max(winner, pos * better): two cheap
            # passes instead of a masked copy (np.copyto(..., where=) is several times slower
            # on a random mask).
            better = np.greater(s, out)
            code = (better.view(np.uint8) if winner.dtype == np.uint8
                    else better.astype(winner.dtype))
            code *= winner.dtype.type(pos)
            np.maximum(winner, code, out=winner)
        np.maximum(out, s, out=out)
    if track and np.isnan(out).any():   # rare: redo the winners with PyTorch's NaN rule
        _nan_winners(xp, keys, winner)
    return out, winner


def _nan_winners(xp: np.ndarray, keys, winner: np.ndarray) -> None:
    """PyTorch's rule: a later value wins if it is larger, or if it is NaN (the last NaN)."""
    best = xp[keys[0][1]].copy()
    winner[...] = 0
    for pos, key in keys[1:]:
        s = xp[key]
        better = s > best
        better |= np.isnan(s)
        np.copyto(winner, pos, where=better)
        np.copyto(best, s, where=better)


def _windows(x, geom: PoolGeometry, fill: float):
    """(N, C, Ho, Wo, kh*kw): every window of the padded input as a Tensor, by one advanced
    index (whose backward scatters back). For the references below."""
    pt, pb, pl, pr = geom.padding
    xp = pad(x, (pl, pr, pt, pb), value=fill) if any(geom.padding) else x
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geom.kernel, geom.stride, geom.dilation, geom.out_hw
    rows = (np.arange(ho)[:, None] * sh + np.arange(kh)[None, :] * dh)[:, :, None, None]
    cols = (np.arange(wo)[:, None] * sw + np.arange(kw)[None, :] * dw)[None, None, :, :]
    win = index(xp, (slice(None), slice(None), rows, cols))       # (N, C, Ho, kh, Wo, kw)
    n, c = x.shape[:2]
    return win.permute(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, kh * kw)


class MaxPool2d(Function):
    """out[n, c, p, q] = max over the window of (p, q); padding reads as -inf."""

    @staticmethod
    def forward(ctx, x, geom):
        out, winner = _max_with_winner(x, geom, track=bool(ctx.needs_input_grad))
        if winner is not None:
            ctx.save_for_backward(_Routing(winner, geom, x.shape[:2]))
        return out

    @staticmethod
    def backward(ctx, g):  # the gradient goes to the winning input of each window
        route, = ctx.saved_tensors
        return _scatter_to_winners(g, route), None

    @staticmethod
    def reference(x, geom):
        win = _windows(x, geom, -np.inf)
        winner = np.argmax(win.data, axis=-1)[..., None]      # the first maximum, as forward
        return gather(win, -1, winner).squeeze(-1)


# ------------------------------------------------------------------------ average pooling
def _is_global(geom: PoolGeometry) -> bool:
    """One window covering the whole (unpadded) image: global average pooling."""
    return geom.out_hw == (1, 1) and geom.kernel == geom.in_hw and not any(geom.padding)


def _window_sum(x, geom: PoolGeometry, divisor) -> np.ndarray:
    if _is_global(geom) and x.dtype.kind == "f":    # one GEMV, not kh*kw slab additions
        n, c, h, w = x.shape
        out = np.ascontiguousarray(x).reshape(n * c, h * w) @ np.ones(h * w, dtype=x.dtype)
        out = out.reshape(n, c, 1, 1)
        out /= divisor
        return out
    xp = pad_spatial(x, geom.padding)
    keys = list(geom.positions())
    out = xp[keys[0][1]].copy()
    for _, key in keys[1:]:
        out += xp[key]
    out /= divisor
    return out


def _window_sum_adjoint(g, geom: PoolGeometry, divisor) -> np.ndarray:
    gq = g / divisor
    if _is_global(geom):                              # every pixel gets its image's g / n
        out = np.empty(g.shape[:2] + tuple(geom.in_hw), dtype=gq.dtype)
        np.copyto(out, gq)
        return out
    gxp = np.zeros(geom.padded_shape(g.shape[:2]), dtype=gq.dtype)
    for _, key in geom.positions():
        gxp[key] += gq
    return geom.crop(gxp)


class AvgPool2d(Function):
    """out = (sum of the window) / divisor; the divisor is an (Ho, Wo) array."""

    @staticmethod
    def forward(ctx, x, geom, divisor):
        ctx.geom, ctx.divisor = geom, divisor
        return _window_sum(x, geom, divisor)

    @staticmethod
    def backward(ctx, g):  # every input in a window gets g / divisor
        return _window_sum_adjoint(g, ctx.geom, ctx.divisor), None, None

    @staticmethod
    def reference(x, geom, divisor):
        return _windows(x, geom, 0.0).sum(-1) / divisor


# --------------------------------------------------------------------- argument handling
def _as_tensor(a):
    return a if isinstance(a, Tensor) else Tensor(np.asarray(a))


def _out_size(name, n, k, s, p, d, ceil_mode) -> int:
    """PyTorch's pooling size: floor (or ceil) of (n + 2p - d(k-1) - 1)/s, plus one; in ceil
    mode the last window must start inside the input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise ArgumentError(f"{name}: the input size {n} (with padding {p}) is smaller than the "
                            f"(dilated) kernel {d * (k - 1) + 1}")
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _geometry(name, x, kernel_size, stride, padding, dilation, ceil_mode, nd) -> PoolGeometry:
    if nd == 2:
        kernel = pair(kernel_size, "kernel_size")
        stride = kernel if stride is None or stride == () or stride == [] else pair(stride, "stride")
        padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    else:   # 1-D: a height-1 2-D pool
        kernel = (1, pair(kernel_size, "kernel_size", 1)[0])
        stride = kernel if stride is None or stride == () or stride == [] else (
            1, pair(stride, "stride", 1)[0])
        padding = (0, pair(padding, "padding", 1)[0])
        dilation = (1, pair(dilation, "dilation", 1)[0])
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ArgumentError(f"{name}: kernel_size, stride and dilation must be positive, got "
                            f"{kernel}, {stride}, {dilation}")
    for p, k in zip(padding, kernel):
        if p < 0 or p > k // 2:
            raise ArgumentError(f"{name}: padding should be at most half of the kernel size "
                                f"(and non-negative), got padding={padding[-nd:]} for "
                                f"kernel_size={kernel[-nd:]}")
    in_hw = x.shape[2:]
    out_hw = tuple(_out_size(name, n, k, s, p, d, ceil_mode)
                   for n, k, s, p, d in zip(in_hw, kernel, stride, padding, dilation))
    # Room at the bottom/right: the usual padding, or more when ceil_mode windows reach past it.
    far = [max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
           for n, k, s, p, d, o in zip(in_hw, kernel, stride, padding, dilation, out_hw)]
    return PoolGeometry(kernel, stride, dilation, (padding[0], far[0], padding[1], far[1]),
                        tuple(in_hw), out_hw)


def _flat_indices(winner: np.ndarray, geom: PoolGeometry) -> np.ndarray:
    """PyTorch's ``return_indices``: each output's argmax as a flat index into H*W."""
    kw = geom.kernel[1]
    i, j = np.divmod(winner.astype(np.int64), kw)
    rows = np.arange(geom.out_hw[0])[:, None] * geom.stride[0] - geom.padding[0] + i * geom.dilation[0]
    cols = np.arange(geom.out_hw[1])[None, :] * geom.stride[1] - geom.padding[2] + j * geom.dilation[1]
    return rows * geom.in_hw[1] + cols


# ------------------------------------------------------------------------ public functions
def _max_pool(name, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unbatched = batched(name, _as_tensor(input), nd)
    if nd == 1:
        x = x.unsqueeze(2)
    geom = _geometry(name, x, kernel_size, stride, padding, dilation, ceil_mode, nd)
    if return_indices:   # the winners are found once, by the recorded node when there is one
        out = MaxPool2d.apply(x, geom=geom)
        if out.grad_fn is not None:
            winner = out.grad_fn.saved_tensors[0].winner
        else:
            values, winner = _max_with_winner(x.data, geom, track=True)
            out = Tensor(values)
        indices = Tensor(_flat_indices(winner, geom))
    else:
        out, indices = MaxPool2d.apply(x, geom=geom), None
    if nd == 1:
        out = out.squeeze(2)
        indices = indices.reshape(indices.shape[:2] + indices.shape[3:]) if indices is not None else None
    if unbatched:
        out = out.squeeze(0)
        indices = indices.reshape(indices.shape[1:]) if indices is not None else None
    return (out, indices) if return_indices else out


@op(namespace="F", method=False,
    samples=lambda s: [S(s.distinct(2, 3, 6, 5), 2), S(s.distinct(1, 2, 7, 7), 3, 2, 1),
                       S(s.distinct(1, 2, 7, 6), (2, 3), 2, 0, 1, True),
                       S(s.distinct(2, 5, 5), 2, 1, 0, 2)])
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-D max pooling over (N, C, H, W) or (C, H, W); ``stride`` defaults to ``kernel_size``,
    padding reads as -inf. With ``return_indices=True`` also returns each maximum's flat
    index into H*W (int64), as PyTorch does.

    Example:
        >>> max_pool2d(cr.randn(2, 3, 8, 8), 2).shape
        (2, 3, 4, 4)
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


@op(namespace="F", method=False, samples=lambda s: [S(s.distinct(2, 3, 9), 3), S(s.distinct(2, 3, 8), 3, 2, 1)])
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling over (N, C, L) or (C, L).

    Example:
        >>> max_pool1d(cr.randn(2, 3, 9), 3).shape
        (2, 3, 3)
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_divisor(geom: PoolGeometry, count_include_pad: bool, divisor_override, dtype):
    """PyTorch's divisor per output: the window clipped to input+padding (count_include_pad)
    or to the input alone; windows are separable, so it is an outer product."""
    if divisor_override is not None:
        if divisor_override == 0:
            raise ArgumentError("avg_pool2d: divisor_override must be non-zero")
        return np.asarray(divisor_override, dtype=dtype)
    sizes = []
    for axis in range(2):
        n, k, s, p = geom.in_hw[axis], geom.kernel[axis], geom.stride[axis], geom.padding[2 * axis]
        start = np.arange(geom.out_hw[axis]) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, n) - np.maximum(start, 0))
    return (sizes[0][:, None] * sizes[1][None, :]).astype(dtype)


def _avg_pool(name, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, unbatched = batched(name, _as_tensor(input), nd)
    if nd == 1:
        x = x.unsqueeze(2)
    geom = _geometry(name, x, kernel_size, stride, padding, 1, ceil_mode, nd)
    if x.dtype.kind in "iu":   # as PyTorch: integer averages, rounded towards zero
        divisor = _avg_divisor(geom, count_include_pad, divisor_override, np.float64)
        out = Tensor(np.trunc(_window_sum(x.data.astype(np.float64), geom, divisor)).astype(x.dtype))
    else:
        divisor = _avg_divisor(geom, count_include_pad, divisor_override, x.dtype)
        out = AvgPool2d.apply(x, geom=geom, divisor=divisor)
    if nd == 1:
        out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


@op(namespace="F", method=False,
    samples=lambda s: [S(s.real(2, 3, 6, 4), 2), S(s.real(1, 2, 7, 7), 3, 2, 1),
                       S(s.real(1, 2, 7, 7), 3, 2, 1, True, False), S(s.real(1, 2, 5, 5), 5)])
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling; zero padding counts in the divisor unless
    ``count_include_pad=False`` (windows past the padding in ``ceil_mode`` never count).

    Example:
        >>> avg_pool2d(cr.ones(1, 1, 4, 4), 2).tolist()
        [[[[1.0, 1.0], [1.0, 1.0]]]]
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


@op(namespace="F", method=False, samples=lambda s: [S(s.real(1, 2, 6), 3), S(s.real(2, 2, 7), 3, 2, 1)])
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L).

    Example:
        >>> avg_pool1d(cr.ones(1, 2, 6), 3).shape
        (1, 2, 2)
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def _adaptive_matrix(n_in: int, n_out: int, dtype) -> np.ndarray:
    """(n_out, n_in): row i averages inputs floor(i n_in/n_out) .. ceil((i+1) n_in/n_out) - 1,
    PyTorch's adaptive windows (they overlap when the sizes do not divide)."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -(-((i + 1) * n_in) // n_out)
    cols = np.arange(n_in)
    inside = (cols[None, :] >= start[:, None]) & (cols[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_sizes(name, output_size, in_hw, nd):
    if nd == 1:
        sizes = (pair(output_size, "output_size", 1)[0],)
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        sizes = tuple(n if o is None else o for o, n in zip(output_size, in_hw))
        sizes = pair(sizes, "output_size")
    else:
        sizes = pair(output_size, "output_size")
    if min(sizes) < 1:
        raise ArgumentError(f"{name}: output_size must be positive, got {output_size!r}")
    return sizes


@op(namespace="F", method=False,
    samples=lambda s: [S(s.real(2, 3, 7, 9), (3, 4)), S(s.real(1, 2, 6, 6), 3), S(s.real(2, 5, 4), (2, None))])
def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed output size (int, pair, or a pair with ``None`` to keep a
    dimension). Output (i, j) averages input rows floor(i H/Ho) .. ceil((i+1) H/Ho) - 1 (and the
    same for columns), as PyTorch. Computed as P_h x P_w^T with two small averaging matrices
    (or a plain average pool when the sizes divide).

    Example:
        >>> adaptive_avg_pool2d(cr.randn(2, 3, 7, 9), (3, 4)).shape
        (2, 3, 3, 4)
    """
    x, unbatched = batched("adaptive_avg_pool2d", _as_tensor(input), 2)
    out = _adaptive(x, _adaptive_sizes("adaptive_avg_pool2d", output_size, x.shape[2:], 2))
    return out.squeeze(0) if unbatched else out


@op(namespace="F", method=False, samples=lambda s: [S(s.real(2, 3, 10), 4), S(s.real(2, 3, 8), 4)])
def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """1-D adaptive average pooling over (N, C, L) or (C, L).

    Example:
        >>> adaptive_avg_pool1d(cr.randn(2, 3, 10), 4).shape
        (2, 3, 4)
    """
    x, unbatched = batched("adaptive_avg_pool1d", _as_tensor(input), 1)
    (lo,) = _adaptive_sizes("adaptive_avg_pool1d", output_size, x.shape[2:], 1)
    out = _adaptive(x.unsqueeze(2), (1, lo)).squeeze(2)
    return out.squeeze(0) if unbatched else out


def _adaptive(x: Tensor, out_hw: tuple[int, int]) -> Tensor:
    h, w = x.shape[2:]
    ho, wo = out_hw
    if h % ho == 0 and w % wo == 0:   # equal, non-overlapping windows: a plain average pool
        geom = PoolGeometry((h // ho, w // wo), (h // ho, w // wo), (1, 1), (0, 0, 0, 0),
                            (h, w), (ho, wo))
        return AvgPool2d.apply(x, geom=geom, divisor=np.asarray(geom.kernel[0] * geom.kernel[1],
                                                                dtype=x.dtype))
    out = x
    if w != wo:
        out = matmul(out, Tensor(np.ascontiguousarray(_adaptive_matrix(w, wo, x.dtype).T)))
    if h != ho:
        out = matmul(Tensor(_adaptive_matrix(h, ho, x.dtype)), out)
    return out
