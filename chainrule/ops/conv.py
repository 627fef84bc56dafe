"""Convolutions (1-D and 2-D, with their transposes) as im2col + one matrix product.

Three linear maps carry everything. For an input ``x`` (N, C, H, W) and a weight ``w``
(O, C/groups, kh, kw):

* ``conv(x, w)``            y[n, o, p] = sum_{c, i, j} w[o, c, i, j] x[n, c, p*s + (i, j)*d]
* ``conv_input_grad(g, w)`` the adjoint of ``conv`` in ``x``: dL/dx for dL/dy = g.
                            It *is* the transposed convolution.
* ``conv_weight_grad(x, g)`` the adjoint of ``conv`` in ``w``: dL/dw for dL/dy = g.

``conv`` copies the windows of the padded input into a contiguous "columns" matrix
(C*kh*kw, N*L) and multiplies the (O, C*kh*kw) weight matrix by it: one matrix product for the
whole batch (see "Layout" below for L). Its input gradient multiplies by the transposed weight
and adds the columns back into place ("col2im"), one strided slab per kernel position (kh*kw
additions of whole arrays, never a loop over pixels).

Backward rebuilds the columns from the saved input instead of keeping them from forward:
one extra copy, for kh*kw times less memory held between the passes.

Each map's derivatives are the other two maps (they are bilinear), so every backward below is
written with them, on arrays. Second derivatives (``create_graph=True``) differentiate each
op's ``reference``: the same map composed of indexing and matrix products.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from chainrule.backend import ArgumentError
from chainrule.autograd import Function
from chainrule.ops.linalg import matmul
from chainrule.ops.registry import S, op
from chainrule.ops.shape import IndexScatter, index, pad
from chainrule.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "Conv2d",
           "ConvTranspose2d", "ConvGeometry", "pair", "batched"]


@dataclass(frozen=True)
class ConvGeometry:
    """How a kernel walks over the input: per-axis stride and dilation, the zero padding
    on each side (top, bottom, left, right) and the number of channel groups."""
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    groups: int


def pair(value, name: str, n: int = 2) -> tuple[int, ...]:
    """``3`` -> ``(3, 3)``; a tuple/list of ``n`` ints passes; anything else is an error."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == 1 and n > 1:
        return pair(value[0], name, n)      # (k,) stands for (k, k), as in PyTorch
    if isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")


# ------------------------------------------------------------------ array kernels
def pad_spatial(x: np.ndarray, padding: tuple[int, int, int, int], fill: float = 0.0) -> np.ndarray:
    """(N, C, H, W) with ``fill`` added on (top, bottom, left, right); ``x`` itself if none."""
    pt, pb, pl, pr = padding
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + pt + pb, w + pl + pr), fill, dtype=x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A read-only strided view (N, C, kh, kw, Ho, Wo) of ``xp``'s sliding windows:
    ``view[n, c, i, j, p, q] = xp[n, c, p*sh + i*dh, q*sw + j*dw]``. No copy."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    n, c, hp, wp = xp.shape
    if (ho - 1) * sh + (kh - 1) * dh >= hp or (wo - 1) * sw + (kw - 1) * dw >= wp:
        raise ArgumentError(f"windows: {out_hw} outputs of a {kernel} kernel (stride {stride}, "
                            f"dilation {dilation}) do not fit in a padded input of {(hp, wp)}")
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, (n, c, kh, kw, ho, wo),
                      (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw), writeable=False)


