"""More elementwise functions of two (or three) tensors: atan2, copysign, hypot, fmod and
remainder (``%``), floor division (``//``), shifts, logaddexp, xlogy, lerp, addcmul,
isclose and friends. Operands are promoted by PyTorch's rules (``promotion.result_type``)
and broadcast together.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import ArgumentError, DtypeError, ShapeError
from chainrule.ops.elementwise import (
    _broadcast_check, _data, _floating, _plain, div, exp, log, maximum, minimum, pow, where)
from chainrule.ops.promotion import promote, result_type
from chainrule.ops.registry import S, op
from chainrule.tensor import Tensor


def _promoted(name: str, a, b, floating: bool = False):
    """``a`` and ``b`` promoted to their PyTorch dtype (the default float dtype for integer
    input when ``floating``), shapes checked; a number next to a tensor stays a number."""
    a, b = promote(a, b)
    if floating:
        a, b = _floating(a), _floating(b)
        if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
            a, b = promote(a, b)
    _broadcast_check(name, a, b)
    return a, b


def _as_tensor(x, like):
    """A number operand as a 0-d tensor of ``like``'s dtype (for rules that need arrays)."""
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=like.dtype))


def _pair_samples(s):
    return [S(s.real(3, 4), s.real(4)), S(s.real(2, 1), s.real(1, 3))]


