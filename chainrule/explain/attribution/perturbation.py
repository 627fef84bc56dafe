"""Perturbation attributions: FeatureAblation and Occlusion. No gradients: each feature (or
window) is replaced by its baseline and the attribution is how much the target output
drops, ``f(x) - f(x with the feature ablated)``. Several ablations run as one batch
(``perturbations_per_eval``)."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from chainrule.explain.attribution._common import (
    Attribution, expand_additional_args, expand_target, format_additional_args,
    format_baselines, format_inputs, format_output, output_values)
from chainrule.tensor import Tensor

__all__ = ["FeatureAblation", "Occlusion"]


def _check_per_eval(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"perturbations_per_eval: expected an int >= 1, got {value!r}")
    return int(value)


def _ablate(model, xs: Sequence[Tensor], bs: Sequence[np.ndarray],
            groups: Iterator[tuple[int, np.ndarray]], target, args: tuple,
            per_eval: int) -> list[np.ndarray]:
    """Attributions from ablating each group ``(input index, 0/1 mask (1 or N, ...))``:
    every element gets the output drops of the groups that hold it, averaged over them."""
    n = xs[0].shape[0]
    initial = output_values(model, xs, target, args)
    totals = [np.zeros(x.shape, initial.dtype) for x in xs]
    counts = [np.zeros(x.shape, initial.dtype) for x in xs]
    pending: list[tuple[int, np.ndarray]] = []

    def run(batch: list[tuple[int, np.ndarray]]) -> None:
        k = len(batch)
        # Rows: one copy of the whole batch per ablation, each with its group replaced.
        stacked = []
        for i, (x, b) in enumerate(zip(xs, bs)):
            copies = [np.where(mask, b, x._array) if j == i else x._array for j, mask in batch]
            stacked.append(Tensor(np.concatenate(copies)))
        modified = output_values(model, stacked, expand_target(target, n, k),
                                 expand_additional_args(args, n, k)).reshape(k, n)
        for (i, mask), after in zip(batch, modified):
            drop = (initial - after).reshape((n,) + (1,) * (xs[i].ndim - 1))
            totals[i] += drop * mask
            counts[i] += mask

    for group in groups:
        pending.append(group)
        if len(pending) == per_eval:
            run(pending)
            pending = []
    if pending:
        run(pending)
    return [t / np.where(c > 0, c, 1) for t, c in zip(totals, counts)]


class FeatureAblation(Attribution):
    """Ablate one feature at a time: replace it by its baseline (default 0) and record how
    much each example's target output falls. ``feature_mask`` (ints, one per input value,
    shape ``(1, ...)`` or ``(N, ...)``) groups values that are ablated together; every value
    of a group gets the group's attribution. By default each value is its own feature.

    Example:
        >>> model = cr.nn.Linear(3, 2)
        >>> FeatureAblation(model).attribute(cr.randn(4, 3), target=0).shape
        (4, 3)
    """

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  feature_mask=None, perturbations_per_eval: int = 1):
        """``f(x)[target] - f(x with the feature replaced by its baseline)[target]`` for each
        feature, spread over the values of the feature, shaped like ``inputs``."""
        xs, is_tuple = format_inputs(inputs)
        xs = self._cast(xs)
        bs = format_baselines(baselines, xs)
        masks = self._masks(feature_mask, xs)

        def groups():
            for i, mask in enumerate(masks):
                for feature in np.unique(mask):
                    yield i, (mask == feature)

        values = _ablate(self._model_for_call(), xs, bs, groups(), target,
                         format_additional_args(additional_forward_args),
                         _check_per_eval(perturbations_per_eval))
        return format_output(is_tuple, values)

    @staticmethod
    def _masks(feature_mask, xs: Sequence[Tensor]) -> list[np.ndarray]:
        if feature_mask is None:       # every value its own feature, numbered across inputs
            masks, start = [], 0
            for x in xs:
                size = int(np.prod(x.shape[1:]))
                masks.append(np.arange(start, start + size).reshape((1,) + x.shape[1:]))
                start += size
            return masks
        items = feature_mask if isinstance(feature_mask, tuple) else (feature_mask,)
        if len(items) != len(xs):
            raise ValueError(f"feature_mask: {len(xs)} inputs but {len(items)} masks")
        masks = []
        for i, (m, x) in enumerate(zip(items, xs)):
            arr = np.asarray(m._array if isinstance(m, Tensor) else m)
            if arr.dtype.kind not in "iu":
                raise TypeError(f"feature_mask[{i}]: expected integer feature ids, got dtype "
                                f"{arr.dtype}")
            if arr.ndim == x.ndim - 1:
                arr = arr[None]
            if arr.ndim != x.ndim or arr.shape[0] not in (1, x.shape[0]) or \
                    any(a not in (1, s) for a, s in zip(arr.shape[1:], x.shape[1:])):
                raise ValueError(f"feature_mask[{i}]: shape {arr.shape} does not fit input "
                                 f"shape {x.shape}; give (1, ...) or (N, ...) of the input's "
                                 f"shape")
            masks.append(np.broadcast_to(arr, (arr.shape[0],) + x.shape[1:]))
        return masks


def _per_input(value, xs: Sequence[Tensor], what: str) -> list[tuple[int, ...]]:
    """A shape or stride per input: a tuple of ints for one input, a tuple of them for
    several; an int stands for every dimension."""
    items = value if len(xs) > 1 else (value,)
    if len(items) != len(xs):
        raise ValueError(f"{what}: {len(xs)} inputs need {len(xs)} entries, got {value!r}")
    out = []
    for item, x in zip(items, xs):
        dims = x.ndim - 1
        item = (item,) * dims if isinstance(item, (int, np.integer)) else tuple(item)
        if len(item) != dims or any(int(v) < 1 for v in item):
            raise ValueError(f"{what}: expected {dims} positive ints for inputs of shape "
                             f"{x.shape} (one per dimension after the batch), got {item}")
        out.append(tuple(int(v) for v in item))
    return out


class Occlusion(Attribution):
    """Slide a window of ``sliding_window_shapes`` over each example (steps of ``strides``,
    default 1) and replace what it covers by the baseline; each value's attribution is the
    mean output drop over the windows that covered it (Zeiler & Fergus, 2014). A window at
    the far edge is cut off by the border when the strides do not fit exactly.

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Flatten(), cr.nn.Linear(16, 2))
        >>> Occlusion(model).attribute(cr.randn(1, 1, 4, 4), sliding_window_shapes=(1, 2, 2),
        ...                            strides=(1, 2, 2), target=0).shape
        (1, 1, 4, 4)
    """

    def attribute(self, inputs, sliding_window_shapes, strides=None, baselines=None,
                  target=None, additional_forward_args=None,
                  perturbations_per_eval: int = 1):
        """Occlusion attributions shaped like ``inputs``."""
        xs, is_tuple = format_inputs(inputs)
        xs = self._cast(xs)
        bs = format_baselines(baselines, xs)
        windows = _per_input(sliding_window_shapes, xs, "sliding_window_shapes")
        steps = [(1,) * (x.ndim - 1) for x in xs] if strides is None else \
            _per_input(strides, xs, "strides")
        for x, window, step in zip(xs, windows, steps):
            for size, w, s in zip(x.shape[1:], window, step):
                if w > size:
                    raise ValueError(f"sliding_window_shapes: window {window} is larger than "
                                     f"the input's example shape {x.shape[1:]}")
                if s > w and w < size:
                    raise ValueError(f"strides: stride {step} is larger than the window "
                                     f"{window}, which would leave values never occluded")

        def groups():
            for i, (x, window, step) in enumerate(zip(xs, windows, steps)):
                counts = [math.ceil((size - w) / s) + 1
                          for size, w, s in zip(x.shape[1:], window, step)]
                for corner in np.ndindex(*counts):
                    mask = np.zeros((1,) + x.shape[1:], dtype=bool)
                    mask[(0,) + tuple(slice(c * s, c * s + w)
                                      for c, s, w in zip(corner, step, window))] = True
                    yield i, mask

        values = _ablate(self._model_for_call(), xs, bs, groups(), target,
                         format_additional_args(additional_forward_args),
                         _check_per_eval(perturbations_per_eval))
        return format_output(is_tuple, values)
