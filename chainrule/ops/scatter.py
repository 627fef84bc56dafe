"""Writing values at indices: scatter, scatter_add, scatter_reduce, index_add, index_copy,
index_fill, index_put, put, masked_scatter; and the reads that go with them: take,
take_along_dim, masked_select.

Two primitives carry all of them. ``IndexPut`` writes values at an indexing key (the last
write wins, as in PyTorch): the input's gradient is the incoming one with the written places
zeroed, the values' gradient is the incoming one read at the key. Accumulating writes are
``input + IndexScatter(values)`` (the adjoint of indexing, already a primitive). The
``dim``-style index of ``scatter``/``gather`` becomes such a key (the index along ``dim``,
positions everywhere else). ``scatter_reduce`` adds a primitive for its extreme, mean and
product reductions.
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import ArgumentError, DtypeError, ShapeError
from chainrule.ops import _poly
from chainrule.ops.elementwise import _data, where
from chainrule.ops.registry import S, op
from chainrule.ops.shape import IndexScatter, expand, gather, index, reshape
from chainrule.tensor import Tensor


class IndexPut(Function):
    """out = a with out[key] = v (v broadcast to the key's shape; the last write wins)."""

    @staticmethod
    def forward(ctx, a, v, key):
        out = a.copy()
        out[key] = v
        if ctx.inputs:
            written = np.zeros(a.shape, dtype=bool)
            written[key] = True
            ctx.save_for_backward(~written)
            ctx.key = key
        return out

    @staticmethod
    def backward(ctx, g):  # a: g where nothing was written; v: g read at the key
        kept, = ctx.saved_tensors
        need_a, need_v = ctx.needs_input_grad[:2]
        return (g * kept if need_a else None), (g[ctx.key] if need_v else None), None


# ------------------------------------------------------------------------ helpers
def _as_index(index, name: str) -> np.ndarray:
    idx = np.asarray(_data(index))
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"{name}: index must be an integer tensor, got dtype {idx.dtype}")
    return idx.astype(np.int64, copy=False)


def _dim_key(idx: np.ndarray, dim: int) -> tuple:
    """The advanced-indexing key of ``gather``/``scatter``: ``idx`` along ``dim``, each
    entry's own position along every other dim."""
    key = list(np.indices(idx.shape, sparse=True))
    key[dim] = idx
    return tuple(key)


def _check_scatter(name: str, a, dim: int, idx: np.ndarray, src=None) -> int:
    d = _poly.one_dim(dim, a.ndim, name)
    if idx.ndim != a.ndim and not (a.ndim == 0 and idx.ndim <= 1):
        raise ShapeError(f"{name}: index has {idx.ndim} dims but the input has {a.ndim} "
                         f"(they must match)")
    for k in range(idx.ndim):
        if k != d and a.ndim and idx.shape[k] > a.shape[k]:
            raise ShapeError(f"{name}: index {idx.shape} is larger than the input {a.shape} "
                             f"in dim {k}")
        if src is not None and np.ndim(src) and idx.shape[k] > np.shape(src)[k]:
            raise ShapeError(f"{name}: index {idx.shape} is larger than src {np.shape(src)} "
                             f"in dim {k}")
    n = a.shape[d] if a.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{name}: index values must lie in [{-n}, {n - 1}] for dim {dim} of "
                         f"size {n}, got values from {idx.min()} to {idx.max()}")
    return d


def _source_part(src, idx_shape: tuple):
    """The leading ``idx_shape`` block of ``src`` (PyTorch reads only that much of it)."""
    if tuple(src.shape) == tuple(idx_shape):
        return src
    return index(src, tuple(slice(0, n) for n in idx_shape))


def _value_tensor(value, like) -> Tensor:
    """A number (or 0-d tensor) as a 0-d tensor of ``like``'s dtype."""
    if isinstance(value, Tensor):
        return value if value.dtype == like.dtype else value.astype(like.dtype)
    return Tensor(np.asarray(value, dtype=like.dtype))


