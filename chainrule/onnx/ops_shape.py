"""ONNX forms of the shape operations: reshape, permute, expand, index, cat, stack, pad ...

Target shapes and slice bounds were recorded as numbers; where a number follows a dynamic
axis (it differed between the two traces) it is written relative to the input instead: a
reshape keeps that dim (0) or infers it (-1), a slice bound counts from the end, an expand
keeps the input's dim (1) or reads the size from the graph input axis it follows.
"""
from __future__ import annotations

import numpy as np

import chainrule.ops.shape as sh
from chainrule.onnx.registry import emitter

# ONNX's "to the end" bounds for Slice (int64 limits).
INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)


def shape_vector(g, entries) -> str:
    """A 1-D int64 shape from ints and 1-element int64 tensors (sizes read at run time)."""
    if all(isinstance(e, (int, np.integer)) for e in entries):
        return g.ints(entries)
    parts, run = [], []
    for e in entries:
        if isinstance(e, (int, np.integer)):
            run.append(int(e))
            continue
        if run:
            parts.append(g.ints(run))
            run = []
        parts.append(e)
    if run:
        parts.append(g.ints(run))
    return g.op("Concat", parts, axis=0)


@emitter(sh.Reshape)
def _reshape(node, g):
    x = node.input(0)
    (in1, in2), target, twin = node.shapes(0), tuple(node.arg(1)), tuple(node.twin_arg(1))
    if len(target) != len(twin):
        raise node.error(f"the target shape {target} has another rank for another input "
                         f"({twin})")
    entries: list = []
    unknown = []
    for i, (a, b) in enumerate(zip(target, twin)):
        if a == b:
            if a == 0:
                raise node.error(f"cannot export a reshape to a shape with a zero-size dim {target}")
            entries.append(int(a))
        elif i < len(in1) and (in1[i], in2[i]) == (a, b):
            entries.append(0)                   # ONNX: 0 keeps the input's size here
        else:
            entries.append(None)
            unknown.append(i)
    if len(unknown) == 1 and -1 not in entries:
        entries[unknown[0]] = -1                # the one size left follows from the rest
    else:
        for i in unknown:
            entries[i] = node.dynamic_size(g, target[i], twin[i])
            if entries[i] is None:
                raise node.error(f"the target shape {target} has sizes that follow the "
                                 f"input's dynamic axes ({twin} for another input) in a way "
                                 f"ONNX cannot be told")
    return g.op("Reshape", [x, shape_vector(g, entries)])


@emitter(sh.Permute)
def _permute(node, g):
    return g.op("Transpose", [node.input(0)], perm=[int(a) for a in node.setting(1)])


@emitter(sh.Expand)
def _expand(node, g):
    x = node.input(0)
    (in1, in2), target, twin = node.shapes(0), tuple(node.arg(1)), tuple(node.twin_arg(1))
    lead = len(target) - len(in1)
    entries: list = []
    for i, (a, b) in enumerate(zip(target, twin)):
        j = i - lead
        if a == b:
            entries.append(int(a))
        elif j >= 0 and (in1[j], in2[j]) == (a, b):
            entries.append(1)                   # broadcasting keeps the input's size
        else:
            size = node.dynamic_size(g, a, b)
            if size is None:
                raise node.error(f"the target shape {target} follows a dynamic size ({twin} "
                                 f"for another input) that no graph input axis has")
            entries.append(size)
    return g.op("Expand", [x, shape_vector(g, entries)])


@emitter(sh.SumTo)
def _sum_to(node, g):
    x = node.input(0)
    in_shape, target = node.shapes(0)[0], tuple(node.setting(1))
    lead = len(in_shape) - len(target)
    axes = list(range(lead)) + [lead + i for i, s in enumerate(target)
                                if s == 1 and in_shape[lead + i] != 1]
    if not axes:
        return g.op("Identity", [x])
    out = g.reduce("ReduceSum", x, axes, True)
    return g.squeeze(out, list(range(lead))) if lead else out


@emitter(sh.Repeat)
def _repeat(node, g):
    x = node.input(0)
    reps = [int(r) for r in node.setting(1)]
    lead = len(reps) - len(node.shapes(0)[0])
    if lead:
        x = g.unsqueeze(x, list(range(lead)))
    return g.op("Tile", [x, g.ints(reps)])


@emitter(sh.Flip)
def _flip(node, g):
    axes = [int(a) for a in node.setting(1)]
    k = len(axes)
    return g.slice(node.input(0), [-1] * k, [INT64_MIN] * k, axes, [-1] * k)


@emitter(sh.Cat)
def _cat(node, g):
    dim = int(node.kwargs["dim"])
    return g.op("Concat", [node.input(i, node.dtype) for i in range(len(node.args))], axis=dim)


@emitter(sh.Stack)
def _stack(node, g):
    dim = int(node.kwargs["dim"])
    parts = [g.unsqueeze(node.input(i, node.dtype), [dim]) for i in range(len(node.args))]
    return g.op("Concat", parts, axis=dim)


@emitter(sh.Pad)
def _pad(node, g):
    widths = node.setting(1)
    pads = [int(lo) for lo, _ in widths] + [int(hi) for _, hi in widths]
    value = g.constant(node.setting(2), node.dtype)
    return g.op("Pad", [node.input(0), g.ints(pads), value], mode="constant")


@emitter(sh.Cumsum)
def _cumsum(node, g):
    axis = g.constant(int(node.setting(1)), np.int64)
    return g.op("CumSum", [node.input(0), axis])


