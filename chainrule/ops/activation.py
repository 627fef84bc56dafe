"""The remaining activation functions of ``torch.nn.functional``, as compositions of the
primitives (their gradients, and second derivatives, come from the parts), with PyTorch's
formulas evaluated in PyTorch's order so the values agree to the last bit where possible.

relu, leaky_relu, elu, gelu, silu, softplus, sigmoid and tanh live with the primitives in
``elementwise``.
"""
from __future__ import annotations

import numpy as np

from chainrule.backend import ArgumentError
from chainrule.ops.elementwise import (
    Elu, _floating, abs, exp, leaky_relu, log1p, minimum, sigmoid, softplus, tanh, where)
from chainrule.ops.nn import softmax
from chainrule.ops.registry import S, op
from chainrule.ops.shape import chunk
from chainrule.random import default_generator
from chainrule.tensor import Tensor

_F = dict(namespace="F", method=False)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _act_samples(s):
    return [S(s.real(3, 4) * 4)]


def _values(a):
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def _clipped(a, lo, hi):
    """a limited to [lo, hi] with a zero gradient at the bounds themselves (PyTorch's
    hardtanh rule: the gradient is 1 only strictly inside)."""
    x = _values(a)
    inside = (x > lo) & (x < hi)
    return where(inside, a, np.clip(x, lo, hi).astype(x.dtype, copy=False))


@op(**_F, samples=lambda s: [S(s.real(3, 4)), S(s.real(3, 4) * 2, -0.5, 1.5)])
def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """input limited to [min_val, max_val] (gradient 1 strictly inside, else 0).
    Example: ``F.hardtanh(x)``"""
    if min_val > max_val:
        raise ArgumentError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                            f"({max_val})")
    return _clipped(input, min_val, max_val)


@op(**_F, samples=_act_samples)
def relu6(input, inplace: bool = False):
    """min(max(input, 0), 6). Example: ``F.relu6(x)``"""
    return _clipped(input, 0, 6)


@op(**_F, samples=_act_samples, torch_tolerance=dict(rtol=1e-7),
    notes="PyTorch's backward multiplies by 1/6 rounded to float32, in float64 too")
def hardsigmoid(input, inplace: bool = False):
    """min(max(input + 3, 0), 6) / 6: a piecewise-linear sigmoid. Example: ``F.hardsigmoid(x)``"""
    x = _floating(input)
    return _clipped(x + 3, 0, 6) / 6


@op(**_F, samples=_act_samples)
def hardswish(input, inplace: bool = False):
    """input * hardsigmoid(input) (MobileNetV3). Example: ``F.hardswish(x)``"""
    x = _floating(input)
    v = _values(x)
    # PyTorch's gradient is 0 below -3, 1 above 3 and x/3 + 1/2 between (inclusive there).
    inside = (v >= -3) & (v <= 3)
    return where(inside, x * (x + 3).clamp(0, 6) / 6, where(v > 3, x, x * 0))


@op(**_F, samples=_act_samples)
def softsign(input):
    """input / (1 + |input|). Example: ``F.softsign(x)``"""
    x = _floating(input)
    return x / (abs(x) + 1)


@op(**_F, samples=_act_samples)
def mish(input, inplace: bool = False):
    """input * tanh(softplus(input)). Example: ``F.mish(x)``"""
    x = _floating(input)
    return x * tanh(softplus(x))


@op(namespace=("cr", "F"), method=False, samples=_act_samples)
def selu(input, inplace: bool = False):
    """scale * elu(input, alpha) with the self-normalising constants (alpha 1.6733, scale
    1.0507). Example: ``F.selu(x)``"""
    return Elu.apply(_floating(input), SELU_ALPHA, SELU_SCALE, 1.0)


@op(namespace=("cr", "F"), method=False, samples=lambda s: [S(s.real(3, 4) * 3, 0.7)],
    torch_tolerance=dict(rtol=1e-7),
    notes="PyTorch's backward rounds 1/alpha to float32, in float64 too")