def _zero_d(fn, a, *rest):
    """Run a dim-style op on a 0-d tensor as on a 1-element vector."""
    return reshape(fn(reshape(a, (1,)), *rest), ())


# -------------------------------------------------------------------- scatter family
def _put(a, values, key):
    if not isinstance(values, Tensor):
        values = Tensor(np.asarray(values, dtype=a.dtype))
    elif values.dtype != a.dtype:
        values = values.astype(a.dtype)
    return IndexPut.apply(a, values, key)


def _accumulate(a, values, key):
    if not isinstance(values, Tensor):
        values = Tensor(np.asarray(values, dtype=a.dtype))
    elif values.dtype != a.dtype:
        values = values.astype(a.dtype)
    shape = np.broadcast_shapes(np.shape(a.data[key]), values.shape)
    if tuple(values.shape) != shape:
        values = expand(values, shape)
    return a + IndexScatter.apply(values, key, a.shape)


def _scatter_samples(s):
    return [S(s.real(3, 4), 0, np.array([[0, 1, 2, 0], [2, 0, 1, 1]]), s.real(2, 4)),
            S(s.real(3, 4), 1, np.array([[3, 1], [0, 2], [2, 1]]), s.real(3, 2))]


@op(samples=lambda s: [*_scatter_samples(s), S(s.real(3, 4), 1, np.array([[0], [3], [1]]), 2.5)])
def scatter(input, dim: int, index, src=None, *, value=None, reduce: str | None = None):
    """``out[i][index[i][j]] = src[i][j]`` along ``dim`` (a copy of ``input``; where an index
    repeats, the last write wins). ``src`` may be a number (or ``value=``); ``reduce="add"``
    or ``"multiply"`` combine instead of overwriting. Example: ``cr.scatter(z, 1, idx, v)``"""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: give src (a tensor or a number) or value=")
    idx = _as_index(index, "scatter")
    if input.ndim == 0:
        return _zero_d(lambda a, i, v: scatter(a, 0, i, v, reduce=reduce), input,
                       idx.reshape(-1), reshape(src, (-1,)) if isinstance(src, Tensor) else src)
    d = _check_scatter("scatter", input, dim, idx, src if isinstance(src, Tensor) else None)
    key = _dim_key(idx, d)
    values = _source_part(src, idx.shape) if isinstance(src, Tensor) else src
    if reduce is None:
        return _put(input, values, key)
    if reduce == "add":
        return _accumulate(input, values, key)
    if reduce == "multiply":
        v = values if isinstance(values, Tensor) else _value_tensor(values, input)
        return scatter_reduce(input, d, idx, expand(v, idx.shape) if v.shape != idx.shape else v,
                              "prod")
    raise ArgumentError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")


@op(samples=_scatter_samples)
def scatter_add(input, dim: int, index, src):
    """``out[i][index[i][j]] += src[i][j]`` along ``dim`` (repeats accumulate).
    Example: ``cr.zeros(3).scatter_add(0, labels, ones)`` counts labels"""
    idx = _as_index(index, "scatter_add")
    if input.ndim == 0:
        return _zero_d(lambda a, i, v: scatter_add(a, 0, i, v), input, idx.reshape(-1),
                       reshape(src, (-1,)))
    d = _check_scatter("scatter_add", input, dim, idx, src)
    return _accumulate(input, _source_part(src, idx.shape), _dim_key(idx, d))


class ScatterExtreme(Function):
    """out = the max (min) of input (if included) and every src scattered onto each place.
    The gradient goes to the entries equal to the result, shared equally among them (as
    PyTorch); those masks are constant almost everywhere, so the rule is one for all orders."""

    @staticmethod
    def forward(ctx, a, src, key, largest, include_self):
        ufunc = np.maximum if largest else np.minimum
        hit = np.zeros(a.shape, dtype=bool)
        hit[key] = True
        out = a.copy()
        if not include_self:
            fill = -np.inf if largest else np.inf
            if a.dtype.kind in "iu":
                info = np.iinfo(a.dtype)
                fill = info.min if largest else info.max
            out[hit] = fill
        ufunc.at(out, key, src)
        self_wins = a == out
        if not include_self:
            self_wins = self_wins & ~hit
        src_wins = src == out[key]
        count = self_wins.astype(out.dtype)
        np.add.at(count, key, src_wins)
        ctx.key = key
        ctx.save_for_backward(self_wins / np.maximum(count, 1), src_wins,
                              np.maximum(count, 1))
        return out

    @staticmethod
    def backward(ctx, g):  # a: g / count where a won; src: g / count where src won
        share_self, src_wins, count = ctx.saved_tensors
        return g * share_self, (g / count)[ctx.key] * src_wins, None, None, None


