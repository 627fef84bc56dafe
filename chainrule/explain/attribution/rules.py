"""Attributions that change backpropagation's rule at the nonlinearities: GuidedBackprop and
DeepLift (rescale rule), as Captum defines them.

Each nonlinearity *module* of the model gets a forward hook that hands on the same output
value but through a :class:`~chainrule.autograd.Function` whose backward is the modified
rule, so the rest of the network (linear layers, convolutions, reshapes) backpropagates as
usual. As in Captum, functional calls (``F.relu`` inside a ``forward``) and the gates
inside an LSTM are not modules and keep their ordinary gradient.
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function, enable_grad, grad
from chainrule.explain.attribution._common import (
    Attribution, convergence_delta, expand_additional_args, expand_target,
    format_additional_args, format_baselines, format_inputs, format_output, select)
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.ops import cat
from chainrule.tensor import Tensor

__all__ = ["GuidedBackprop", "DeepLift"]


class _GuidedReLU(Function):
    """ReLU whose backward passes only positive gradients, and only where the input was
    positive: ``dL/dx = max(dL/dy, 0) * [x > 0]`` (Springenberg et al., 2014)."""

    differentiable_backward = False

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x)
        return y.copy()

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return np.where(x > 0, np.maximum(g, 0), 0).astype(g.dtype), None


def _halves(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(a) // 2
    return a[:n], a[n:]


def _twice(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a, a])


def _rescale(g_in: np.ndarray, ordinary: np.ndarray, din: np.ndarray, eps: float) -> np.ndarray:
    """``g_in / din`` where the input moved (``|din| >= eps``); the ordinary gradient where it
    did not (the secant slope is then undefined and the tangent is its limit)."""
    small = np.abs(din) < eps
    return np.where(small, ordinary, g_in / np.where(small, 1, din)).astype(g_in.dtype)


class _DeepLiftRule(Function):
    """A module's output ``y`` handed on unchanged, with a DeepLift backward rule that reads
    the module's input ``x``, ``y`` and one more array ``extra`` (per subclass)."""

    differentiable_backward = False

    @staticmethod
    def forward(ctx, x, y, extra, eps):
        ctx.save_for_backward(x, y, extra)
        ctx.eps = eps
        return y.copy()


class _RescaleElementwise(_DeepLiftRule):
    """DeepLift's rescale rule for an elementwise nonlinearity ``y = f(x)`` (``extra``: the
    local slope f'(x)). The batch holds the inputs then the baselines, ``[x; x']``; both
    halves get the multiplier

        dL/dx = dL/dy * (f(x) - f(x')) / (x - x')      (the secant slope, not f'(x))

    so the contributions of a layer add up to the change of its output (summation to delta).
    """

    @staticmethod
    def backward(ctx, g):
        x, y, slope = ctx.saved_tensors
        (xi, xr), (yi, yr) = _halves(x), _halves(y)
        return _rescale(g * _twice(yi - yr), g * slope, _twice(xi - xr), ctx.eps), None, None