def slab(i: int, j: int, stride, dilation, out_hw) -> tuple:
    """The index that picks kernel position (i, j) of every window from a padded input: a
    strided slab with the output's spatial shape."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    return (Ellipsis, slice(i * dh, i * dh + (ho - 1) * sh + 1, sh),
            slice(j * dw, j * dw + (wo - 1) * sw + 1, sw))


# Layout. The columns matrix is (C*kh*kw, N*L): row (c, i, j) holds kernel position (i, j)
# of channel c for every window of every sample, so each map is ONE matrix product over the
# whole batch (a batched product of N small ones wastes most of BLAS's time on tiny shapes),
# and the gradient of y arrives as the matching (O, N*L) matrix.
#
# Stride 1 ("flat" windows): with the padded input flattened per (n, c) to rows of Hp*Wp
# values, the window of output (p, q) at kernel position (i, j) starts at
# (p + i dh) Wp + q + j dw. So if every output row is computed at all Wp columns (the last
# Wp - Wo are thrown away), kernel position (i, j) of all windows is ONE contiguous run of
# L = Ho*Wp values starting at i dh Wp + j dw. Copying columns and adding them back are then
# long contiguous copies instead of Wo-long pieces, several times faster on small images,
# for (Wp/Wo - 1) more columns. Other strides use the exact (L = Ho*Wo) strided windows.
def _flat(geom: ConvGeometry) -> bool:
    return geom.stride == (1, 1)


def _row_len(geom: ConvGeometry, in_hw, out_hw) -> int:
    """Columns per output row: Wp (flat windows) or Wo."""
    return in_hw[1] + geom.padding[2] + geom.padding[3] if _flat(geom) else out_hw[1]


def _flat_padded(x: np.ndarray, geom: ConvGeometry, kernel) -> np.ndarray:
    """(N, C, Hp*Wp + extra): each (n, c) image zero-padded and flattened; the extra
    (kw-1) dw zeros let the last flat window run past the last row."""
    n, c, h, w = x.shape
    pt, pb, pl, pr = geom.padding
    hp, wp = h + pt + pb, w + pl + pr
    buf = np.zeros((n, c, hp * wp + (kernel[1] - 1) * geom.dilation[1]), dtype=x.dtype)
    buf[:, :, :hp * wp].reshape(n, c, hp, wp)[:, :, pt:pt + h, pl:pl + w] = x
    return buf


def _columns(x: np.ndarray, geom: ConvGeometry, kernel, out_hw) -> np.ndarray:
    """The (C*kh*kw, N*L) columns matrix of ``x`` (see the layout note above)."""
    n, c = x.shape[:2]
    (kh, kw), (dh, dw), (ho, _) = kernel, geom.dilation, out_hw
    if _flat(geom):
        buf = _flat_padded(x, geom, kernel)
        wp = x.shape[3] + geom.padding[2] + geom.padding[3]
        s_n, s_c, item = buf.strides[0], buf.strides[1], buf.itemsize
        view = as_strided(buf, (c, kh, kw, n, ho * wp),
                          (s_c, dh * wp * item, dw * item, s_n, item), writeable=False)
    else:
        view = windows(pad_spatial(x, geom.padding), kernel, geom.stride, geom.dilation,
                       out_hw).transpose(1, 2, 3, 0, 4, 5)        # (C, kh, kw, N, Ho, Wo)
    return np.ascontiguousarray(view).reshape(c * kh * kw, -1)


def _grad_matrix(gy: np.ndarray, geom: ConvGeometry, in_hw) -> np.ndarray:
    """dL/dy (N, O, Ho, Wo) as the (O, N*L) matrix matching the columns (zero in the
    thrown-away flat columns, so they add nothing to either gradient)."""
    n, o, ho, wo = gy.shape
    wq = _row_len(geom, in_hw, (ho, wo))
    out = (np.zeros if wq != wo else np.empty)((o, n, ho, wq), dtype=gy.dtype)
    np.copyto(out[..., :wo], gy.transpose(1, 0, 2, 3))
    return out.reshape(o, -1)


def _by_group(m: np.ndarray, groups: int) -> np.ndarray:
    """(G*R, K) -> (G, R, K): rows of consecutive groups, for one batched product."""
    return m.reshape(groups, m.shape[0] // groups, -1)


def _conv_arrays(x, w, geom: ConvGeometry, out_hw, bias=None) -> np.ndarray:
    """y = conv(x, w) (+ bias): (N, C, H, W) * (O, C/g, kh, kw) -> (N, O, Ho, Wo)."""
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    g = geom.groups
    cols = _columns(x, geom, (kh, kw), out_hw)
    y = np.matmul(w.reshape(g, o // g, cg * kh * kw), _by_group(cols, g))    # (G, O/G, N*L)
    ho, wo = out_hw
    wq = _row_len(geom, x.shape[2:], out_hw)
    y = y.reshape(o, n, ho, wq)[..., :wo].transpose(1, 0, 2, 3)
    out = np.empty((n, o, ho, wo), dtype=y.dtype)
    if bias is None:
        np.copyto(out, y)
    else:                       # the copy into (N, O, Ho, Wo) order adds the bias on the way
        np.add(y, bias.reshape(1, -1, 1, 1), out=out)
    return out


def _input_grad_from_matrix(gmat, w, geom: ConvGeometry, batch: int, in_hw, out_hw) -> np.ndarray:
    """dL/dx from the (O, N*L) gradient matrix: columns W^T gmat, added back into place."""
    o, cg, kh, kw = w.shape
    g = geom.groups
    c = cg * g
    dcols = np.matmul(w.reshape(g, o // g, cg * kh * kw).transpose(0, 2, 1), _by_group(gmat, g))
    (dh, dw), (pt, pb, pl, pr) = geom.dilation, geom.padding
    h, wd = in_hw
    hp, wp = h + pt + pb, wd + pl + pr
    ho, wo = out_hw
    if _flat(geom):             # every kernel position is one contiguous run of L values
        run = ho * wp
        dcols = dcols.reshape(c, kh, kw, batch, run)
        gxp = np.zeros((c, batch, hp * wp + (kw - 1) * dw), dtype=dcols.dtype)
        for i in range(kh):
            for j in range(kw):
                start = i * dh * wp + j * dw
                gxp[:, :, start:start + run] += dcols[:, i, j]
        gxp = gxp[:, :, :hp * wp].reshape(c, batch, hp, wp)
    else:                       # one strided slab per kernel position
        dcols = dcols.reshape(c, kh, kw, batch, ho, wo)
        gxp = np.zeros((c, batch, hp, wp), dtype=dcols.dtype)
        for i in range(kh):
            for j in range(kw):
                gxp[slab(i, j, geom.stride, geom.dilation, (ho, wo))] += dcols[:, i, j]
    return np.ascontiguousarray(gxp[:, :, pt:pt + h, pl:pl + wd].transpose(1, 0, 2, 3))


def _weight_grad_from_matrix(x, gmat, geom: ConvGeometry, kernel, out_hw) -> np.ndarray:
    """dL/dw = gmat cols^T, one product over the whole batch (per group)."""
    c = x.shape[1]
    o, g = gmat.shape[0], geom.groups
    kh, kw = kernel
    cols = _by_group(_columns(x, geom, kernel, out_hw), g)
    gw = np.matmul(_by_group(gmat, g), cols.transpose(0, 2, 1))
    return gw.reshape(o, c // g, kh, kw)


def _conv_input_grad_arrays(gy, w, geom: ConvGeometry, in_hw) -> np.ndarray:
    """dL/dx of y = conv(x, w) for dL/dy = ``gy``."""
    return _input_grad_from_matrix(_grad_matrix(gy, geom, in_hw), w, geom, gy.shape[0], in_hw,
                                   gy.shape[2:])


def _conv_weight_grad_arrays(x, gy, geom: ConvGeometry, kernel) -> np.ndarray:
    """dL/dw of y = conv(x, w) for dL/dy = ``gy``."""
    return _weight_grad_from_matrix(x, _grad_matrix(gy, geom, x.shape[2:]), geom, kernel,
                                    gy.shape[2:])


# ------------------------------------------------------------------ references
# Compositions of primitives equal to the three maps, for create_graph: the windows of the
# padded input picked by one advanced index (whose backward scatters back), and matrix
# products. Slow and memory-hungry, but only second derivatives use them.
def _window_key(geom: ConvGeometry, kernel, out_hw) -> tuple:
    """Index arrays picking, from a padded (N, C, Hp, Wp) input, the (N, C, Ho, kh, Wo, kw)
    windows: row p*sh + i*dh, column q*sw + j*dw."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, geom.stride, geom.dilation, out_hw
    rows = (np.arange(ho)[:, None] * sh + np.arange(kh)[None, :] * dh)[:, :, None, None]
    cols = (np.arange(wo)[:, None] * sw + np.arange(kw)[None, :] * dw)[None, None, :, :]
    return (slice(None), slice(None), rows, cols)