class ScatterProd(Function):
    """out = input (if included) times every src scattered onto each place. Fused: the array
    rule divides out the one factor (zeros handled); the reference multiplies slice by slice."""

    @staticmethod
    def forward(ctx, a, src, key, include_self):
        out = a.copy() if include_self else np.ones_like(a)
        if not include_self:
            untouched = np.ones(a.shape, dtype=bool)
            untouched[key] = False
            out[untouched] = a[untouched]
        np.multiply.at(out, key, src)
        ctx.key, ctx.include_self = key, include_self
        ctx.save_for_backward(a, src)
        return out

    @staticmethod
    def backward(ctx, g):  # each factor's gradient is g times the product of the others
        a, src = ctx.saved_tensors
        key = ctx.key
        hit = np.zeros(a.shape, dtype=bool)
        hit[key] = True
        # per place: the product of its non-zero factors and the number of zero factors
        own = (a if ctx.include_self else np.ones_like(a))
        own = np.where(hit, own, a)
        nonzero = np.where(own == 0, 1, own).astype(a.dtype)
        zeros = (own == 0).astype(np.int64)
        np.multiply.at(nonzero, key, np.where(src == 0, 1, src))
        np.add.at(zeros, key, (src == 0).astype(np.int64))

        def others(x, places_nonzero, places_zeros):
            # product of the other factors: nonzero / x if x != 0 and no zeros elsewhere;
            # nonzero if x is the only zero; else 0
            safe = np.where(x == 0, 1, x)
            return np.where(x == 0, np.where(places_zeros == 1, places_nonzero, 0),
                            np.where(places_zeros == 0, places_nonzero / safe, 0))
        ga = g * others(own, nonzero, zeros)
        if not ctx.include_self:
            ga = np.where(hit, 0, g)
        gs = g[key] * others(src, nonzero[key], zeros[key])
        return ga, gs, None, None

    @staticmethod
    def reference(a, src, key, include_self):
        hit = np.zeros(a.shape, dtype=bool)
        hit[key] = True
        out = a if include_self else where(hit, np.ones((), a.dtype), a)
        # within one slice of src along the index's own dims no place repeats, so one slice
        # at a time is a plain (differentiable) multiply by a scattered factor
        flat_src = reshape(src, (-1,))
        flat_keys = [np.broadcast_to(k, np.broadcast_shapes(*[np.shape(x) for x in key])).reshape(-1)
                     for k in key]
        for j in range(flat_src.shape[0]):
            place = tuple(int(k[j]) for k in flat_keys)
            factor = IndexScatter.apply(index(flat_src, j) - 1, place, a.shape) + 1
            out = out * factor
        return out


@op(samples=lambda s: [
    S(s.real(3, 4), 0, np.array([[0, 1, 2, 0], [2, 0, 0, 1]]), s.real(2, 4), "sum"),
    S(s.distinct(3, 4), 0, np.array([[0, 1, 2, 0], [2, 0, 0, 1]]), s.distinct(2, 4) + 0.01, "amax"),
    S(s.distinct(3, 4), 1, np.array([[0, 0], [3, 1], [2, 2]]), s.distinct(3, 2) + 0.01, "amin",
      include_self=False),
    S(s.real(3, 4), 0, np.array([[0, 1, 2, 0], [2, 0, 0, 1]]), s.real(2, 4), "mean"),
    S(s.real(3, 4), 0, np.array([[0, 1, 2, 0], [2, 0, 0, 1]]), s.real(2, 4), "prod"),
    S(s.real(3, 4), 1, np.array([[0, 0], [3, 1], [2, 2]]), s.real(3, 2), "prod",
      include_self=False)])
