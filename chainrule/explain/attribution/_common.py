"""What every attribution method shares: inputs, baselines, targets, dtypes and gradients.

Inputs follow Captum: one tensor ``(N, ...)`` or a tuple of them (then every result is a
tuple too). A *target* picks one output value per example from the model's output
``(N, ...)``: ``None`` (the output already has one value per example), an int (that column
for every example), a tuple (a multi-dimensional index for every example) or a sequence /
tensor of N ints or tuples (one per example). Gradients are of the sum of the selected
values over the batch, which is each example's own gradient because examples do not mix.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import numpy as np

from chainrule.autograd import enable_grad, grad, no_grad
from chainrule.nn import Module
from chainrule.tensor import Tensor

TargetType = Any   # None | int | tuple | Sequence[int | tuple] | Tensor | np.ndarray


def format_inputs(inputs, what: str = "inputs") -> tuple[tuple[Tensor, ...], bool]:
    """``inputs`` as a tuple of tensors, and whether it was a tuple (to return the same)."""
    is_tuple = isinstance(inputs, tuple)
    items = inputs if is_tuple else (inputs,)
    if not items:
        raise ValueError(f"{what}: expected a tensor or a non-empty tuple of tensors, got ()")
    out = []
    for i, x in enumerate(items):
        t = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if t.ndim < 1:
            raise ValueError(f"{what}[{i}]: expected a batch (N, ...) with N examples, got a "
                             f"scalar")
        out.append(t)
    n = out[0].shape[0]
    for i, t in enumerate(out):
        if t.shape[0] != n:
            raise ValueError(f"{what}: every tensor needs the same batch size; {what}[0] has "
                             f"{n} examples, {what}[{i}] has {t.shape[0]} (shape {t.shape})")
    return tuple(out), is_tuple


def format_output(is_tuple: bool, values: Sequence[np.ndarray]):
    """Arrays back as tensors, in the structure the inputs came in."""
    tensors = tuple(Tensor(np.ascontiguousarray(v)) for v in values)
    return tensors if is_tuple else tensors[0]


def format_baselines(baselines, inputs: tuple[Tensor, ...]) -> tuple[np.ndarray, ...]:
    """Baselines as arrays of each input's full shape.

    Each baseline is a number, or an array broadcastable to its input: the input's own shape,
    one example ``(1, ...)``, or one example without the batch dimension. ``None`` means zero.
    """
    if isinstance(baselines, tuple):
        items = baselines
    elif baselines is None or np.isscalar(baselines):
        items = (baselines,) * len(inputs)       # one number stands for every input
    else:
        items = (baselines,)
    if len(items) != len(inputs):
        raise ValueError(f"baselines: {len(inputs)} inputs but {len(items)} baselines; give "
                         f"one baseline (a number or an array) per input")
    out = []
    for i, (b, x) in enumerate(zip(items, inputs)):
        arr = np.zeros(x.shape, x.dtype) if b is None else np.asarray(
            b._array if isinstance(b, Tensor) else b)
        if arr.ndim == x.ndim - 1:
            arr = arr[None]
        try:
            arr = np.broadcast_to(arr, x.shape)
        except ValueError:
            raise ValueError(f"baselines[{i}]: shape {arr.shape} does not fit input shape "
                             f"{x.shape}; give a number, an array of the input's shape, or "
                             f"one example of shape (1, ...)") from None
        out.append(np.array(arr, dtype=x.dtype))
    return tuple(out)


# ------------------------------------------------------------------------------- targets
def _target_list(target, n: int) -> list | None:
    """Per-example targets as a list of n ints/tuples, or None for one shared target."""
    if target is None or isinstance(target, (int, np.integer, tuple)):
        return None
    values = target._array if isinstance(target, Tensor) else target
    values = [tuple(int(i) for i in v) if isinstance(v, (tuple, list, np.ndarray)) and
              np.ndim(v) > 0 else int(v) for v in (values.tolist()
                                                  if isinstance(values, np.ndarray) else values)]
    if len(values) != n:
        raise ValueError(f"target: {len(values)} targets for {n} examples; give one target, "
                         f"or one per example")
    return values


def expand_target(target, n: int, times: int, interleave: bool = False):
    """The target for a batch that holds each example ``times`` times: blocks of the whole
    batch one after another (``interleave=False``), or each example's copies together."""
    values = _target_list(target, n)
    if values is None:
        return target
    return [v for v in values for _ in range(times)] if interleave else values * times


def target_mask(output_shape: tuple, target, what: str = "target") -> np.ndarray:
    """A 0/1 array of the output's shape with one 1 per example: the selected value."""
    n = output_shape[0]
    rest = output_shape[1:]
    if target is None:
        if int(np.prod(rest)) != 1:
            raise ValueError(f"{what}: the model's output has shape {output_shape}, several "
                             f"values per example; pass target= (a class index, or one per "
                             f"example) to choose which value to explain")
        return np.ones(output_shape)
    values = _target_list(target, n)
    per_example = [target] * n if values is None else values
    mask = np.zeros((n, int(np.prod(rest))))
    for i, t in enumerate(per_example):
        index = t if isinstance(t, tuple) else (int(t),)
        if len(index) != len(rest) or any(not -s <= j < s for j, s in zip(index, rest)):
            raise ValueError(f"{what}: index {t!r} does not fit the model's output of shape "
                             f"{output_shape} (one value per example has shape {rest})")
        mask[i, np.ravel_multi_index(index, rest, mode="wrap")] = 1.0
    return mask.reshape(output_shape)


