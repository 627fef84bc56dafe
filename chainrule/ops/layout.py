"""Rearranging values: diagonals, rolls, rotations, repeats, stacking helpers, splits,
meshgrids and the index finders (nonzero, argwhere, triangle indices).

Everything here is a composition of the shape primitives (indexing, its adjoint
``IndexScatter``, reshape, permute, cat, pad), so gradients and second derivatives come from
those.
"""
from __future__ import annotations

import builtins

import numpy as np

from chainrule.backend import ArgumentError, ShapeError
from chainrule.ops import _poly
from chainrule.ops.elementwise import _data
from chainrule.ops.promotion import promote
from chainrule.ops.registry import S, op
from chainrule.ops.shape import (
    IndexScatter, cat, expand, flatten, flip, pad, permute, reshape, stack, transpose)
from chainrule.ops.shape import index as _index
from chainrule.tensor import Tensor, _dims

_dim = _poly.one_dim


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


# ------------------------------------------------------------------------ diagonals
def _diagonal_positions(n1: int, n2: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the ``offset`` diagonal of an n1 x n2 matrix."""
    rows = np.arange(builtins.max(0, -offset), n1)
    cols = rows + offset
    keep = cols < n2
    return rows[keep], cols[keep]


@op(samples=lambda s: [S(s.real(3, 4)), S(s.real(3, 4), 1), S(s.real(2, 3, 4), -1, 0, 2),
                       S(s.real(2, 3, 4), 0, -1, -2)])
def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """The ``offset`` diagonal of the (dim1, dim2) planes, as the last dim.
    Example: ``cr.diagonal(m)``, ``batch.diagonal(dim1=-2, dim2=-1)``"""
    a = input
    d1, d2 = _dim(dim1, a.ndim, "diagonal"), _dim(dim2, a.ndim, "diagonal")
    if d1 == d2:
        raise ArgumentError(f"diagonal: dim1 and dim2 must differ, both are {d1}")
    rest = [k for k in range(a.ndim) if k not in (d1, d2)]
    moved = permute(a, tuple(rest) + (d1, d2))
    rows, cols = _diagonal_positions(a.shape[d1], a.shape[d2], offset)
    return _index(moved, (Ellipsis, rows, cols))


@op(samples=lambda s: [S(s.real(3, 4)), S(s.real(4), 1), S(s.real(3), -2), S(s.real(4, 3), -1)])
def diag(input, diagonal: int = 0):
    """A vector -> the square matrix with it on the ``diagonal``; a matrix -> its
    ``diagonal`` as a vector. Example: ``cr.diag(cr.ones(3))`` is the 3x3 identity"""
    a = input
    if a.ndim == 1:
        n = a.shape[0] + builtins.abs(diagonal)
        rows, cols = _diagonal_positions(n, n, diagonal)
        return IndexScatter.apply(a, (rows, cols), (n, n))
    if a.ndim == 2:
        return globals()["diagonal"](a, diagonal)
    raise ShapeError(f"diag: expects a 1-D or 2-D tensor, got shape {a.shape}")


@op(samples=lambda s: [S(s.real(2, 3)), S(s.real(2, 3), 1), S(s.real(2, 3), -1, 0, 2)])
def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """Each vector along the last dim laid on the ``offset`` diagonal of a new (dim1, dim2)
    plane (the inverse of ``diagonal``). Example: ``cr.diag_embed(v)`` (B, n) -> (B, n, n)"""
    a = input
    n = a.shape[-1] + builtins.abs(offset)
    nd = a.ndim + 1
    d1, d2 = _dim(dim1, nd, "diag_embed"), _dim(dim2, nd, "diag_embed")
    if d1 == d2:
        raise ArgumentError(f"diag_embed: dim1 and dim2 must differ, both are {d1}")
    rows, cols = _diagonal_positions(n, n, offset)
    lead = a.shape[:-1]
    out = IndexScatter.apply(a, (Ellipsis, rows, cols), lead + (n, n))  # planes last
    rest = iter(range(len(lead)))
    order = [0] * nd
    for k in range(nd):
        order[k] = len(lead) if k == d1 else len(lead) + 1 if k == d2 else next(rest)
    return permute(out, tuple(order))


@op(samples=lambda s: [S(s.real(3)), S(s.real(2, 2), 1)])
def diagflat(input, offset: int = 0):
    """The flattened input on the ``offset`` diagonal of a square matrix.
    Example: ``cr.diagflat(x)``"""
    return diag(flatten(input), offset)


@op(samples=lambda s: [S(s.real(3, 4)), S(s.real(3, 3))])
def trace(input):
    """The sum of the main diagonal of a matrix (integers give int64).
    Example: ``cr.trace(m)``"""
    if input.ndim != 2:
        raise ShapeError(f"trace: expects a matrix, got shape {input.shape}")
    return diagonal(input).sum()


# -------------------------------------------------------------------- moving values
@op(samples=lambda s: [S(s.real(3, 4), 1), S(s.real(3, 4), (2, -1), (0, 1)), S(s.real(2, 3), -1, 0)])
def roll(input, shifts, dims=None):
    """Shift entries along ``dims`` cyclically by ``shifts`` (over the flattened tensor
    when ``dims`` is None). Example: ``x.roll(1, 0)``"""
    a = input
    if dims is None:
        if not isinstance(shifts, (int, np.integer)) and len(shifts) != 1:
            raise ArgumentError("roll: with dims=None, shifts must be one number")
        shift = shifts if isinstance(shifts, (int, np.integer)) else shifts[0]
        return reshape(roll(flatten(a), shift, 0), a.shape)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise ArgumentError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    out = a
    for shift, d in zip(shifts, dims):
        d = _dim(d, a.ndim, "roll")
        n = a.shape[d]
        if n == 0 or shift % n == 0:
            continue
        source = (np.arange(n) - shift) % n
        out = _index(out, (slice(None),) * d + (source,))
    return out


@op(samples=lambda s: [S(s.real(2, 3, 4), 0, 2), S(s.real(2, 3, 4), (0, 1), (-1, 0))])
def movedim(input, source, destination):
    """Move dims ``source`` to positions ``destination`` (the others keep their order).
    Example: ``x.movedim(1, -1)`` (NCHW -> NHWC)"""
    a = input
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise ArgumentError(f"movedim: source {src} and destination {dst} must have the same "
                            f"length")
    src = tuple(_dim(d, a.ndim, "movedim") for d in src)
    dst = tuple(_dim(d, a.ndim, "movedim") for d in dst)
    order = [d for d in range(a.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(a, tuple(order))


@op(samples=lambda s: [S(s.real(2, 3, 4), 0, 2)])
def moveaxis(input, source, destination):
    """NumPy's name for ``movedim``. Example: ``x.moveaxis(0, -1)``"""
    return movedim(input, source, destination)


@op(samples=lambda s: [S(s.real(4, 5), 1, 1, 3), S(s.real(4, 5), 0, -2, 2)])
def narrow(input, dim: int, start: int, length: int):
    """The ``length`` entries from ``start`` along ``dim`` (a view). Example:
    ``x.narrow(1, 0, 2)``"""
    d = _dim(dim, input.ndim, "narrow")
    n = input.shape[d]
    start = int(start) + (n if start < 0 else 0)
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} and length {length} do not fit dim {dim} of "
                         f"size {n}")
    return _index(input, (slice(None),) * d + (slice(start, start + length),))