def scatter_reduce(input, dim: int, index, src, reduce: str, *, include_self: bool = True):
    """Combine ``src`` into ``input`` at ``index`` along ``dim`` with ``reduce``: "sum",
    "prod", "mean", "amax" or "amin" (``include_self=False`` leaves the input's own value
    out wherever something is scattered). Example: ``cr.scatter_reduce(z, 0, idx, v, "amax")``"""
    idx = _as_index(index, "scatter_reduce")
    if input.ndim == 0:
        return _zero_d(lambda a, i, v: scatter_reduce(a, 0, i, v, reduce,
                                                      include_self=include_self),
                       input, idx.reshape(-1), reshape(src, (-1,)))
    d = _check_scatter("scatter_reduce", input, dim, idx, src)
    key = _dim_key(idx, d)
    values = _source_part(src, idx.shape)
    if values.dtype != input.dtype:
        values = values.astype(input.dtype)
    hit = np.zeros(input.shape, dtype=bool)
    hit[key] = True
    if reduce == "sum":
        base = input if include_self else where(hit, np.zeros((), input.dtype), input)
        return _accumulate(base, values, key)
    if reduce == "mean":
        count = np.zeros(input.shape, dtype=np.int64)
        np.add.at(count, key, 1)
        if include_self:
            count += 1
        else:
            count[~hit] = 1
        total = scatter_reduce(input, d, idx, values, "sum", include_self=include_self)
        if input.dtype.kind in "iu":           # PyTorch: integer means round down
            return Tensor(np.floor_divide(total.data, count).astype(input.dtype))
        return total / count.astype(input.dtype)
    if reduce in ("amax", "amin"):
        return ScatterExtreme.apply(input, values, key, reduce == "amax", include_self)
    if reduce == "prod":
        return ScatterProd.apply(input, values, key, include_self)
    raise ArgumentError(f"scatter_reduce: reduce must be 'sum', 'prod', 'mean', 'amax' or "
                        f"'amin', got {reduce!r}")


# ------------------------------------------------------------------ index_* family
def _slices_key(a, dim: int, idx: np.ndarray) -> tuple:
    """The key selecting the slices ``idx`` of ``a`` along ``dim``."""
    return (slice(None),) * dim + (idx,)


def _index_1d(index, name: str, a, dim: int) -> tuple[int, np.ndarray]:
    idx = _as_index(index, name)
    if idx.ndim > 1:
        raise ShapeError(f"{name}: index must be a vector (or a scalar), got shape {idx.shape}")
    d = _poly.one_dim(dim, a.ndim, name)
    n = a.shape[d] if a.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{name}: index values must lie in [{-n}, {n - 1}] for dim {dim} of "
                         f"size {n}, got values from {idx.min()} to {idx.max()}")
    return d, idx.reshape(-1)


def _moved_source(source, a, d: int, idx: np.ndarray, name: str):
    """``source`` laid out as ``a[..., idx, ...]`` is (the slices along ``d`` become the
    advanced-index dim, which NumPy puts first when other dims stand before it)."""
    if source.ndim == 0 and a.ndim == 0:
        return reshape(source, (1,))
    expected = a.shape[:d] + (len(idx),) + a.shape[d + 1:]
    if tuple(source.shape) != expected and not (a.ndim == 0 and source.shape == (1,)):
        raise ShapeError(f"{name}: source has shape {tuple(source.shape)}, expected {expected}")
    return source


@op(samples=lambda s: [S(s.real(4, 3), 0, np.array([0, 2, 0]), s.real(3, 3)),
                       S(s.real(3, 4), 1, np.array([3, 1]), s.real(3, 2), alpha=0.5)])