def _unpool(values: np.ndarray, indices: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Send each pooled value back to the input position that won its window (added up
    where windows overlap): the ordinary backward of max pooling."""
    rows = values.shape[0] * values.shape[1]
    out = np.zeros((rows, int(np.prod(in_shape[2:]))), values.dtype)
    np.add.at(out, (np.arange(rows)[:, None], indices.reshape(rows, -1)),
              values.reshape(rows, -1))
    return out.reshape(in_shape)


class _RescaleMaxPool(_DeepLiftRule):
    """DeepLift's rule for max pooling (Captum's; ``extra``: each window's argmax): with
    ``m = max(y, y')`` per window, the input half sends ``dL/dy * (m - y')`` to its window's
    maximum and the baseline half ``dL/dy * (y - m)`` to its own; both are added and divided
    by ``x - x'``."""

    @staticmethod
    def backward(ctx, g):
        x, y, indices = ctx.saved_tensors
        (xi, xr), (yi, yr) = _halves(x), _halves(y)
        top = np.maximum(yi, yr)
        sent = _unpool(g * np.concatenate([top - yr, yi - top]), indices, x.shape)
        sent_in, sent_ref = _halves(sent)
        ordinary = _unpool(g, indices, x.shape)
        return _rescale(_twice(sent_in + sent_ref), ordinary, _twice(xi - xr), ctx.eps), \
            None, None


def _local_slope(module: nn.Module, x: np.ndarray) -> np.ndarray:
    """f'(x) of an elementwise module, by backpropagating ones through its own forward."""
    with enable_grad():
        leaf = Tensor(x, requires_grad=True)
        (slope,) = grad(module.forward(leaf).sum(), leaf)
    return slope._array


_ELEMENTWISE = (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
_POOLS = {nn.MaxPool1d: F.max_pool1d, nn.MaxPool2d: F.max_pool2d}


class _Hooks:
    """Forward hooks on a model's modules, removed on exit even when attribution fails."""

    def __init__(self, model: nn.Module, hook_for):
        self.handles = []
        for module in model.modules():
            hook = hook_for(module)
            if hook is not None:
                self.handles.append(module.register_forward_hook(hook))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _require_module(method: str, model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{method}: needs the model as an nn.Module (its nonlinearity modules "
                        f"get the modified backward), got {type(model).__name__}")
    return model


class GuidedBackprop(Attribution):
    """Guided backpropagation: the input gradient computed with every ``nn.ReLU`` module
    passing back only positive gradients (where its input was positive), which gives the
    sharp, edge-like maps of Springenberg et al. (2014). Not multiplied by the input.

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
        >>> GuidedBackprop(model).attribute(cr.randn(2, 3), target=1).shape
        (2, 3)
    """

    def __init__(self, model: nn.Module, dtype=None):
        super().__init__(_require_module("GuidedBackprop", model), dtype)

    def attribute(self, inputs, target=None, additional_forward_args=None):
        """The guided gradient of each example's target output, shaped like ``inputs``."""
        xs, is_tuple = format_inputs(inputs)
        xs = self._cast(xs)
        model = self._model_for_call()

        def hook_for(module):
            if type(module) is not nn.ReLU:
                return None
            return lambda mod, args, out: _GuidedReLU.apply(args[0], out._array)

        leaves = [Tensor(x._array, requires_grad=True) for x in xs]
        with _Hooks(model, hook_for), enable_grad():
            picked = select(model(*leaves, *format_additional_args(additional_forward_args)),
                            target)
            got = grad(picked.sum(), leaves, allow_unused=True)
        return format_output(is_tuple, [np.zeros_like(x._array) if g is None else g._array
                                        for x, g in zip(leaves, got)])


class DeepLift(Attribution):
    """DeepLIFT with the rescale rule (Shrikumar et al., 2017), as Captum computes it.

    The model runs once on the inputs stacked over their baselines; each nonlinearity module
    (ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus, MaxPool1d/2d) backpropagates the ratio
    of its output change to its input change instead of its derivative, and the resulting
    multipliers times ``inputs - baselines`` are the attributions. For a network made of
    linear layers and those modules they add up to ``f(x) - f(baseline)`` exactly.

    ``eps``: below this input change a unit keeps its ordinary gradient. A model holding an
    ``nn.Softmax`` module is refused: explain its logits (the model without the Softmax).

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
        >>> attr, delta = DeepLift(model).attribute(cr.randn(2, 3), target=0,
        ...                                         return_convergence_delta=True)
        >>> bool(abs(delta.numpy()).max() < 1e-5)
        True
    """

    def __init__(self, model: nn.Module, multiply_by_inputs: bool = True, eps: float = 1e-10,
                 dtype=None):
        super().__init__(_require_module("DeepLift", model), dtype)
        self.multiplies_by_inputs = bool(multiply_by_inputs)
        self.eps = float(eps)

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False):
        """Attributions shaped like ``inputs`` (and the per-example completeness error
        ``sum(attributions) - (f(x) - f(baseline))`` when asked)."""
        xs, is_tuple = format_inputs(inputs)
        xs = self._cast(xs)
        bs = format_baselines(baselines, xs)
        model = self._model_for_call()
        for name, module in model.named_modules():
            if isinstance(module, nn.Softmax):
                raise ValueError(f"DeepLift: the model has an nn.Softmax ({name or 'the model'}); "
                                 f"the rescale rule is defined for elementwise nonlinearities, "
                                 f"so explain the logits: attribute a model without the Softmax")
        n = xs[0].shape[0]
        args = format_additional_args(additional_forward_args)
        eps = self.eps

        def hook_for(module):
            if type(module) in _ELEMENTWISE:
                def elementwise(mod, hook_args, out):
                    x = _check_doubled(mod, hook_args[0], n)
                    return _RescaleElementwise.apply(hook_args[0], out._array,
                                                     _local_slope(mod, x), eps=eps)
                return elementwise
            if type(module) in _POOLS:
                pool = _POOLS[type(module)]

                def maxpool(mod, hook_args, out):
                    x = _check_doubled(mod, hook_args[0], n)
                    _, indices = pool(Tensor(x), mod.kernel_size, mod.stride, mod.padding,
                                      mod.dilation, mod.ceil_mode, return_indices=True)
                    return _RescaleMaxPool.apply(hook_args[0], out._array, indices._array, eps=eps)
                return maxpool
            return None

        leaves = [Tensor(x._array, requires_grad=True) for x in xs]
        with _Hooks(model, hook_for), enable_grad():
            doubled = [cat([leaf, Tensor(b)]) for leaf, b in zip(leaves, bs)]
            out = model(*doubled, *expand_additional_args(args, n, 2))
            picked = select(out, expand_target(target, n, 2))
            got = grad(picked.sum(), leaves, allow_unused=True)
        multipliers = [np.zeros_like(x._array) if g is None else g._array
                       for x, g in zip(leaves, got)]
        attributions = [(x._array - b) * m if self.multiplies_by_inputs else m
                        for x, b, m in zip(xs, bs, multipliers)]
        result = format_output(is_tuple, attributions)
        if not return_convergence_delta:
            return result
        return result, Tensor(convergence_delta(model, attributions, bs, xs, target, args))


def _check_doubled(module: nn.Module, x, n: int) -> np.ndarray:
    if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[0] != 2 * n:
        shape = getattr(x, "shape", None)
        raise ValueError(f"DeepLift: {type(module).__name__} received shape {shape}; the rule "
                         f"needs the batch (inputs then baselines, 2 x {n} rows) in dim 0 of "
                         f"every nonlinearity module's input")
    return x._array
