"""Shape primitives: they move values around without changing them, so each backward moves
the gradient back the same way (reshape back, permute back, slice back, sum what was copied).
"""
from __future__ import annotations

import builtins

import numpy as np

from chainrule.autograd import Function
from chainrule.ops import _poly
from chainrule.tensor import Tensor


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                             f"({a.size} elements) into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):  # same values, original shape
        return g.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.inverse = tuple(np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):  # undo the permutation
        return _poly.permute(g, ctx.inverse)


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):  # every copy contributes: the engine sums g back to a's shape
        return g


class SumTo(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return _poly.sum_array_to(a, shape)

    @staticmethod
    def backward(ctx, g):  # the gradient of summing copies is copying the gradient
        return _poly.broadcast_to(g, ctx.shape)


class Repeat(Function):
    @staticmethod
    def forward(ctx, a, reps):
        lead = len(reps) - a.ndim
        ctx.in_shape = (1,) * lead + a.shape
        ctx.orig_shape = a.shape
        ctx.reps = reps
        return np.tile(a, reps)

    @staticmethod
    def backward(ctx, g):  # each tile got a copy: sum the tiles
        split = []
        for r, s in zip(ctx.reps, ctx.in_shape):
            split += [r, s]
        g = g.reshape(tuple(split))
        g = _poly.sum_keep(g, tuple(range(0, len(split), 2)))
        return g.reshape(ctx.orig_shape)


class Flip(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return np.flip(a, axes)

    @staticmethod
    def backward(ctx, g):  # flipping twice is the identity
        return _poly.flip(g, ctx.axes)


class Index(Function):
    @staticmethod
    def forward(ctx, a, key):
        ctx.key, ctx.shape, ctx.dtype = key, a.shape, a.dtype
        return a[key]

    @staticmethod
    def backward(ctx, g):  # scatter the gradient back to where the values came from
        return _poly.index_scatter(g, ctx.key, ctx.shape, ctx.dtype)


class IndexScatter(Function):
    @staticmethod
    def forward(ctx, g, key, shape):
        ctx.key = key
        return _poly.scatter_array(g, key, shape, g.dtype)

    @staticmethod
    def backward(ctx, gg):  # the adjoint of scattering is gathering
        return gg[ctx.key]


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.bounds = np.cumsum([0] + [a.shape[dim] for a in arrays])
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):  # each input gets its own slab back
        lead = (slice(None),) * ctx.dim
        b = ctx.bounds
        return tuple(g[lead + (slice(int(b[i]), int(b[i + 1])),)] for i in range(len(b) - 1))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim, ctx.n = dim, len(arrays)
        return np.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):  # each input gets its own slice back
        lead = (slice(None),) * ctx.dim
        return tuple(g[lead + (i,)] for i in range(ctx.n))


class Pad(Function):
    @staticmethod
    def forward(ctx, a, widths, value):
        ctx.key = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return np.pad(a, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):  # the padding is constant: only the original region gets gradient
        return g[ctx.key]


class Gather(Function):
    @staticmethod
    def forward(ctx, a, dim, index):
        # out[i][j][k] = a[i][index[i][j][k]][k] (dim=1): an advanced-indexing key with
        # index along ``dim`` and plain positions along every other dim.
        key = list(np.indices(index.shape, sparse=True))
        key[dim] = index
        ctx.key, ctx.shape = tuple(key), a.shape
        return a[ctx.key]

    @staticmethod
    def backward(ctx, g):  # scatter-add: an index picked twice gets both gradients
        return _poly.index_scatter(g, ctx.key, ctx.shape, g.dtype), None, None


# ---------------------------------------------------------------- public forms
def _dim(d: int, ndim: int, name: str) -> int:
    if not -ndim <= d < ndim:
        raise IndexError(f"{name}: dim {d} is out of range for a tensor with {ndim} dimensions")
    return d % ndim


def reshape(a, shape):
    """Same values in a new shape (one entry may be -1)."""
    return Reshape.apply(a, tuple(int(s) for s in shape))