def index_add(input, dim: int, index, source, *, alpha=1):
    """``out[..., index[j], ...] += alpha * source[..., j, ...]`` along ``dim`` (repeats
    accumulate). Example: ``totals.index_add(0, group, rows)``"""
    d, idx = _index_1d(index, "index_add", input, dim)
    if input.ndim == 0:
        return _zero_d(lambda a, i, v: index_add(a, 0, i, v, alpha=alpha), input, idx,
                       reshape(source, (-1,)))
    source = _moved_source(source, input, d, idx, "index_add")
    values = source * alpha if alpha != 1 else source
    return _accumulate(input, values, _dim_key(_spread(idx, d, source.shape), d))


def _spread(idx: np.ndarray, d: int, shape: tuple) -> np.ndarray:
    """The vector ``idx`` along dim ``d``, broadcast to ``shape`` (a scatter-style index)."""
    view = [1] * len(shape)
    view[d] = len(idx)
    return np.broadcast_to(idx.reshape(view), shape)


@op(samples=lambda s: [S(s.real(4, 3), 0, np.array([3, 0]), s.real(2, 3)),
                       S(s.real(3, 4), 1, np.array([2]), s.real(3, 1))])
def index_copy(input, dim: int, index, source):
    """A copy of ``input`` with slices ``index`` along ``dim`` replaced by those of
    ``source``. Example: ``x.index_copy(0, rows, new_rows)``"""
    d, idx = _index_1d(index, "index_copy", input, dim)
    if input.ndim == 0:
        return _zero_d(lambda a, i, v: index_copy(a, 0, i, v), input, idx, reshape(source, (-1,)))
    source = _moved_source(source, input, d, idx, "index_copy")
    return _put(input, source, _dim_key(_spread(idx, d, source.shape), d))


@op(samples=lambda s: [S(s.real(4, 3), 0, np.array([3, 0]), -1.5),
                       S(s.real(3, 4), 1, np.array([2, 2]), 0.25)])
def index_fill(input, dim: int, index, value):
    """A copy of ``input`` with slices ``index`` along ``dim`` set to ``value``.
    Example: ``x.index_fill(1, cols, 0.0)``"""
    d, idx = _index_1d(index, "index_fill", input, dim)
    if input.ndim == 0:
        return _zero_d(lambda a, i, v: index_fill(a, 0, i, v), input, idx, value)
    mask = np.zeros(input.shape, dtype=bool)
    mask[_slices_key(input, d, idx)] = True
    return where(mask, _value_tensor(value, input), input)


def _key_of(indices) -> tuple:
    if isinstance(indices, (Tensor, np.ndarray)):
        indices = (indices,)
    return tuple(_data(i) if not (isinstance(i, Tensor) and i.dtype == np.bool_) else i.data
                 for i in indices)


@op(samples=lambda s: [S(s.real(5), (np.array([0, 4, 3]),), s.real(3)),
                       S(s.real(3, 4), (np.array([0, 2]), np.array([1, 3])), s.real(2), True)])
def index_put(input, indices, values, accumulate: bool = False):
    """A copy of ``input`` with ``out[indices] = values`` (``indices`` a tuple of index
    tensors, as ``x[i, j]``), or ``+=`` with ``accumulate=True``.
    Example: ``x.index_put((rows, cols), v)``"""
    key = _key_of(indices)
    return _accumulate(input, values, key) if accumulate else _put(input, values, key)


@op(samples=lambda s: [S(s.real(3, 4), np.array([0, 5, 11, 5])), S(s.real(3, 4), np.array([[1, 2], [7, 0]]))])
def take(input, index):
    """The entries of the flattened ``input`` at ``index`` (any shape). Example:
    ``cr.take(x, cr.tensor([0, 5]))``"""
    idx = _as_index(index, "take")
    n = input.data.size
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"take: index values must lie in [{-n}, {n - 1}] for a tensor of "
                         f"{n} elements, got values from {idx.min()} to {idx.max()}")
    return _index_flat(reshape(input, (-1,)), idx)


def _index_flat(flat, idx):
    return index(flat, idx)


@op(samples=lambda s: [S(s.real(3, 4), np.array([0, 5, 9]), s.real(3)),
                       S(s.real(3, 4), np.array([1, 7]), s.real(2), True)])
