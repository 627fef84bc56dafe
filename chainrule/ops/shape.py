"""Shape primitives: they move values around without changing them, so each backward moves
the gradient back the same way (reshape back, permute back, slice back, sum what was copied).
"""
from __future__ import annotations

import builtins

import numpy as np

from chainrule import backend
from chainrule.autograd import Function
from chainrule.backend import ArgumentError, DtypeError, ShapeError
from chainrule.ops import _poly
from chainrule.ops.promotion import promote
from chainrule.ops.registry import S, op
from chainrule.tensor import Tensor, _dims


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                             f"({a.size} elements) into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):  # same values, original shape
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.inverse = tuple(int(i) for i in np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):  # undo the permutation
        return np.transpose(g, ctx.inverse), None


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):  # every copy contributes: the engine sums g back to a's shape
        return g, None


class SumTo(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return backend.sum_to(a, shape)

    @staticmethod
    def backward(ctx, g):  # the gradient of summing copies is copying the gradient
        return _poly.broadcast_to(g, ctx.shape), None


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
        return g.reshape(ctx.orig_shape), None


class Flip(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return np.flip(a, axes)

    @staticmethod
    def backward(ctx, g):  # flipping twice is the identity
        return np.flip(g, ctx.axes), None


class Index(Function):
    @staticmethod
    def forward(ctx, a, key):
        ctx.key, ctx.shape = key, a.shape
        return a[key]

    @staticmethod
    def backward(ctx, g):  # scatter the gradient back to where the values came from
        return IndexScatter.apply(g, ctx.key, ctx.shape), None


class IndexScatter(Function):
    """Zeros of ``shape`` with ``g`` added at ``key``: the adjoint of ``Index``."""

    @staticmethod
    def forward(ctx, g, key, shape):
        ctx.key = key
        # (A 0-d gradient may arrive as a plain number: apply() passes NumPy scalars on so.)
        g = np.asarray(g)
        return _poly.scatter_array(g, key, shape, g.dtype)

    @staticmethod
    def backward(ctx, gg):  # the adjoint of scattering is gathering
        return gg[ctx.key], None, None


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
        return g[ctx.key], None, None


class Cumsum(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        return np.cumsum(a, axis=dim)

    @staticmethod
    def backward(ctx, g):  # y_j = sum_{i<=j} a_i  =>  da_i = sum_{j>=i} g_j (reversed cumsum)
        d = ctx.dim
        return np.flip(np.cumsum(np.flip(g, d), axis=d), d), None


# ---------------------------------------------------------------- public forms
_dim = _poly.one_dim


def _reshape_method(self, *shape):
    return reshape(self, _dims(shape))


@op(method=_reshape_method, methods={"view": lambda self, *shape: _view(self, shape),
                                    "view_as": lambda self, other: reshape(self, other.shape),
                                    "reshape_as": lambda self, other: reshape(self, other.shape)},
    numpy={"reshape": lambda a, shape, *args, **kwargs: reshape(a, shape)},
    samples=lambda s: [S(s.real(2, 3, 4), (4, 6)), S(s.real(2, 3, 4), (-1, 2)), S(s.real(6), (2, 3))])
def reshape(a, shape):
    """Same values in a new shape (one entry may be -1). Example: ``x.reshape(2, -1)``"""
    return Reshape.apply(a, tuple(int(s) for s in shape))


def _view(self, args):
    """``t.view(2, 3)`` reshapes; ``t.view(dtype)`` reinterprets the bytes (as PyTorch)."""
    if len(args) == 1 and not isinstance(args[0], (tuple, list, int, np.integer)):
        return Tensor(self.data.view(np.dtype(args[0])))
    return reshape(self, _dims(args))


@op(samples=lambda s: [S(s.real(2, 3, 2, 2), 1), S(s.real(2, 3, 2, 2), 1, 2), S(s.real(2, 3))])
def flatten(a, start_dim: int = 0, end_dim: int = -1):
    """Merge dims ``start_dim``..``end_dim`` into one. Example: ``images.flatten(1)`` -> (N, C*H*W)"""
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = _dim(start_dim, a.ndim, "flatten"), _dim(end_dim, a.ndim, "flatten")
    if s > e:
        raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                            f"(tensor of shape {a.shape})")
    shape = a.shape[:s] + (-1,) + a.shape[e + 1:]
    return reshape(a, shape)


@op(method=lambda self, *dims: permute(self, _dims(dims)),
    numpy={"transpose": lambda a, axes=None: permute(a, tuple(range(a.ndim))[::-1] if axes is None else axes)},
    samples=lambda s: [S(s.real(2, 3, 4), (2, 0, 1)), S(s.real(2, 3, 2, 2), (-1, 1, 0, 2))])
def permute(a, dims):
    """Reorder the dims. Example: ``x.permute(0, 2, 3, 1)`` (NCHW -> NHWC)"""
    dims = tuple(_dim(d, a.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(a.ndim)):
        raise ArgumentError(f"permute: dims {dims} are not a permutation of 0..{a.ndim - 1}")
    return Permute.apply(a, dims)


@op(methods={"swapaxes": True, "swapdims": True}, aliases=("swapaxes", "swapdims"),
    samples=lambda s: [S(s.real(2, 3, 4), 0, 2), S(s.real(3, 4), -1, -2)])
def transpose(a, dim0: int, dim1: int):
    """Swap two dims. Example: ``x.transpose(-2, -1)``"""
    if a.ndim == 0:
        _dim(dim0, 0, "transpose"), _dim(dim1, 0, "transpose")
        return a
    axes = list(range(a.ndim))
    d0, d1 = _dim(dim0, a.ndim, "transpose"), _dim(dim1, a.ndim, "transpose")
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute.apply(a, tuple(axes))


@op(method=lambda self: t(self), samples=lambda s: [S(s.real(3, 4)), S(s.real(4))])
def t(a):
    """Transpose of a matrix (0-d and 1-d tensors are returned as they are). Example: ``w.t()``"""
    if a.ndim > 2:
        raise ArgumentError(f"t: expects a tensor of at most 2 dims, got shape {a.shape}; "
                            "use transpose(dim0, dim1) or permute")
    return transpose(a, 0, 1) if a.ndim == 2 else a


@op(numpy={"squeeze": lambda a, axis=None: squeeze(a, axis)},
    samples=lambda s: [S(s.real(2, 1, 3, 1)), S(s.real(2, 1, 3, 1), 1), S(s.real(2, 1, 3, 1), 0)])
def squeeze(a, dim=None):
    """Drop size-1 dims (all, or only those in ``dim``). Example: ``x.squeeze(1)``"""
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = _poly.normalize_dims(dim, a.ndim)
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in dims and s == 1))
    return reshape(a, shape)


@op(samples=lambda s: [S(s.real(2, 3), -1), S(s.real(2, 3), 0), S(s.real(), 0)])
def unsqueeze(a, dim: int):
    """Insert a size-1 dim at ``dim``. Example: ``bias.unsqueeze(0)``"""
    d = _dim(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


@op(method=lambda self, *sizes: expand(self, _dims(sizes)),
    methods={"expand_as": lambda self, other: expand(self, other.shape),
             "broadcast_to": lambda self, shape: expand(self, tuple(shape))},
    numpy={"broadcast_to": lambda a, shape, subok=False: expand(a, tuple(shape))},
    samples=lambda s: [S(s.real(3, 1), (2, 3, 4)), S(s.real(3, 1), (-1, 5))])
def expand(a, shape):
    """Broadcast to ``shape`` without copying; -1 keeps a dimension. Example: ``b.expand(4, 3)``"""
    shape = tuple(shape)
    lead = len(shape) - a.ndim
    if lead < 0:
        raise ArgumentError(f"expand: target shape {shape} has fewer dims than the tensor {a.shape}")
    full = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    try:
        np.broadcast_shapes(a.shape, full)
    except ValueError:
        raise ShapeError(f"expand: cannot expand shape {a.shape} to {full}") from None
    if full == a.shape:
        return a
    return Expand.apply(a, full)


@op(method=lambda self, *sizes: repeat(self, _dims(sizes)),
    samples=lambda s: [S(s.real(2, 3), (2, 1, 3)), S(s.real(3), (2,))])
def repeat(a, sizes):
    """Tile the tensor ``sizes[i]`` times along each dim (PyTorch's ``repeat``).
    Example: ``x.repeat(2, 1)``"""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < a.ndim:
        raise ArgumentError(f"repeat: {len(sizes)} repeat counts for a tensor with {a.ndim} dims")
    return Repeat.apply(a, sizes)


@op(method=lambda self, *dims: flip(self, _dims(dims)),
    numpy={"flip": lambda m, axis=None: flip(m, tuple(range(m.ndim)) if axis is None else axis)},
    samples=lambda s: [S(s.real(2, 3, 4), (0, 2)), S(s.real(2, 3, 4), (-1,))])
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


def _is_int(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _ints_first(key: tuple, ndim: int):
    """PyTorch applies integer indices before advanced (array) ones; NumPy treats them as
    advanced too, which moves the result's dims when a slice stands between them
    (``x[0, :, [0, 1]]`` is (5, 2) in PyTorch, (2, 5) in NumPy). Split such a key into the
    integer part and the rest, to be applied one after the other."""
    items = list(key)
    ellipses = [i for i, k in enumerate(items) if k is Ellipsis]
    if ellipses:
        used = builtins.sum(k.ndim if isinstance(k, np.ndarray) and k.dtype == np.bool_ else 1
                            for k in items if k is not None and k is not Ellipsis)
        at = ellipses[0]
        items[at:at + 1] = [slice(None)] * (ndim - used)
    first = tuple(k if _is_int(k) or k is None else slice(None) for k in items)
    rest = tuple(slice(None) if k is None else k for k in items if not _is_int(k))
    return first, rest


def _mixes_ints_and_arrays(key) -> bool:
    if not isinstance(key, tuple):
        return False
    has_int = builtins.any(_is_int(k) for k in key)
    has_array = builtins.any(isinstance(k, np.ndarray) and k.dtype != np.bool_ for k in key)
    return has_int and has_array


@op(name="index", namespace="tensor", method=False, operators={"__getitem__": "self"},
    torch=lambda t, a, key: a[key],
    samples=lambda s: [S(s.real(3, 4), 1), S(s.real(3, 4), (slice(None), slice(1, 3))),
                       S(s.real(2, 3, 4), (Ellipsis, slice(None, None, 2))),
                       S(s.real(3, 4), (None, 1)), S(s.real(3, 4), np.array([0, 2, 2, 0, 2])),
                       S(s.real(3, 4), (np.array([0, 1, 1]), np.array([2, 3, 2]))),
                       S(s.real(3, 4), (slice(None), np.array([3, 0, 3]))),
                       S(s.real(3, 4), np.array([True, False, True])),
                       S(s.real(2, 5, 6), (0, slice(None), np.array([0, 1])))])
def index(a, key):
    """``a[key]``: basic slicing, integer-array and boolean indexing (differentiable), with
    PyTorch's rules where NumPy's differ."""
    key = _key(key)
    if _mixes_ints_and_arrays(key):
        first, rest = _ints_first(key, a.ndim)
        return index(index(a, first), rest)
    try:
        return Index.apply(a, key)
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {a.shape})") from None


_index = index      # for functions whose PyTorch signature has an argument named "index"


def _check_same(tensors, name, dim, skip_dim=True):
    shapes = [t.shape for t in tensors]
    nd = len(shapes[0])
    for s in shapes:
        if len(s) != nd or builtins.any(x != y for i, (x, y) in enumerate(zip(s, shapes[0]))
                                        if not (skip_dim and i == dim)):
            raise ShapeError(f"{name}: shapes {shapes} must match except in dim {dim}"
                             if skip_dim else f"{name}: all shapes must be equal, got {shapes}")


def _tensors(seq, name: str) -> list:
    out = [t if isinstance(t, Tensor) else Tensor(t) for t in seq]
    if not out:
        raise ArgumentError(f"{name}: expected a non-empty list of tensors")
    return out


@op(method=False, aliases=("concatenate", "concat"),
    numpy={"concatenate": lambda arrays, axis=0, **kw: cat(arrays, axis)},
    samples=lambda s: [S([s.real(2, 3), s.real(2, 2)], 1), S([s.real(2, 3, 1), s.real(2, 3, 2)], -1)])
def cat(tensors, dim: int = 0, *, axis=None):
    """Join tensors along an existing dim. Example: ``cr.cat([a, b], dim=1)``"""
    tensors = _tensors(tensors, "cat")
    if len(tensors) > 1 and builtins.any(t.ndim != 1 for t in tensors):
        # PyTorch's legacy rule: empty 1-D tensors are skipped next to tensors of other shapes
        kept = [t for t in tensors if t.shape != (0,)]
        tensors = kept or tensors[:1]
    d = _dim(dim if axis is None else axis, tensors[0].ndim, "cat")
    _check_same(tensors, "cat", d)
    return Cat.apply(*promote(*tensors), dim=d)


@op(method=False, numpy={"stack": lambda arrays, axis=0, **kw: stack(arrays, axis)},
    samples=lambda s: [S([s.real(2, 3), s.real(2, 3)], 0), S([s.real(2, 3), s.real(2, 3), s.real(2, 3)], -1)])
def stack(tensors, dim: int = 0):
    """Join tensors along a new dim. Example: ``cr.stack([a, b])``"""
    tensors = _tensors(tensors, "stack")
    d = _dim(dim, tensors[0].ndim + 1, "stack")
    _check_same(tensors, "stack", d, skip_dim=False)
    return Stack.apply(*promote(*tensors), dim=d)


@op(samples=lambda s: [S(s.real(5, 3), 2, 0), S(s.real(5, 3), [1, 3, 1]), S(s.real(3, 5), 2, -1)])
def split(a, split_size_or_sections, dim: int = 0):
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or the given sizes.
    Example: ``first, second = x.split(2)``"""
    d = _dim(dim, a.ndim, "split")
    n = a.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections <= 0:
            raise ArgumentError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [builtins.min(split_size_or_sections, n - s)
                 for s in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ArgumentError(f"split: sizes {sizes} do not add up to {n} (dim {d})")
    lead = (slice(None),) * d
    out, start = [], 0
    for s in sizes:
        out.append(index(a, lead + (slice(start, start + s),)))
        start += s
    return tuple(out)


@op(samples=lambda s: [S(s.real(2, 5), 3, 1), S(s.real(4, 3), 2)])
def chunk(a, chunks: int, dim: int = 0):
    """Split into ``chunks`` nearly equal pieces (PyTorch's rule: ceil-sized pieces).
    Example: ``i, f, g, o = gates.chunk(4, dim=1)``"""
    if chunks <= 0:
        raise ArgumentError(f"chunk: chunks must be positive, got {chunks}")
    n = a.shape[_dim(dim, a.ndim, "chunk")]
    size = -(-n // chunks) if n else 1
    return split(a, builtins.max(size, 1), dim)


@op(samples=lambda s: [S(s.real(2, 3), 0), S(s.real(2, 3), 1)])
def unbind(a, dim: int = 0) -> tuple:
    """The slices along ``dim``, that dim removed: ``a, b = t.unbind(1)``."""
    d = _dim(dim, a.ndim, "unbind")
    return tuple(index(a, (slice(None),) * d + (i,)) for i in range(a.shape[d]))


def _source_positions(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each position of a dim of size ``n`` padded by (lo, hi), the input position it
    copies: mirrored without repeating the edge ("reflect"), the nearest edge ("replicate")
    or wrapped around ("circular")."""
    positions = np.arange(-lo, n + hi)
    if mode == "reflect":
        period = 2 * (n - 1)
        folded = np.abs(positions) % period if period else np.zeros_like(positions)
        return np.where(folded < n, folded, period - folded)
    if mode == "replicate":
        return np.clip(positions, 0, n - 1)
    return positions % n


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


@op(namespace=("cr", "F"), method=False, torch="nn.functional.pad",
    samples=lambda s: [S(s.real(2, 3, 2), (1, 2)), S(s.real(2, 3, 2), (0, 1, 2, 0), value=-1.5),
                       S(s.real(2, 3, 4), (2, 1), "reflect"), S(s.real(1, 2, 3, 3), (1, 2, 2, 0), "replicate"),
                       S(s.real(1, 2, 3, 4), (1, 1, 2, 1), "circular"), S(s.real(2, 3, 4), (-1, 2)),
                       S(s.real(1, 2, 5), (2, -1), "replicate")])
def pad(input, pad, mode: str = "constant", value: float | None = None):
    """Pad (or crop, with negative widths) the last dims: ``pad`` lists (before, after) pairs
    from the *last* dim, as in ``torch.nn.functional.pad``. ``mode``: "constant" (``value``,
    0 by default), "reflect" (mirrored, the edge not repeated; widths below the size),
    "replicate" (the edge repeated) or "circular" (wrapped around).
    Example: ``F.pad(x, (1, 1))`` pads the last dim by one on each side"""
    a = input
    if mode not in _PAD_MODES:
        raise ArgumentError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise ArgumentError(f"pad: expected an even number of widths for at most {a.ndim} dims, "
                            f"got {tuple(pad)}")
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ArgumentError(f"pad: value={value} only applies to mode='constant', not {mode!r}")
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    # negative widths crop first (in every mode); the padding then works on what is left
    crop = tuple(slice(builtins.max(-lo, 0), n - builtins.max(-hi, 0))
                 for (lo, hi), n in zip(widths, a.shape))
    if builtins.any(lo < 0 or hi < 0 for lo, hi in widths):
        if builtins.any(c.stop - c.start < 0 for c in crop):
            raise ArgumentError(f"pad: the negative widths {tuple(pad)} crop more than the "
                                f"input's shape {a.shape}")
        a = index(a, crop)
    widths = tuple((builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths)
    if mode == "constant":
        if not builtins.any(lo or hi for lo, hi in widths):
            return a if a is not input else Pad.apply(a, widths, 0.0)
        return Pad.apply(a, widths, 0.0 if value is None else value)
    out = a
    for d, (lo, hi) in enumerate(widths):
        if not (lo or hi):
            continue
        n = a.shape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ArgumentError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the "
                                f"dim it pads (size {n}, dim {d} of shape {a.shape})")
        if n == 0:
            raise ArgumentError(f"pad: cannot {mode}-pad an empty dim {d} (shape {a.shape})")
        if mode == "circular" and (lo > n or hi > n):
            raise ArgumentError(f"pad: circular padding ({lo}, {hi}) can be at most the size "
                                f"{n} of dim {d}")
        out = index(out, (slice(None),) * d + (_source_positions(n, lo, hi, mode),))
    return out


def _int_index(index, name: str) -> np.ndarray:
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"{name}: index must be an integer tensor, got dtype {idx.dtype}")
    return idx


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
        return IndexScatter.apply(g, ctx.key, ctx.shape), None, None


@op(numpy={"take_along_axis": lambda arr, indices, axis: gather(arr, axis, indices)},
    samples=lambda s: [S(s.real(2, 3), 1, np.array([[0, 0, 2], [1, 2, 1]])),
                       S(s.real(2, 3), 0, np.array([[1, 0, 1], [1, 1, 0]])),
                       S(s.real(2, 3), 1, np.array([[0, 1]]))])
def gather(a, dim: int, index):
    """``out[i][j] = a[i][index[i][j]]`` along ``dim`` (PyTorch's ``gather``).
    Example: ``logp.gather(1, target.unsqueeze(1))``"""
    idx = _int_index(index, "gather")
    d = _dim(dim, a.ndim, "gather")
    if a.ndim == 0 and idx.ndim <= 1:      # a 0-d input: a vector of its one element
        return reshape(gather(reshape(a, (1,)), 0, idx.reshape(-1)), idx.shape)
    if idx.size == 0 and idx.ndim != a.ndim:   # PyTorch: an empty index of any shape
        return reshape(reshape(a, (-1,))[0:0], idx.shape)
    if idx.ndim != a.ndim:
        raise ShapeError(f"gather: index has {idx.ndim} dims but the input has {a.ndim}")
    n = a.shape[d]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"gather: index values must lie in [{-n}, {n - 1}] for dim {dim} of "
                         f"size {n}, got values from {idx.min()} to {idx.max()}")
    return Gather.apply(a, d, idx)


@op(name="sum_to_size", namespace="tensor",
    method=lambda self, *size: sum_to_size(self, _dims(size)),
    torch=lambda t, a, shape: a.sum_to_size(shape),
    samples=lambda s: [S(s.real(2, 3, 4), (3, 1)), S(s.real(2, 3), (1, 3))])
def sum_to_size(a, shape):
    """Sum broadcast dims away until ``a`` has ``shape`` (the adjoint of ``expand``)."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    return SumTo.apply(a, shape)


@op(numpy={"cumsum": lambda a, axis=None, dtype=None, out=None: cumsum(a, axis, dtype=dtype)},
    samples=lambda s: [S(s.real(3, 4), 1), S(s.real(3, 4), 0), S(s.real(5), -1)])
def cumsum(a, dim: int, *, dtype=None):
    """Running sum along ``dim`` (integers and bools sum in int64, as in PyTorch, unless
    ``dtype`` says otherwise). Example: ``cr.cumsum(x, dim=0)``"""
    target = np.dtype(dtype) if dtype is not None else (
        np.dtype(np.int64) if a.dtype.kind in "biu" else a.dtype)
    if a.dtype != target:
        a = a.astype(target)
    if a.ndim == 0:
        return reshape(Cumsum.apply(reshape(a, (1,)), _dim(dim, 0, "cumsum")), ())
    return Cumsum.apply(a, _dim(dim, a.ndim, "cumsum"))


@op(samples=lambda s: [S(s.real(3, 4), 0, np.array([2, 0, 2])), S(s.real(3, 4), 1, np.array([3]))])
def index_select(a, dim: int, index):
    """The entries of ``index`` along ``dim`` (repeats allowed; gradients accumulate).
    Example: ``emb.index_select(0, ids)``"""
    idx = _int_index(index, "index_select")
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be a vector (or a scalar), got shape "
                         f"{idx.shape}")
    d = _dim(dim, a.ndim, "index_select")
    if a.ndim == 0:                         # a 0-d input stays 0-d (its one element)
        return reshape(_index(reshape(a, (1,)), idx.reshape(-1)), ())
    return _index(a, (slice(None),) * d + (idx.reshape(-1),))


def _triangle(a, diagonal: int, upper: bool, name: str):
    if a.ndim < 2:
        raise ArgumentError(f"{name}: expects at least 2 dims, got shape {a.shape}")
    n, m = a.shape[-2:]
    keep = np.triu(np.ones((n, m), dtype=bool), diagonal) if upper else \
        np.tril(np.ones((n, m), dtype=bool), diagonal)
    return a * keep


@op(samples=lambda s: [S(s.real(3, 4)), S(s.real(2, 3, 3), 1), S(s.real(3, 4), diagonal=-1)])
def triu(a, diagonal: int = 0):
    """The upper triangle (entries below ``diagonal`` set to zero). Example: ``m.triu(1)``"""
    return _triangle(a, diagonal, True, "triu")


@op(samples=lambda s: [S(s.real(3, 4)), S(s.real(2, 3, 3), -1)])
def tril(a, diagonal: int = 0):
    """The lower triangle (entries above ``diagonal`` set to zero). Example: ``m.tril()``"""
    return _triangle(a, diagonal, False, "tril")