def flatten(a, start_dim: int = 0, end_dim: int = -1):
    """Merge dims ``start_dim``..``end_dim`` into one. Example: ``images.flatten(1)`` -> (N, C*H*W)"""
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = _dim(start_dim, a.ndim, "flatten"), _dim(end_dim, a.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"(tensor of shape {a.shape})")
    shape = a.shape[:s] + (-1,) + a.shape[e + 1:]
    return reshape(a, shape)


def permute(a, dims):
    """Reorder the dims. Example: ``x.permute(0, 2, 3, 1)`` (NCHW -> NHWC)"""
    dims = tuple(_dim(d, a.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(a.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of 0..{a.ndim - 1}")
    return Permute.apply(a, dims)


def transpose(a, dim0: int, dim1: int):
    """Swap two dims. Example: ``x.transpose(-2, -1)``"""
    axes = list(range(a.ndim))
    d0, d1 = _dim(dim0, a.ndim, "transpose"), _dim(dim1, a.ndim, "transpose")
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute.apply(a, tuple(axes))


def squeeze(a, dim=None):
    """Drop size-1 dims (all, or only ``dim``). Example: ``x.squeeze(1)``"""
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = _poly.normalize_dims(dim, a.ndim)
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in dims and s == 1))
    return reshape(a, shape)


def unsqueeze(a, dim: int):
    """Insert a size-1 dim at ``dim``. Example: ``bias.unsqueeze(0)``"""
    d = _dim(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def expand(a, shape):
    """Broadcast to ``shape`` without copying; -1 keeps a dimension."""
    shape = tuple(shape)
    lead = len(shape) - a.ndim
    if lead < 0:
        raise ValueError(f"expand: target shape {shape} has fewer dims than the tensor {a.shape}")
    full = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    try:
        np.broadcast_shapes(a.shape, full)
    except ValueError:
        raise ValueError(f"expand: cannot expand shape {a.shape} to {full}") from None
    if full == a.shape:
        return a
    return Expand.apply(a, full)


def repeat(a, sizes):
    """Tile the tensor ``sizes[i]`` times along each dim (PyTorch's ``repeat``)."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < a.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat counts for a tensor with {a.ndim} dims")
    return Repeat.apply(a, sizes)


def flip(a, dims):
    """Reverse the order of entries along ``dims``. Example: ``x.flip(0)``"""
    return Flip.apply(a, _poly.normalize_dims(dims, a.ndim))


def _key(key):
    """Tensors inside an index become arrays; lists become integer arrays."""
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, list):
        return np.asarray(key)
    if isinstance(key, tuple):
        return tuple(_key(k) for k in key)
    return key


def index(a, key):
    """``a[key]``: basic slicing, integer-array and boolean indexing (differentiable)."""
    key = _key(key)
    try:
        return Index.apply(a, key)
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {a.shape})") from None


def _check_same(tensors, name, dim, skip_dim=True):
    shapes = [t.shape for t in tensors]
    nd = len(shapes[0])
    for s in shapes:
        if len(s) != nd or any(x != y for i, (x, y) in enumerate(zip(s, shapes[0]))
                               if not (skip_dim and i == dim)):
            raise ValueError(f"{name}: shapes {shapes} must match except in dim {dim}"
                             if skip_dim else f"{name}: all shapes must be equal, got {shapes}")


def cat(tensors, dim: int = 0):
    """Join tensors along an existing dim."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    d = _dim(dim, tensors[0].ndim, "cat")
    _check_same(tensors, "cat", d)
    return Cat.apply(*tensors, dim=d)


def stack(tensors, dim: int = 0):
    """Join tensors along a new dim."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    d = _dim(dim, tensors[0].ndim + 1, "stack")
    _check_same(tensors, "stack", d, skip_dim=False)
    return Stack.apply(*tensors, dim=d)


def split(a, split_size_or_sections, dim: int = 0):
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or the given sizes."""
    d = _dim(dim, a.ndim, "split")
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [builtins.min(split_size_or_sections, n - s)
                 for s in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n} (dim {d})")
    lead = (slice(None),) * d
    out, start = [], 0
    for s in sizes:
        out.append(index(a, lead + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(a, chunks: int, dim: int = 0):
    """Split into ``chunks`` nearly equal pieces (PyTorch's rule: ceil-sized pieces)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = a.shape[_dim(dim, a.ndim, "chunk")]
    size = -(-n // chunks) if n else 1
    return split(a, builtins.max(size, 1), dim)


def pad(a, pad, mode: str = "constant", value: float = 0.0):
    """Pad with a constant; ``pad`` lists (before, after) pairs from the *last* dim, as in
    ``torch.nn.functional.pad``: ``pad(x, (1, 1))`` pads the last dim by one on each side."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise ValueError(f"pad: expected an even number of widths for at most {a.ndim} dims, "
                         f"got {tuple(pad)}")
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        lo, hi = int(pad[2 * i]), int(pad[2 * i + 1])
        if lo < 0 or hi < 0:
            raise ValueError("pad: negative padding is not supported")
        widths[a.ndim - 1 - i] = (lo, hi)
    return Pad.apply(a, tuple(widths), value)


def gather(a, dim: int, index):
    """``out[i][j] = a[i][index[i][j]]`` along ``dim`` (PyTorch's ``gather``)."""
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got dtype {idx.dtype}")
    d = _dim(dim, a.ndim, "gather")
    if idx.ndim != a.ndim:
        raise ValueError(f"gather: index has {idx.ndim} dims but the input has {a.ndim}")
    n = a.shape[d]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"gather: index values must lie in [{-n}, {n - 1}] for dim {dim} of "
                         f"size {n}, got values from {idx.min()} to {idx.max()}")
    return Gather.apply(a, d, idx)


def sum_to(a, shape):
    """Sum broadcast dims away until ``a`` has ``shape`` (the adjoint of ``expand``)."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    return SumTo.apply(a, shape)


class Cumsum(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        return np.cumsum(a, axis=dim)

    @staticmethod
    def backward(ctx, g):  # y_j = sum_{i<=j} a_i  =>  da_i = sum_{j>=i} g_j (reversed cumsum)
        return _reverse_cumsum(g, ctx.dim)


def _reverse_cumsum(g, dim):
    flipped = _poly.flip(g, (dim,))
    summed = cumsum(flipped, dim) if isinstance(g, Tensor) else np.cumsum(flipped, axis=dim)
    return _poly.flip(summed, (dim,))


def cumsum(a, dim: int):
    """Running sum along ``dim``. Example: ``cr.cumsum(x, dim=0)``"""
    return Cumsum.apply(a, _dim(dim, a.ndim, "cumsum"))


def index_select(a, dim: int, indices):
    """The entries of ``indices`` along ``dim`` (repeats allowed; gradients accumulate)."""
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise TypeError(f"index_select: index must be a 1-D integer tensor, got shape "
                        f"{idx.shape} and dtype {idx.dtype}")
    d = _dim(dim, a.ndim, "index_select")
    return index(a, (slice(None),) * d + (idx,))


def _triangle(a, diagonal: int, upper: bool, name: str):
    if a.ndim < 2:
        raise ValueError(f"{name}: expects at least 2 dims, got shape {a.shape}")
    n, m = a.shape[-2:]
    keep = np.triu(np.ones((n, m), dtype=bool), diagonal) if upper else \
        np.tril(np.ones((n, m), dtype=bool), diagonal)
    from chainrule.ops.elementwise import mul
    return mul(a, keep)


def triu(a, diagonal: int = 0):
    """The upper triangle (entries below ``diagonal`` set to zero)."""
    return _triangle(a, diagonal, True, "triu")


def tril(a, diagonal: int = 0):
    """The lower triangle (entries above ``diagonal`` set to zero)."""
    return _triangle(a, diagonal, False, "tril")