@op(samples=lambda s: [S(s.real(3, 4), 1, 2), S(s.real(3, 4), 0, -1)])
def select(input, dim: int, index: int):
    """The slice at ``index`` along ``dim``, that dim removed. Example: ``x.select(0, 1)``"""
    d = _dim(dim, input.ndim, "select")
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size {n}")
    return _index(input, (slice(None),) * d + (int(index),))


def _tile_method(self, *dims):
    return tile(self, _dims(dims))


@op(method=_tile_method,
    samples=lambda s: [S(s.real(2, 3), (2, 2)), S(s.real(2, 3), (3,)), S(s.real(3), (2, 2))])
def tile(input, dims):
    """Repeat the tensor ``dims[i]`` times along each dim (missing leading counts are 1; a
    shorter tensor gets leading dims). Example: ``x.tile(2, 1)``"""
    reps = tuple(int(r) for r in (dims if isinstance(dims, (tuple, list)) else (dims,)))
    a = input
    if len(reps) < a.ndim:
        reps = (1,) * (a.ndim - len(reps)) + reps
    return a.repeat(reps)


@op(samples=lambda s: [S(s.real(2, 3), 2), S(s.real(2, 3), np.array([1, 0, 2]), 1),
                       S(s.real(2, 3), 2, 0)])