def put(input, index, source, accumulate: bool = False):
    """A copy of ``input`` with the flattened entries at ``index`` set to ``source``
    (``accumulate=True``: added). Example: ``x.put(cr.tensor([0, 5]), v)``"""
    idx = _as_index(index, "put")
    flat = reshape(input, (-1,))
    values = reshape(source, (-1,))
    out = _accumulate(flat, values, (idx.reshape(-1),)) if accumulate else \
        _put(flat, values, (idx.reshape(-1),))
    return reshape(out, input.shape)


@op(samples=lambda s: [S(s.real(3, 4), np.array([[0, 2, 1, 0], [2, 2, 0, 1]]), 0),
                       S(s.real(3, 4), np.array([[3], [0], [1]]), 1),
                       S(s.real(3, 4), np.array([11, 0, 4]))])
def take_along_dim(input, indices, dim: int | None = None):
    """``gather`` with the input and indices broadcast together (except along ``dim``), or
    over the flattened input when ``dim`` is None. Example:
    ``cr.take_along_dim(x, x.argsort(1), 1)``"""
    idx = _as_index(indices, "take_along_dim")
    if dim is None:
        return take(input, idx.reshape(-1))
    d = _poly.one_dim(dim, input.ndim, "take_along_dim")
    if idx.ndim != input.ndim:
        raise ShapeError(f"take_along_dim: indices have {idx.ndim} dims but the input has "
                         f"{input.ndim}")
    a_shape, i_shape = list(input.shape), list(idx.shape)
    a_shape[d] = i_shape[d] = 1
    try:
        common = list(np.broadcast_shapes(tuple(a_shape), tuple(i_shape)))
    except ValueError:
        raise ShapeError(f"take_along_dim: input {input.shape} and indices {idx.shape} cannot "
                         f"be broadcast together outside dim {dim}") from None
    a_target = common.copy()
    a_target[d] = input.shape[d]
    i_target = common.copy()
    i_target[d] = idx.shape[d]
    a = expand(input, tuple(a_target)) if tuple(a_target) != input.shape else input
    return gather(a, d, np.broadcast_to(idx, tuple(i_target)))


@op(samples=lambda s: [S(s.real(3, 4), s.bools(3, 4)), S(s.real(3, 4), s.bools(4))])
def masked_select(input, mask):
    """The entries of ``input`` where ``mask`` (broadcast) is True, as a vector.
    Example: ``x.masked_select(x > 0)``"""
    m = np.asarray(_data(mask))
    if m.dtype != np.bool_:
        raise DtypeError(f"masked_select: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        shape = np.broadcast_shapes(input.shape, m.shape)
    except ValueError:
        raise ShapeError(f"masked_select: input {input.shape} and mask {m.shape} cannot be "
                         f"broadcast together") from None
    a = expand(input, shape) if input.shape != shape else input
    return index(a, np.broadcast_to(m, shape))


@op(samples=lambda s: [S(s.real(3, 4), s.bools(3, 4), s.real(12)), S(s.real(3, 4), s.bools(4), s.real(3, 5))])
def masked_scatter(input, mask, source):
    """A copy of ``input`` with the places where ``mask`` is True filled, in order, with
    the first entries of ``source``. Example: ``x.masked_scatter(m, values)``"""
    m = np.asarray(_data(mask))
    if m.dtype != np.bool_:
        raise DtypeError(f"masked_scatter: mask must be a bool tensor, got dtype {m.dtype}")
    m = np.broadcast_to(m, np.broadcast_shapes(input.shape, m.shape))
    if m.shape != input.shape:
        input = expand(input, m.shape)
    k = int(m.sum())
    if source.data.size < k:
        raise ShapeError(f"masked_scatter: the mask selects {k} places but source has only "
                         f"{source.data.size} elements")
    values = index(reshape(source, (-1,)), slice(0, k))
    if values.dtype != input.dtype:
        values = values.astype(input.dtype)
    return IndexPut.apply(input, values, m)