@emitter(sh.Gather)
def _gather(node, g):
    index = g.constant(node.constant(2), np.int64)
    return g.op("GatherElements", [node.input(0), index], axis=int(node.setting(1)))


# ------------------------------------------------------------------------ index
@emitter(sh.Index)
def _index(node, g):
    composite = node.composite(0)
    if composite is not None:
        return composite.index(node, g, node.arg(1), node.twin_arg(1))
    return index_value(node, g, node.input(0), node.shapes(0), node.arg(1), node.twin_arg(1))


def index_value(node, g, x: str, shapes, key, twin_key) -> str:
    """ONNX for ``x[key]`` (basic slicing, integers, None, Ellipsis and one integer or
    boolean index array); ``shapes`` are x's shapes in the two traces."""
    shape, twin_shape = shapes
    items, twin_items = _key_items(node, key, len(shape)), _key_items(node, twin_key, len(twin_shape))
    if len(items) != len(twin_items) or any(_kind(a) != _kind(b) for a, b in zip(items, twin_items)):
        raise node.error(f"the index {key!r} has another form for another input ({twin_key!r})")
    if sum(isinstance(k, np.ndarray) for k in items) > 1:
        raise node.error("indexing with more than one index array has no ONNX form here; "
                         "index one dim at a time")
    slices = []                 # (axis, start, stop, step) on x's axes
    picks = []                  # (axis, int or index array) on x's axes
    new_axes = []               # positions of None in the output
    axis = out_pos = 0
    for item, twin in zip(items, twin_items):
        if item is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        n, m = shape[axis], twin_shape[axis]
        if isinstance(item, slice):
            bounds = _slice_bounds(node, item, twin, n, m)
            if bounds is not None:
                slices.append((axis,) + bounds)
            out_pos += 1
        elif isinstance(item, np.ndarray):
            if not np.array_equal(item, twin):
                raise node.error(f"the index array {item!r} changes with the input; it was "
                                 f"computed outside the recorded graph")
            picks.append((axis, item))
            out_pos += item.ndim
        else:
            picks.append((axis, _position(node, int(item), int(twin), n, m)))
        axis += 1
    if slices:
        a, starts, stops, steps = zip(*slices)
        x = g.slice(x, starts, stops, a, steps)
    for axis, pick in sorted(picks, key=lambda p: -p[0]):      # the last axis first
        index = g.constant(np.asarray(pick, dtype=np.int64))
        x = g.op("Gather", [x, index], axis=axis)
    if new_axes:
        x = g.unsqueeze(x, new_axes)
    if not (slices or picks or new_axes):
        x = g.op("Identity", [x])
    return x


def _key_items(node, key, ndim: int) -> list:
    """The key as one item per input axis (and None), Ellipsis expanded, boolean arrays
    turned into the positions they select."""
    items = list(key) if isinstance(key, tuple) else [key]
    items = [np.asarray(k) if isinstance(k, list) else k for k in items]
    for i, k in enumerate(items):
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            if k.ndim != 1:
                raise node.error(f"a {k.ndim}-D boolean mask index has no ONNX form here")
            items[i] = np.flatnonzero(k)
        elif isinstance(k, np.ndarray) and k.dtype.kind not in "iu":
            raise node.error(f"an index array of dtype {k.dtype} cannot index")
    if any(k is Ellipsis for k in items):
        at = next(i for i, k in enumerate(items) if k is Ellipsis)
        used = sum(1 for k in items if k is not None and k is not Ellipsis)
        items[at:at + 1] = [slice(None)] * (ndim - used)
    used = sum(1 for k in items if k is not None)
    return items + [slice(None)] * (ndim - used)


def _kind(item) -> str:
    return "none" if item is None else type(item).__name__ if not isinstance(item, np.ndarray) \
        else "array"


def _position(node, k: int, twin: int, n: int, m: int) -> int:
    """An integer index as ONNX should read it: counted from the end when it followed a
    dynamic size (``x[:, -1]`` on a dynamic sequence)."""
    k, twin = k % n, twin % m
    if n != m and k - n == twin - m:
        return k - n
    if k == twin:
        return k
    raise node.error(f"index {k} (and {twin} for another input) follows the input's sizes "
                     f"in a way ONNX cannot be told")


def _slice_bounds(node, item: slice, twin: slice, n: int, m: int):
    """(start, stop, step) for ONNX's Slice, or None for the whole axis."""
    start, stop, step = item.indices(n)
    t_start, t_stop, t_step = twin.indices(m)
    if step != t_step:
        raise node.error(f"slice step {step} differs for another input ({t_step})")
    if step == 1 and start == 0 and stop == n and t_start == 0 and t_stop == m:
        return None
    if step > 0:
        begin = _bound(node, start, t_start, n, m)
        end = INT64_MAX if (stop, t_stop) == (n, m) else _bound(node, stop, t_stop, n, m)
    else:
        begin = -1 if (start, t_start) == (n - 1, m - 1) else _bound(node, start, t_start, n, m)
        end = INT64_MIN if (stop, t_stop) == (-1, -1) else _bound(node, stop, t_stop, n, m)
    return begin, end, step


def _bound(node, v: int, twin: int, n: int, m: int) -> int:
    if v == twin:
        return v
    if v - n == twin - m and v != n:
        return v - n                 # counted from the end
    raise node.error(f"a slice bound ({v}, and {twin} for another input) follows the input's "
                     f"sizes in a way ONNX cannot be told")