def select(output: Tensor, target) -> Tensor:
    """The target value of each example, ``(N,)``, recorded for backward (a mask product,
    so its gradient is the mask itself)."""
    if not isinstance(output, Tensor):
        raise TypeError(f"the model must return a Tensor, got {type(output).__name__}")
    if output.ndim < 1:
        raise ValueError("the model returned a scalar; attribution needs one output per "
                         "example, shape (N, ...)")
    mask = Tensor(target_mask(output.shape, target).astype(output.dtype))
    picked = output * mask
    return picked.reshape(output.shape[0], -1).sum(1)


# ------------------------------------------------------------------- extra forward args
def format_additional_args(args) -> tuple:
    if args is None:
        return ()
    return args if isinstance(args, tuple) else (args,)


def expand_additional_args(args: tuple, n: int, times: int, interleave: bool = False) -> tuple:
    """Tensors (and arrays) with N rows are repeated as the inputs are; the rest pass as is."""
    out = []
    for a in args:
        arr = a._array if isinstance(a, Tensor) else a
        if isinstance(arr, np.ndarray) and arr.ndim >= 1 and arr.shape[0] == n:
            arr = np.repeat(arr, times, axis=0) if interleave else \
                np.concatenate([arr] * times, axis=0)
            out.append(Tensor(arr) if isinstance(a, Tensor) else arr)
        else:
            out.append(a)
    return tuple(out)


# -------------------------------------------------------------------------------- models
def module_path(root: Module, module: Module, what: str = "layer") -> str:
    """The dotted name of ``module`` inside ``root`` ('' for root itself)."""
    for name, m in root.named_modules():
        if m is module:
            return name
    raise ValueError(f"{what}: {type(module).__name__} is not a submodule of the model "
                     f"({type(root).__name__})")


class Attribution:
    """Base of the attribution methods: holds the model and the dtype to compute in.

    ``forward_func`` is any callable from inputs to outputs ``(N, ...)``, usually an
    ``nn.Module``. With ``dtype`` (e.g. ``cr.float64``, for checks) the inputs are cast and
    a Module is copied into that dtype for each call; the model you passed is not changed.
    """

    def __init__(self, forward_func: Callable, dtype=None):
        if not callable(forward_func):
            raise TypeError(f"{type(self).__name__}: forward_func must be a Module or a "
                            f"callable, got {type(forward_func).__name__}")
        self.forward_func = forward_func
        self.dtype = None if dtype is None else np.dtype(dtype)
        if self.dtype is not None and self.dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: dtype must be a floating dtype "
                             f"(float32 or float64), got {self.dtype}")
        if self.dtype is not None and not isinstance(forward_func, Module):
            raise TypeError(f"{type(self).__name__}: dtype= converts the model's weights, so "
                            f"forward_func must be an nn.Module, got "
                            f"{type(forward_func).__name__}")

    def _model_for_call(self) -> Callable:
        """The model to run: the one given, or a copy of it in ``self.dtype``."""
        f = self.forward_func
        if self.dtype is None or not isinstance(f, Module):
            return f
        params = [p for p in f.parameters() if p.dtype.kind == "f"]
        if all(p.dtype == self.dtype for p in params):
            return f
        return copy.deepcopy(f).to(self.dtype)

    def _cast(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        if self.dtype is None:
            return inputs
        return tuple(Tensor(x._array.astype(self.dtype)) if x.dtype.kind == "f" and
                     x.dtype != self.dtype else x for x in inputs)


def run_forward(model: Callable, inputs: Sequence[Tensor], args: tuple) -> Tensor:
    return model(*inputs, *args)


def output_values(model: Callable, inputs: Sequence[Tensor], target, args: tuple) -> np.ndarray:
    """Each example's target value ``(N,)`` without recording a graph."""
    with no_grad():
        return select(run_forward(model, inputs, args), target)._array.copy()


def gradients(model: Callable, inputs: Sequence[np.ndarray | Tensor], target,
              args: tuple = ()) -> tuple[np.ndarray, ...]:
    """d(target value of each example) / d(inputs), one array per input."""
    leaves = []
    for x in inputs:
        arr = x._array if isinstance(x, Tensor) else np.asarray(x)
        if arr.dtype.kind != "f":
            raise TypeError(f"gradient-based attribution needs floating inputs, got dtype "
                            f"{arr.dtype}; for token ids attribute to the embeddings instead "
                            f"(or use FeatureAblation / Occlusion)")
        leaves.append(Tensor(arr, requires_grad=True))
    with enable_grad():
        picked = select(run_forward(model, leaves, args), target)
        got = grad(picked.sum(), leaves, allow_unused=True)
    return tuple(np.zeros_like(x._array) if g is None else g._array
                 for x, g in zip(leaves, got))


def sum_per_example(values: Sequence[np.ndarray]) -> np.ndarray:
    """Each example's attributions summed over all its features and all inputs: ``(N,)``."""
    return np.sum([v.reshape(len(v), -1).sum(1) for v in values], axis=0)


def convergence_delta(model: Callable, attributions: Sequence[np.ndarray],
                      baselines: Sequence[np.ndarray], inputs: Sequence[Tensor], target,
                      args: tuple) -> np.ndarray:
    """Completeness error per example: sum of attributions - (f(inputs) - f(baselines))."""
    end = output_values(model, inputs, target, args)
    start = output_values(model, [Tensor(b) for b in baselines], target, args)
    return sum_per_example(attributions) - (end - start)