# -------------------------------------------------------------------- primitives
class Atan2(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.arctan2(a, b)

    @staticmethod
    def backward(ctx, g):  # d atan2(a, b) = (b da - a db) / (a^2 + b^2)
        a, b = ctx.saved_tensors
        r2 = a * a + b * b
        return g * b / r2, -g * a / r2


class Hypot(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):  # d sqrt(a^2 + b^2) = (a da + b db) / hypot
        a, b, out = ctx.saved_tensors
        return g * a / out, g * b / out


class Copysign(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.copysign(a, b)
        # d out/da = out / a: +1 where the sign is kept, -1 where flipped, 0 at a = 0 (as PyTorch)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(a == 0, 0, out / np.where(a == 0, 1, a))
        ctx.save_for_backward(ratio.astype(out.dtype, copy=False))
        return out

    @staticmethod
    def backward(ctx, g):  # d/da = +-1 (0 at 0); d/db = 0
        ratio, = ctx.saved_tensors
        return g * ratio, g * 0


class Fmod(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.fmod(a, b)

    @staticmethod
    def backward(ctx, g):  # a - trunc(a/b) b:  d/da = 1, d/db = -trunc(a/b)
        a, b = ctx.saved_tensors
        return g, -g * np.trunc(a / b)


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.remainder(a, b)

    @staticmethod
    def backward(ctx, g):  # a - floor(a/b) b:  d/da = 1, d/db = -floor(a/b)
        a, b = ctx.saved_tensors
        return g, -g * np.floor_divide(a, b)


def _modulo(name: str, cls, int_fn, a, b):
    a, b = _promoted(name, a, b)
    if result_type(a, b).kind in "iub":
        if (np.asarray(_data(b)) == 0).any():
            raise ZeroDivisionError(f"{name}: integer division by zero")
        return _plain(int_fn, a, b)
    return cls.apply(_as_tensor(a, b), b)


# ---------------------------------------------------------------------- public ops
@op(numpy=("arctan2",), aliases=("arctan2",), methods={"arctan2": True}, samples=_pair_samples)
def atan2(input, other):
    """The angle of the point (other, input), in (-pi, pi]. Example: ``cr.atan2(y, x)``"""
    a, b = _promoted("atan2", input, other, floating=True)
    return Atan2.apply(a, b)


@op(numpy=("hypot",), samples=_pair_samples)
def hypot(input, other):
    """sqrt(input^2 + other^2), without overflow. Example: ``cr.hypot(x, y)``"""
    a, b = _promoted("hypot", input, other, floating=True)
    return Hypot.apply(a, b)


@op(numpy=("copysign",), samples=lambda s: [S(s.real(3, 4), s.real(4)), S(s.real(3), -1.0)])
def copysign(input, other):
    """|input| with the sign of ``other`` (-0.0 counts as negative). Example:
    ``cr.copysign(x, y)``"""
    a, b = _promoted("copysign", input, other, floating=True)
    return Copysign.apply(_as_tensor(a, b) if not isinstance(a, Tensor) else a, b)


@op(numpy=("fmod",),
    samples=lambda s: [S(s.real(3, 4) * 3, s.real(4)), S(s.real(3) * 3, 1.5)])
def fmod(input, other):
    """The remainder of input / other with the sign of ``input`` (C's fmod). Example:
    ``cr.fmod(x, 2)``"""
    return _modulo("fmod", Fmod, np.fmod, input, other)


@op(numpy=("remainder", "mod"), operators={"__mod__": "self", "__rmod__": "reflected"},
    samples=lambda s: [S(s.real(3, 4) * 3, s.real(4)), S(s.real(3) * 3, 1.5)])
def remainder(input, other):
    """The remainder of input / other with the sign of ``other`` (Python's ``%``).
    Example: ``x % 2``"""
    return _modulo("remainder", Remainder, np.remainder, input, other)


@op(numpy=("floor_divide",), operators={"__floordiv__": "self", "__rfloordiv__": "reflected"},
    differentiable=False, notes="PyTorch defines no derivative for floor_divide; chainrule's "
    "is zero (that of div(rounding_mode='floor'))", samples=lambda s: [S(s.real(3, 4) * 3, s.real(4))])
def floor_divide(input, other):
    """input / other rounded down (Python's ``//``; zero gradient). Example: ``n // 2``"""
    return div(input, other, rounding_mode="floor")


def _shift(name: str, fn, a, b):
    a, b = _promoted(name, a, b)
    if result_type(a, b).kind not in "iu":
        raise DtypeError(f"{name}: needs integer tensors, got dtype {result_type(a, b)}")
    bits = np.dtype(result_type(a, b)).itemsize * 8
    shift = np.asarray(_data(b))
    values = fn(_data(a), np.clip(shift, 0, bits - 1))
    if (shift >= bits).any() or (shift < 0).any():   # PyTorch: shifting every bit out gives 0
        out_of_range = (shift >= bits) | (shift < 0)  # (or -1 for a negative right shift)
        fill = np.where(np.asarray(_data(a)) < 0, -1, 0) if fn is np.right_shift else 0
        values = np.where(out_of_range, fill, values)
    return Tensor(np.asarray(values, dtype=result_type(a, b)))


@op(differentiable=False, dtypes="int", operators={"__lshift__": "self", "__rlshift__": "reflected"},
    numpy=("left_shift",), samples=lambda s: [S(s.ints(-9, 9, 3, 4), s.ints(0, 5, 4))])
def bitwise_left_shift(input, other):
    """input * 2^other for integers (``a << b``). Example: ``n << 2``"""
    return _shift("bitwise_left_shift", np.left_shift, input, other)


@op(differentiable=False, dtypes="int", operators={"__rshift__": "self", "__rrshift__": "reflected"},
    numpy=("right_shift",), samples=lambda s: [S(s.ints(-99, 99, 3, 4), s.ints(0, 5, 4))])
def bitwise_right_shift(input, other):
    """input / 2^other rounded down, for integers (``a >> b``). Example: ``n >> 1``"""
    return _shift("bitwise_right_shift", np.right_shift, input, other)


@op(differentiable=False, dtypes="int", numpy=("gcd",),
    samples=lambda s: [S(s.ints(-30, 30, 3, 4), s.ints(-30, 30, 4))])
def gcd(input, other):
    """Greatest common divisor of integers (non-negative). Example: ``cr.gcd(a, b)``"""
    a, b = _promoted("gcd", input, other)
    return _plain(np.gcd, a, b)


@op(differentiable=False, dtypes="int", numpy=("lcm",),
    samples=lambda s: [S(s.ints(-30, 30, 3, 4), s.ints(-30, 30, 4))])
def lcm(input, other):
    """Least common multiple of integers (non-negative). Example: ``cr.lcm(a, b)``"""
    a, b = _promoted("lcm", input, other)
    return _plain(np.lcm, a, b)


@op(samples=lambda s: [*_pair_samples(s), S(np.array([0.5, -3.0, 700.0]), np.array([0.5, 2.0, 700.0]))])
def logaddexp(input, other):
    """log(e^input + e^other), without overflow. Example: ``cr.logaddexp(a, b)``"""
    a, b = _promoted("logaddexp", input, other, floating=True)
    a, b = _as_tensor(a, b), _as_tensor(b, a)
    # Shifted by the larger input held constant (any shift gives the same function, and its
    # derivatives are then smooth everywhere, ties included); an infinite shift by 0.
    with np.errstate(invalid="ignore"):
        shift = np.maximum(a.data, b.data)
    shift = Tensor(np.where(np.isfinite(shift), shift, 0).astype(shift.dtype, copy=False))
    return log(exp(a - shift) + exp(b - shift)) + shift


@op(samples=_pair_samples)
def logaddexp2(input, other):
    """log2(2^input + 2^other), without overflow. Example: ``cr.logaddexp2(a, b)``"""
    ln2 = math.log(2.0)
    a, b = _promoted("logaddexp2", input, other, floating=True)
    return logaddexp(a * ln2, b * ln2) * (1 / ln2)


@op(samples=lambda s: [S(s.real(3, 4), s.positive(4)), S(np.array([0.0, 1.5, 0.0]), s.positive(3)),
                       S(s.real(3), 2.0)])
def xlogy(input, other):
    """input * log(other), and 0 where input is 0 (unless other is NaN), even where log(other)
    is infinite. The gradient in input is log(other), as in PyTorch. Example:
    ``cr.xlogy(p, q)``"""
    a, b = _promoted("xlogy", input, other, floating=True)
    a, b = _as_tensor(a, b), _as_tensor(b, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        infinite_log = ~np.isfinite(np.log(b.data)) & ~np.isnan(b.data)
    zero = (a.data == 0) & infinite_log        # 0 * log(0) and 0 * log(inf) are 0 here
    if not zero.any():
        return a * log(b)
    return where(zero, 0.0, a * log(where(zero, 1.0, b)))


@op(samples=lambda s: [S(s.real(3, 4), s.real(3, 4), 0.3), S(s.real(3, 4), s.real(4), s.unit(3, 4))])
def lerp(input, end, weight):
    """input + weight (end - input), evaluated from the nearer end as PyTorch does.
    Example: ``cr.lerp(a, b, 0.25)``"""
    a, b = _promoted("lerp", input, end)
    if isinstance(weight, Tensor):
        near_start = (weight.data < 0.5)
        return where(near_start, a + weight * (b - a), b - (b - a) * (1 - weight))
    if builtins.abs(weight) < 0.5:
        return a + (b - a) * weight
    return b - (b - a) * (1 - weight)


@op(samples=lambda s: [S(s.real(3, 4), s.real(3, 4), s.real(4)), S(s.real(3), s.real(3), s.real(3), value=0.5)])
def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2. Example: ``cr.addcmul(x, a, b, value=0.1)``"""
    return input + value * tensor1 * tensor2 if value != 1 else input + tensor1 * tensor2


@op(samples=lambda s: [S(s.real(3, 4), s.real(3, 4), s.positive(4)),
                       S(s.real(3), s.real(3), s.positive(3), value=0.5)])
def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2. Example: ``cr.addcdiv(p, m, v.sqrt(), value=-lr)``"""
    return input + value * (tensor1 / tensor2) if value != 1 else input + tensor1 / tensor2


@op(samples=lambda s: [S(s.real(3, 4), s.real(4)), S(np.array([1.0, np.nan, 2.0]), np.array([np.nan, 3.0, 1.0]))])
def fmax(input, other):
    """Elementwise maximum that ignores NaN (NaN only where both are). Example: ``cr.fmax(a, b)``"""
    a, b = _promoted("fmax", input, other)
    a, b = _as_tensor(a, b), _as_tensor(b, a)
    out = maximum(a, b)
    out = where(np.isnan(a.data), b, out)
    return where(np.isnan(b.data), a, out)


@op(samples=lambda s: [S(s.real(3, 4), s.real(4)), S(np.array([1.0, np.nan, 2.0]), np.array([np.nan, 3.0, 1.0]))])
def fmin(input, other):
    """Elementwise minimum that ignores NaN (NaN only where both are). Example: ``cr.fmin(a, b)``"""
    a, b = _promoted("fmin", input, other)
    a, b = _as_tensor(a, b), _as_tensor(b, a)
    out = minimum(a, b)
    out = where(np.isnan(a.data), b, out)
    return where(np.isnan(b.data), a, out)


@op(differentiable=False, dtypes="any",
    samples=lambda s: [S(np.array([-1.5, 0.0, 2.0, 0.0]), np.array([0.5, 0.25, 0.5, 3.0]))])
def heaviside(input, values):
    """0 where input < 0, 1 where input > 0, ``values`` where input is 0. Example:
    ``cr.heaviside(x, cr.tensor(0.5))``"""
    a, v = promote(input, values)
    x, vals = _data(a), _data(v)
    out = np.where(x == 0, vals, (x > 0).astype(np.asarray(x).dtype))
    return Tensor(np.asarray(out, dtype=result_type(a, v)))


@op(samples=lambda s: [S(s.positive(3, 4), s.real(4)), S(s.positive(3), 2)])
def float_power(input, exponent):
    """input ** exponent computed in float64 (as PyTorch's ``float_power``).
    Example: ``cr.float_power(x, 2)``"""
    def f64(x):
        if isinstance(x, Tensor):
            return x.astype(np.float64) if x.dtype != np.float64 else x
        return Tensor(np.asarray(x, dtype=np.float64)) if not isinstance(x, (int, float)) else float(x)
    return pow(f64(input), f64(exponent))


@op(samples=lambda s: [S(s.real(3, 4), s.ints(0, 4, 3, 4)), S(s.real(2, 3), s.real(2, 3) + 2)],
    notes="non-negative integer exponents only in the samples: PyTorch's gradient computes "
          "2 ** other in integers, so it is 0 for a negative integer exponent")
def ldexp(input, other):
    """input * 2^other. Example: ``cr.ldexp(m, e)``"""
    a, b = _promoted("ldexp", input, other, floating=True)
    return a * pow(2.0, b) if isinstance(b, Tensor) else a * (2.0 ** b)


class NextAfter(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.nextafter(a, b)

    @staticmethod
    def backward(ctx, g):  # PyTorch's convention: d/da = 1 (one ulp away), d/db = 0
        return g, g * 0


@op(numpy=("nextafter",), samples=lambda s: [S(s.real(3, 4), s.real(4))])
def nextafter(input, other):
    """The next floating-point value after ``input`` towards ``other`` (gradient 1 in input,
    as PyTorch). Example: ``cr.nextafter(x, cr.tensor(float("inf")))``"""
    a, b = _promoted("nextafter", input, other)
    if result_type(a, b).kind != "f":
        return _plain(np.nextafter, a, b)
    return NextAfter.apply(_as_tensor(a, b), b)


def _close(a, b, rtol, atol, equal_nan):
    a, b = promote(a, b)
    x, y = np.asarray(_data(a)), np.asarray(_data(b))
    if x.dtype == np.bool_ or y.dtype == np.bool_:
        x, y = x.astype(np.int64), y.astype(np.int64)
    try:
        return np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan)
    except ValueError:
        raise ShapeError(f"isclose: shapes {x.shape} and {y.shape} cannot be broadcast "
                         f"together") from None


@op(differentiable=False, dtypes="any",
    samples=lambda s: [S(s.real(3, 4), s.real(4)), S(np.array([1.0, np.nan, 2.0]), np.array([1.0 + 1e-9, np.nan, 2.1]), equal_nan=True)])
def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """|input - other| <= atol + rtol |other|, elementwise (as a bool tensor).
    Example: ``cr.isclose(a, b, atol=1e-6)``"""
    if rtol < 0 or atol < 0:
        raise ArgumentError(f"isclose: rtol and atol must be non-negative, got rtol={rtol}, "
                            f"atol={atol}")
    return Tensor(np.asarray(_close(input, other, rtol, atol, equal_nan)))


@op(differentiable=False, dtypes="any", torch=None,
    samples=lambda s: [S(s.real(3, 4), s.real(4))])
def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when ``isclose`` holds everywhere (a Python bool). Example:
    ``cr.allclose(y, expected)``"""
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan).data.all())


@op(differentiable=False, dtypes="any", torch=None,
    samples=lambda s: [S(s.real(3, 4), s.real(3, 4))])
def equal(input, other) -> bool:
    """True when both tensors have the same shape and the same values (a Python bool).
    Example: ``cr.equal(a, b)``"""
    x, y = np.asarray(_data(input)), np.asarray(_data(other))
    return x.shape == y.shape and builtins.bool(np.array_equal(x, y))


@op(samples=lambda s: [S(s.real(3, 4), 0.5)])
def clamp_min(input, min):
    """max(input, min). Example: ``x.clamp_min(0)``"""
    return input.clamp(min=min)


@op(samples=lambda s: [S(s.real(3, 4), 0.5)])
def clamp_max(input, max):
    """min(input, max). Example: ``x.clamp_max(1)``"""
    return input.clamp(max=max)