def _conv_reference(x, w, bias, geom: ConvGeometry, out_hw):
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    g = geom.groups
    pt, pb, pl, pr = geom.padding
    xp = pad(x, (pl, pr, pt, pb)) if any(geom.padding) else x
    win = index(xp, _window_key(geom, (kh, kw), out_hw))           # (N, C, Ho, kh, Wo, kw)
    ho, wo = out_hw
    cols = win.permute(0, 2, 4, 1, 3, 5).reshape(n * ho * wo, g, cg * kh * kw).permute(1, 0, 2)
    y = matmul(cols, w.reshape(g, o // g, cg * kh * kw).mT)          # (G, N*Ho*Wo, O/G)
    y = y.permute(1, 0, 2).reshape(n, ho, wo, o).permute(0, 3, 1, 2)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def _conv_transpose_reference(x, w, bias, geom: ConvGeometry, out_hw):
    """The adjoint of conv in its input: columns W^T x, scattered back into place."""
    n, o, hi, wi = x.shape                      # o: channels of x = the conv's outputs
    _, cg, kh, kw = w.shape
    g = geom.groups
    c = cg * g
    rows = x.permute(0, 2, 3, 1).reshape(n * hi * wi, g, o // g).permute(1, 0, 2)
    dcols = matmul(rows, w.reshape(g, o // g, cg * kh * kw))       # (G, N*Hi*Wi, Cg*kh*kw)
    dcols = dcols.permute(1, 0, 2).reshape(n, hi, wi, c, kh, kw).permute(0, 3, 1, 4, 2, 5)
    pt, pb, pl, pr = geom.padding
    full = (n, c, out_hw[0] + pt + pb, out_hw[1] + pl + pr)
    yp = IndexScatter.apply(dcols, _window_key(geom, (kh, kw), (hi, wi)), full)
    y = index(yp, (slice(None), slice(None), slice(pt, pt + out_hw[0]), slice(pl, pl + out_hw[1])))
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


class Conv2d(Function):
    """y = conv(x, w) + b."""

    @staticmethod
    def forward(ctx, x, w, b, geom, out_hw):
        ctx.geom, ctx.in_hw = geom, x.shape[2:]
        ctx.save_for_backward(x, w)
        return _conv_arrays(x, w, geom, out_hw, b)

    @staticmethod
    def backward(ctx, g):  # dx = conv_input_grad(g, w), dw = conv_weight_grad(x, g), db = sum g
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gmat = _grad_matrix(g, ctx.geom, ctx.in_hw)     # both products read dL/dy as this matrix
        out_hw = g.shape[2:]
        gw = _weight_grad_from_matrix(x, gmat, ctx.geom, w.shape[2:], out_hw) if need_w else None
        gx = (_input_grad_from_matrix(gmat, w, ctx.geom, g.shape[0], ctx.in_hw, out_hw)
              if need_x else None)
        gb = gmat.sum(axis=1) if need_b else None      # garbage flat columns hold zeros
        return gx, gw, gb

    reference = staticmethod(_conv_reference)


class ConvTranspose2d(Function):
    """y = conv_input_grad(x, w) + b: the transposed ("fractionally strided") convolution.
    ``w`` has the shape of the convolution it transposes, (C_in, C_out/groups, kh, kw)."""

    @staticmethod
    def forward(ctx, x, w, b, geom, out_hw):
        ctx.geom, ctx.in_hw = geom, x.shape[2:]
        ctx.save_for_backward(x, w)
        y = _conv_input_grad_arrays(x, w, geom, out_hw)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def backward(ctx, g):  # adjoint of the adjoint: dx = conv(g, w), dw = conv_weight_grad(g, x)
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = _conv_arrays(g, w, ctx.geom, ctx.in_hw) if need_x else None
        gw = _conv_weight_grad_arrays(g, x, ctx.geom, w.shape[2:]) if need_w else None
        return gx, gw, (g.sum(axis=(0, 2, 3)) if need_b else None)

    reference = staticmethod(_conv_transpose_reference)


# ------------------------------------------------------------------ public functions
def _as_tensor(a):
    return a if isinstance(a, Tensor) else Tensor(np.asarray(a))


def batched(name: str, x: Tensor, nd: int) -> tuple[Tensor, bool]:
    """Accept (N, C, *spatial) or unbatched (C, *spatial) input, as PyTorch does; returns
    the batched tensor and whether a batch dim was added."""
    if x.ndim == nd + 1:
        return x.unsqueeze(0), True
    if x.ndim != nd + 2:
        dims = {1: "length", 2: "height, width"}.get(nd, "depth, height, width")
        raise ArgumentError(f"{name}: expected a {nd + 2}-D input (batch, channels, {dims}) or a "
                            f"{nd + 1}-D unbatched one, got shape {x.shape}")
    return x, False


def _check_inputs(name: str, x, weight, bias, groups: int, in_channels_axis: int, nd: int):
    """Shared argument checks (on a batched input); raises with the shapes on bad input."""
    if weight.ndim != nd + 2:
        raise ArgumentError(f"{name}: expected a {nd + 2}-D weight, got shape {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ArgumentError(f"{name}: groups must be a positive int, got {groups!r}")
    c = x.shape[1]
    if in_channels_axis == 1:      # convolution: weight (out, in/groups, k...)
        if c != weight.shape[1] * groups:
            raise ArgumentError(f"{name}: input has {c} channels (shape {x.shape}) but weight "
                                f"{weight.shape} with groups={groups} expects "
                                f"{weight.shape[1] * groups}")
        if weight.shape[0] % groups:
            raise ArgumentError(f"{name}: out_channels {weight.shape[0]} is not divisible by "
                                f"groups={groups}")
        out_channels = weight.shape[0]
    else:                          # transposed: weight (in, out/groups, k...)
        if c != weight.shape[0]:
            raise ArgumentError(f"{name}: input has {c} channels (shape {x.shape}) but weight "
                                f"{weight.shape} expects {weight.shape[0]}")
        if c % groups:
            raise ArgumentError(f"{name}: in_channels {c} is not divisible by groups={groups}")
        out_channels = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ArgumentError(f"{name}: bias must have shape ({out_channels},), got {tuple(bias.shape)}")


def _same_or_explicit(name, padding, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right), from an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ArgumentError(f"{name}: padding='same' is not supported for strided "
                                    f"convolutions (stride={stride})")
            out = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)        # as PyTorch: the odd extra pixel goes at the end
                out += [total // 2, total - total // 2]
            return tuple(out)
        raise ArgumentError(f"{name}: padding must be 'valid', 'same', an int or a tuple, "
                            f"got {padding!r}")
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ArgumentError(f"{name}: padding must be non-negative, got {padding!r}")
    return (ph, ph, pw, pw)


def _positive(name, what, values):
    if any(v < 1 for v in values):
        raise ArgumentError(f"{name}: {what} must be positive, got {values}")


_CONV = dict(namespace=("cr", "F"), method=False)


@op(**_CONV, samples=lambda s: [S(s.real(2, 3, 5, 4), s.real(4, 3, 3, 2), s.real(4)),
                                S(s.real(1, 4, 6, 6), s.real(4, 2, 3, 3), None, 2, 1, 1, 2),
                                S(s.real(1, 2, 5, 5), s.real(3, 2, 2, 2), padding=1, dilation=2),
                                S(s.real(2, 5, 5), s.real(2, 2, 3, 3), padding="same")])
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) over (N, C, H, W) input.

    ``weight`` is (out_channels, in_channels/groups, kh, kw); ``padding`` is an int, a pair,
    ``'valid'`` or ``'same'`` (stride 1 only); the output is (N, out_channels, Ho, Wo) with
    Ho = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1.

    Example:
        >>> x = cr.randn(2, 3, 8, 8); w = cr.randn(4, 3, 3, 3)
        >>> conv2d(x, w, padding=1).shape
        (2, 4, 8, 8)
    """
    x, unbatched = batched("conv2d", _as_tensor(input), 2)
    w = _as_tensor(weight)
    _check_inputs("conv2d", x, w, bias, groups, 1, 2)
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    _positive("conv2d", "stride", stride)
    _positive("conv2d", "dilation", dilation)
    kernel = w.shape[2:]
    pads = _same_or_explicit("conv2d", padding, kernel, stride, dilation)
    h = x.shape[2] + pads[0] + pads[1]
    wd = x.shape[3] + pads[2] + pads[3]
    out_hw = ((h - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1,
              (wd - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1)
    if out_hw[0] < 1 or out_hw[1] < 1:
        raise ArgumentError(f"conv2d: the (padded) input {(h, wd)} is smaller than the dilated "
                            f"kernel {tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))}")
    geom = ConvGeometry(stride, dilation, pads, int(groups))
    y = Conv2d.apply(x, w, bias, geom=geom, out_hw=out_hw)
    return y.squeeze(0) if unbatched else y


@op(**_CONV, samples=lambda s: [S(s.real(1, 4, 3, 3), s.real(4, 2, 3, 3), s.real(2), 2, 1, 1),
                                S(s.real(2, 4, 3, 4), s.real(4, 1, 2, 3), None, 1, 0, 0, 2)])
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution (the gradient of ``conv2d`` with respect to its input).

    ``weight`` is (in_channels, out_channels/groups, kh, kw), as in PyTorch; the output is
    (N, out_channels, Ho, Wo) with Ho = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding + 1.
    ``output_padding`` (smaller than stride or dilation) adds rows/columns at the bottom and
    right, choosing among the input sizes a strided ``conv2d`` maps to the same output size.

    Example:
        >>> x = cr.randn(1, 4, 5, 5); w = cr.randn(4, 2, 3, 3)
        >>> conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape
        (1, 2, 10, 10)
    """
    x, unbatched = batched("conv_transpose2d", _as_tensor(input), 2)
    w = _as_tensor(weight)
    _check_inputs("conv_transpose2d", x, w, bias, groups, 0, 2)
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    _positive("conv_transpose2d", "stride", stride)
    _positive("conv_transpose2d", "dilation", dilation)
    ph, pw = pair(padding, "padding")
    oph, opw = pair(output_padding, "output_padding")
    if min(ph, pw, oph, opw) < 0:
        raise ArgumentError("conv_transpose2d: padding and output_padding must be non-negative")
    for extra, s, d in ((oph, stride[0], dilation[0]), (opw, stride[1], dilation[1])):
        if extra >= max(s, d):
            raise ArgumentError(f"conv_transpose2d: output_padding {(oph, opw)} must be smaller "
                                f"than either stride {stride} or dilation {dilation}")
    kernel = w.shape[2:]
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + extra + 1
                   for n, s, p, d, k, extra in zip(x.shape[2:], stride, (ph, pw), dilation,
                                                   kernel, (oph, opw)))
    if out_hw[0] < 1 or out_hw[1] < 1:
        raise ArgumentError(f"conv_transpose2d: padding {(ph, pw)} leaves no output "
                            f"(computed size {out_hw}) for input {x.shape}")
    geom = ConvGeometry(stride, dilation, (ph, ph, pw, pw), int(groups))
    y = ConvTranspose2d.apply(x, w, bias, geom=geom, out_hw=out_hw)
    return y.squeeze(0) if unbatched else y


def _single(value, name: str) -> tuple[int, int]:
    """A 1-D argument (int or 1-tuple) as the (height, width) pair of a height-1 conv2d."""
    return (1, pair(value, name, 1)[0])


@op(**_CONV, samples=lambda s: [S(s.real(2, 3, 6), s.real(4, 3, 3), s.real(4), 2, 1)])
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution over (N, C, L) input; ``weight`` is (out, in/groups, k). Runs as a
    ``conv2d`` of height 1, so it shares that kernel (and its backward).

    Example:
        >>> conv1d(cr.randn(2, 3, 10), cr.randn(5, 3, 3), padding="same").shape
        (2, 5, 10)
    """
    x, unbatched = batched("conv1d", _as_tensor(input), 1)
    w = _as_tensor(weight)
    _check_inputs("conv1d", x, w, bias, groups, 1, 1)
    pad = padding if isinstance(padding, str) else (0, pair(padding, "padding", 1)[0])
    y = conv2d(x.unsqueeze(2), w.unsqueeze(2), bias, _single(stride, "stride"), pad,
               _single(dilation, "dilation"), groups).squeeze(2)
    return y.squeeze(0) if unbatched else y


@op(**_CONV, samples=lambda s: [S(s.real(1, 4, 5), s.real(4, 2, 3), s.real(2), 2)])
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution over (N, C, L); ``weight`` is (in, out/groups, k).

    Example:
        >>> conv_transpose1d(cr.randn(1, 4, 5), cr.randn(4, 2, 3), stride=2).shape
        (1, 2, 11)
    """
    x, unbatched = batched("conv_transpose1d", _as_tensor(input), 1)
    w = _as_tensor(weight)
    _check_inputs("conv_transpose1d", x, w, bias, groups, 0, 1)
    y = conv_transpose2d(x.unsqueeze(2), w.unsqueeze(2), bias, _single(stride, "stride"),
                         (0, pair(padding, "padding", 1)[0]),
                         (0, pair(output_padding, "output_padding", 1)[0]), groups,
                         _single(dilation, "dilation")).squeeze(2)
    return y.squeeze(0) if unbatched else y