def repeat_interleave(input, repeats=None, dim: int | None = None, *, output_size=None):
    """Repeat each entry ``repeats`` times (a number, or one count per entry) along ``dim``
    (the flattened tensor when None). With only an integer tensor of counts,
    ``cr.repeat_interleave(counts)`` gives each position repeated that often.
    Example: ``cr.repeat_interleave(x, 2, dim=0)``"""
    if repeats is None:
        counts = np.asarray(_data(input))
        return Tensor(np.repeat(np.arange(len(counts)), counts).astype(np.int64))
    a = input
    if dim is None:
        a, d = flatten(a), 0
    else:
        d = _dim(dim, a.ndim, "repeat_interleave")
    n = a.shape[d] if a.ndim else 1
    counts = np.asarray(_data(repeats))
    if counts.ndim and counts.size not in (1, n):
        raise ShapeError(f"repeat_interleave: repeats has {counts.size} counts for dim {d} of "
                         f"size {n}")
    if (counts < 0).any():
        raise ArgumentError("repeat_interleave: repeats must be non-negative")
    source = np.repeat(np.arange(n), counts.reshape(-1) if counts.ndim else int(counts))
    if a.ndim == 0:
        return _index(reshape(a, (1,)), source)
    return _index(a, (slice(None),) * d + (source,))