def celu(input, alpha: float = 1.0, inplace: bool = False):
    """max(0, x) + min(0, alpha (e^(x/alpha) - 1)). Example: ``F.celu(x, alpha=0.5)``"""
    if alpha == 0:
        raise ArgumentError("celu: alpha must not be 0 (it divides the input)")
    return Elu.apply(_floating(input), alpha, 1.0, 1.0 / alpha)


@op(**_F, samples=_act_samples)
def logsigmoid(input):
    """log(sigmoid(input)) = min(x, 0) - log(1 + e^-|x|), without overflow.
    Example: ``F.logsigmoid(x)``"""
    x = _floating(input)
    return minimum(x, 0.0) - log1p(exp(-abs(x)))


@op(**_F, samples=lambda s: [S(s.real(3, 4)), S(s.real(4, 2, 3), 0)])
def glu(input, dim: int = -1):
    """The gated linear unit: a * sigmoid(b) for the two halves a, b of ``input`` along
    ``dim``. Example: ``F.glu(x)`` halves the last dimension"""
    if input.ndim == 0:
        raise ArgumentError("glu: does not accept a 0-d tensor")
    size = input.shape[dim]
    if size % 2:
        raise ArgumentError(f"glu: halving dimension must be even, but dimension {dim} is size "
                            f"{size} (input shape {input.shape})")
    a, b = chunk(input, 2, dim)
    return a * sigmoid(b)


@op(**_F, samples=_act_samples)
def tanhshrink(input):
    """input - tanh(input). Example: ``F.tanhshrink(x)``"""
    x = _floating(input)
    return x - tanh(x)


@op(**_F, samples=lambda s: [S(s.real(3, 4) * 2), S(s.real(3, 4), 0.8)])
def softshrink(input, lambd: float = 0.5):
    """input - lambd above lambd, input + lambd below -lambd, 0 between.
    Example: ``F.softshrink(x, 0.5)``"""
    if lambd < 0:
        raise ArgumentError(f"softshrink: lambd must be non-negative, got {lambd}")
    v = _values(input)
    return where(v > lambd, input - lambd, where(v < -lambd, input + lambd, input * 0))


@op(namespace=("F", "cr"), method=True, samples=lambda s: [S(s.real(3, 4) * 2), S(s.real(3, 4), 0.8)])
def hardshrink(input, lambd: float = 0.5):
    """input where |input| > lambd, else 0. Example: ``F.hardshrink(x)``"""
    v = _values(input)
    return where((v > lambd) | (v < -lambd), input, input * 0)


@op(namespace=("F", "cr"), method=False, samples=lambda s: [S(s.real(3, 4), 0.2, -1.0)])
def threshold(input, threshold: float, value: float, inplace: bool = False):
    """input where input > threshold, else ``value``. Example: ``F.threshold(x, 0.1, 0.0)``"""
    v = _values(input)
    return where(v > threshold, input, np.asarray(value).astype(v.dtype))  # keeps the dtype


@op(**_F, samples=lambda s: [S(s.real(3, 4), 1), S(s.real(2, 3, 4), dim=0)])
def softmin(input, dim: int | None = None, dtype=None):
    """softmax(-input) along ``dim``. Example: ``F.softmin(costs, dim=1)``"""
    if dtype is not None:
        input = input.astype(dtype)
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return softmax(-input, dim)


@op(namespace=("F", "cr"), method=False,
    samples=lambda s: [S(s.real(3, 4)), S(s.real(3, 4), 0.1, 0.4)])
def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False):
    """Randomised leaky ReLU: negative inputs scaled by a slope drawn from U(lower, upper)
    per element in training, by (lower + upper) / 2 otherwise. Example: ``F.rrelu(x)``"""
    if not training:
        return leaky_relu(_floating(input), (lower + upper) / 2)
    x = _floating(input)
    v = _values(x)
    slope = default_generator().uniform(lower, upper, v.shape).astype(v.dtype)
    return x * np.where(v >= 0, 1, slope).astype(v.dtype)