@op(samples=lambda s: [S(s.real(2, 3)), S(s.real(2, 3, 4), 2, (1, 2)), S(s.real(2, 3), -1)])
def rot90(input, k: int = 1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from the first dim
    towards the second). Example: ``img.rot90(1, (-2, -1))``"""
    if len(dims) != 2:
        raise ArgumentError(f"rot90: dims must name two dims, got {dims}")
    d0, d1 = _dim(dims[0], input.ndim, "rot90"), _dim(dims[1], input.ndim, "rot90")
    if d0 == d1:
        raise ArgumentError(f"rot90: the two dims must differ, got {dims}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return flip(transpose(input, d0, d1), (d1,))
    return input * 1 if input.dtype.kind in "fc" else Tensor(input.data.copy())


@op(samples=lambda s: [S(s.real(2, 3)), S(s.real(3, 2))])
def flipud(input):
    """Flip along dim 0 (up/down). Example: ``cr.flipud(m)``"""
    return flip(input, (0,))


@op(samples=lambda s: [S(s.real(2, 3))])
def fliplr(input):
    """Flip along dim 1 (left/right). Example: ``cr.fliplr(m)``"""
    if input.ndim < 2:
        raise ShapeError(f"fliplr: expects at least 2 dims, got shape {input.shape}")
    return flip(input, (1,))


# ------------------------------------------------------------------ shapes and stacks
@op(samples=lambda s: [S(s.real(6), 0, (2, 3)), S(s.real(2, 6), -1, (3, -1))])
def unflatten(input, dim: int = 0, sizes=None):
    """Split dim ``dim`` into ``sizes`` (one may be -1). Example: ``x.unflatten(1, (3, 4))``"""
    if sizes is None:
        raise TypeError("unflatten: sizes is required")
    d = _dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(v) for v in sizes)
    known = int(np.prod([v for v in sizes if v != -1])) if sizes else 1
    if -1 not in sizes and known != input.shape[d]:
        raise ShapeError(f"unflatten: sizes {sizes} do not multiply to dim {d}'s size "
                         f"{input.shape[d]}")
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])


@op(samples=lambda s: [S(s.real(6)), S(s.real(2, 3))])
def ravel(input):
    """The tensor flattened to one dim. Example: ``x.ravel()``"""
    return reshape(input, (-1,))


def _atleast(n: int, tensors):
    def one(t):
        t = _tensor(t)
        if t.ndim >= n:
            return t
        if n == 3 and t.ndim == 2:
            return reshape(t, t.shape + (1,))
        if n == 3 and t.ndim == 1:
            return reshape(t, (1,) + t.shape + (1,))
        return reshape(t, (1,) * (n - t.ndim) + t.shape)
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(one(t) for t in tensors[0])
    out = tuple(one(t) for t in tensors)
    return out[0] if len(out) == 1 else out


@op(method=False, samples=lambda s: [S(s.real()), S(s.real(3))])
def atleast_1d(*tensors):
    """Each tensor with at least one dim. Example: ``cr.atleast_1d(x)``"""
    return _atleast(1, tensors)


@op(method=False, samples=lambda s: [S(s.real()), S(s.real(3))])
def atleast_2d(*tensors):
    """Each tensor with at least two dims (a vector becomes a row). Example:
    ``cr.atleast_2d(v)``"""
    return _atleast(2, tensors)


@op(method=False, samples=lambda s: [S(s.real(3)), S(s.real(2, 3))])
def atleast_3d(*tensors):
    """Each tensor with at least three dims (a vector (n) becomes (1, n, 1), a matrix
    (m, n) becomes (m, n, 1)). Example: ``cr.atleast_3d(m)``"""
    return _atleast(3, tensors)


def _joined(name, tensors):
    if isinstance(tensors, Tensor) or not len(tensors):
        raise TypeError(f"{name}: expects a non-empty list of tensors")
    return [_tensor(t) for t in tensors]


@op(method=False, samples=lambda s: [S([s.real(2, 3), s.real(2, 2)]), S([s.real(3), s.real(2)])])
def hstack(tensors):
    """Join along dim 1 (dim 0 for vectors). Example: ``cr.hstack([a, b])``"""
    ts = _atleast(1, (_joined("hstack", tensors),))
    return cat(list(ts), 0 if ts[0].ndim == 1 else 1)


@op(method=False, aliases=("row_stack",), samples=lambda s: [S([s.real(2, 3), s.real(1, 3)]), S([s.real(3), s.real(3)])])
def vstack(tensors):
    """Join along dim 0 (vectors become rows first). Example: ``cr.vstack([a, b])``"""
    return cat(list(_atleast(2, (_joined("vstack", tensors),))), 0)


@op(method=False, samples=lambda s: [S([s.real(2, 3), s.real(2, 3)]), S([s.real(3), s.real(3)])])
def dstack(tensors):
    """Join along dim 2 (after ``atleast_3d``). Example: ``cr.dstack([a, b])``"""
    return cat(list(_atleast(3, (_joined("dstack", tensors),))), 2)


@op(method=False, samples=lambda s: [S([s.real(3), s.real(3, 2)])])
def column_stack(tensors):
    """Join vectors (as columns) and matrices along dim 1. Example:
    ``cr.column_stack([x, y])``"""
    ts = _joined("column_stack", tensors)
    ts = [reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in ts]
    return cat(ts, 1)


def _split_points(n: int, indices_or_sections) -> list:
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ArgumentError(f"tensor_split: sections must be positive, got {sections}")
        size, extra = divmod(n, sections)   # the first ``extra`` pieces get one more
        points, at = [], 0
        for k in range(sections - 1):
            at += size + (1 if k < extra else 0)
            points.append(at)
        return points
    return [int(v) for v in indices_or_sections]


@op(samples=lambda s: [S(s.real(7, 2), 3), S(s.real(2, 7), (1, 4), 1), S(s.real(5), [2, 9])])
def tensor_split(input, indices_or_sections, dim: int = 0):
    """Split along ``dim`` into ``sections`` nearly equal pieces (the first ones one longer)
    or at the given indices. Example: ``a, b, c = x.tensor_split(3)``"""
    d = _dim(dim, input.ndim, "tensor_split")
    n = input.shape[d]
    points = _split_points(n, indices_or_sections)
    bounds = [0] + [builtins.min(builtins.max(p if p >= 0 else p + n, 0), n) for p in points] + [n]
    lead = (slice(None),) * d
    return tuple(_index(input, lead + (slice(lo, builtins.max(lo, hi)),))
                 for lo, hi in zip(bounds[:-1], bounds[1:]))


def _direction_split(name: str, a, sections, dim: int):
    if isinstance(sections, (int, np.integer)) and a.shape[dim] % sections:
        raise ArgumentError(f"{name}: dim {dim} of size {a.shape[dim]} does not split into "
                            f"{sections} equal parts")
    return tensor_split(a, sections, dim)


@op(samples=lambda s: [S(s.real(2, 4), 2), S(s.real(4), [1])])
def hsplit(input, sections):
    """Split along dim 1 (dim 0 for vectors) into equal parts or at indices."""
    return _direction_split("hsplit", input, sections, 0 if input.ndim == 1 else 1)


@op(samples=lambda s: [S(s.real(4, 2), 2)])
def vsplit(input, sections):
    """Split along dim 0 into equal parts or at indices."""
    return _direction_split("vsplit", input, sections, 0)


@op(samples=lambda s: [S(s.real(2, 2, 4), 2)])
def dsplit(input, sections):
    """Split along dim 2 into equal parts or at indices."""
    return _direction_split("dsplit", input, sections, 2)


@op(method=False, samples=lambda s: [S(s.real(3, 1), s.real(4), s.real(2, 1, 1))])
def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape. Example:
    ``a2, b2 = cr.broadcast_tensors(a, b)``"""
    ts = [_tensor(t) for t in tensors]
    try:
        shape = np.broadcast_shapes(*[t.shape for t in ts])
    except ValueError:
        raise ShapeError(f"broadcast_tensors: shapes {[t.shape for t in ts]} cannot be "
                         f"broadcast together") from None
    return tuple(expand(t, shape) if t.shape != shape else t for t in ts)


@op(method=False, differentiable=False, samples=lambda s: [S((3, 1), (4,)), S((2, 1, 3), 1, (5, 1))])
def broadcast_shapes(*shapes) -> tuple:
    """The broadcast shape of ``shapes`` (as ``torch.broadcast_shapes``). Example:
    ``cr.broadcast_shapes((3, 1), (4,))`` is (3, 4)"""
    try:
        return tuple(np.broadcast_shapes(*[(s,) if isinstance(s, int) else tuple(s)
                                           for s in shapes]))
    except ValueError:
        raise ShapeError(f"broadcast_shapes: shapes {shapes} cannot be broadcast together") from None


@op(method=False, samples=lambda s: [S(s.real(3), s.real(2)), S(s.real(3), s.real(2), indexing="xy")])
def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids from 1-D tensors: with ``indexing="ij"`` output k varies along dim
    k; ``"xy"`` swaps the first two dims (NumPy's default). Example:
    ``yy, xx = cr.meshgrid(ys, xs, indexing="ij")``"""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ArgumentError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [_tensor(t) for t in tensors]
    for t in ts:
        if t.ndim > 1:
            raise ShapeError(f"meshgrid: expects 0-D or 1-D tensors, got shape {t.shape}")
    ts = [reshape(t, (-1,)) for t in ts]
    ts = list(promote(*ts)) if len({t.dtype for t in ts}) > 1 else ts
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    grids = []
    for k, t in enumerate(ts):
        view = [1] * len(ts)
        view[k] = shape[k]
        grids.append(expand(reshape(t, tuple(view)), shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


@op(method=False, samples=lambda s: [S(s.real(2, 2), s.real(1, 3), s.real(2))])
def block_diag(*tensors):
    """The tensors (matrices; vectors are rows, numbers 1x1) as blocks along the diagonal
    of a zero matrix. Example: ``cr.block_diag(a, b)``"""
    ts = [_tensor(t) for t in tensors]
    ts = [reshape(t, (1, 1)) if t.ndim == 0 else reshape(t, (1, t.shape[0])) if t.ndim == 1
          else t for t in ts]
    for t in ts:
        if t.ndim != 2:
            raise ShapeError(f"block_diag: expects tensors of at most 2 dims, got {t.shape}")
    if len({t.dtype for t in ts}) > 1:
        ts = list(promote(*ts))
    width = builtins.sum(t.shape[1] for t in ts)
    rows, left = [], 0
    for t in ts:
        rows.append(pad(t, (left, width - left - t.shape[1])))
        left += t.shape[1]
    return cat(rows, 0)


@op(method=False, samples=lambda s: [S(s.real(3), s.real(2)), S(s.real(2), s.real(2), s.real(2))])
def cartesian_prod(*tensors):
    """Every combination of the vectors' entries, one per row (a single vector is returned
    as it is). Example: ``cr.cartesian_prod(a, b)`` (len(a) * len(b), 2)"""
    if len(tensors) == 1:
        return _tensor(tensors[0])
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], 1)


# ------------------------------------------------------------------ finding indices
@op(differentiable=False, dtypes="any",
    samples=lambda s: [S(s.bools(3, 4)), S(np.array([[0.0, 1.5], [0.0, -2.0]])),
                       S(s.bools(2, 3), as_tuple=True)])
def nonzero(input, *, as_tuple: bool = False):
    """The indices of the non-zero entries: an (n, ndim) int64 tensor, or with
    ``as_tuple=True`` one index vector per dim (usable as ``x[...]``).
    Example: ``cr.nonzero(mask)``"""
    x = np.asarray(_data(input))
    if as_tuple:
        if x.ndim == 0:
            return (Tensor(np.nonzero(x.reshape(1))[0].astype(np.int64)),)
        return tuple(Tensor(i.astype(np.int64)) for i in np.nonzero(x))
    return Tensor(np.argwhere(x).astype(np.int64))


@op(differentiable=False, dtypes="any", samples=lambda s: [S(s.bools(3, 4))])
def argwhere(input):
    """The indices of the non-zero entries, (n, ndim) int64. Example: ``cr.argwhere(x > 0)``"""
    return nonzero(input)


@op(differentiable=False, dtypes="any", samples=lambda s: [S(s.bools(3, 4)), S(s.bools(3, 4), 1)])
def count_nonzero(input, dim=None):
    """The number of non-zero entries (over ``dim``), int64. Example: ``(x > 0).count_nonzero()``"""
    x = np.asarray(_data(input))
    axes = _poly.normalize_dims(dim, x.ndim)
    return Tensor(np.asarray(np.count_nonzero(x, axis=axes if x.ndim else None), dtype=np.int64))


def _triangle_indices(row: int, col: int, offset: int, upper: bool) -> Tensor:
    mask = np.triu(np.ones((row, col), dtype=bool), offset) if upper else \
        np.tril(np.ones((row, col), dtype=bool), offset)
    return Tensor(np.stack(np.nonzero(mask)).astype(np.int64))


@op(method=False, differentiable=False, dtypes="any", samples=lambda s: [S(3, 3), S(4, 3, -1)])
def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The (2, n) indices of the lower triangle of a row x col matrix (as
    ``torch.tril_indices``). Example: ``i, j = cr.tril_indices(3, 3)``"""
    out = _triangle_indices(row, col, offset, upper=False)
    return out if dtype is None else out.astype(dtype)


@op(method=False, differentiable=False, dtypes="any", samples=lambda s: [S(3, 3), S(3, 4, 1)])
def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The (2, n) indices of the upper triangle of a row x col matrix. Example:
    ``i, j = cr.triu_indices(3, 3, 1)``"""
    out = _triangle_indices(row, col, offset, upper=True)
    return out if dtype is None else out.astype(dtype)

