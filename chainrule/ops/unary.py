"""More elementwise functions of one tensor: inverse and hyperbolic trigonometry, exp2/expm1,
erfc, and the small compositions PyTorch offers by name (frac, logit, sinc, deg2rad ...).

Primitives keep their derivative in one comment; compositions get theirs from their parts.
Integer input computes in the default float dtype, as in PyTorch.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.backend import DtypeError
from chainrule.autograd import Function
from chainrule.ops.elementwise import (
    _erf_array, _floating, _unary, log, sign, sin, trunc, where)
from chainrule.ops.registry import S, op
from chainrule.tensor import Tensor


class Asin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arcsin(a)

    @staticmethod
    def backward(ctx, g):  # d asin a/da = 1 / sqrt(1 - a^2)
        a, = ctx.saved_tensors
        return g / np.sqrt(1 - a * a)


class Acos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arccos(a)

    @staticmethod
    def backward(ctx, g):  # d acos a/da = -1 / sqrt(1 - a^2)
        a, = ctx.saved_tensors
        return -g / np.sqrt(1 - a * a)


class Atan(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arctan(a)

    @staticmethod
    def backward(ctx, g):  # d atan a/da = 1 / (1 + a^2)
        a, = ctx.saved_tensors
        return g / (1 + a * a)


class Sinh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sinh(a)

    @staticmethod
    def backward(ctx, g):  # d sinh a/da = cosh a
        a, = ctx.saved_tensors
        return g * np.cosh(a)


class Cosh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cosh(a)

    @staticmethod
    def backward(ctx, g):  # d cosh a/da = sinh a
        a, = ctx.saved_tensors
        return g * np.sinh(a)


class Asinh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arcsinh(a)

    @staticmethod
    def backward(ctx, g):  # d asinh a/da = 1 / sqrt(a^2 + 1)
        a, = ctx.saved_tensors
        return g / np.sqrt(a * a + 1)


class Acosh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arccosh(a)

    @staticmethod
    def backward(ctx, g):  # d acosh a/da = 1 / sqrt(a^2 - 1)
        a, = ctx.saved_tensors
        return g / np.sqrt(a * a - 1)


class Atanh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arctanh(a)

    @staticmethod
    def backward(ctx, g):  # d atanh a/da = 1 / (1 - a^2)
        a, = ctx.saved_tensors
        return g / (1 - a * a)


class Exp2(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp2(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d 2^a/da = 2^a ln 2
        out, = ctx.saved_tensors
        return g * out * math.log(2.0)


class Expm1(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d (e^a - 1)/da = e^a = out + 1
        out, = ctx.saved_tensors
        return g * (out + 1)


class Erfc(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        # 1 - erf loses every digit for large a; erf's continued fraction gives erfc directly
        # there, so use erfc(a) = 1 - erf(a) only where erf is far from 1.
        out = np.asarray(1 - _erf_array(a))
        big = np.abs(a) >= 2
        if big.any():
            out[big] = _erfc_tail(a[big])
        return out

    @staticmethod
    def backward(ctx, g):  # d erfc a/da = -2/sqrt(pi) e^(-a^2)
        a, = ctx.saved_tensors
        return -g * (2.0 / math.sqrt(math.pi)) * np.exp(-(a * a))


def _erfc_tail(x: np.ndarray) -> np.ndarray:
    """erfc for |x| >= 2 by its continued fraction (as in ``_erf_array``), in x's dtype."""
    x64 = x.astype(np.float64)
    ax = np.abs(x64)
    frac = np.zeros_like(ax)
    for k in range(60, 0, -1):
        frac = (k / 2.0) / (ax + frac)
    tail = np.exp(-ax * ax) / math.sqrt(math.pi) / (ax + frac)
    return np.where(x64 > 0, tail, 2.0 - tail).astype(x.dtype)


_unary_doc = "{} Example: ``cr.{}(x)``"
asin = _unary("asin", Asin, _unary_doc.format("Inverse sine (radians).", "asin"),
              numpy=("arcsin",), aliases=("arcsin",), methods={"arcsin": True},
              samples=lambda s: [S(s.unit(2, 3)), S(s.unit())])
acos = _unary("acos", Acos, _unary_doc.format("Inverse cosine (radians).", "acos"),
              numpy=("arccos",), aliases=("arccos",), methods={"arccos": True},
              samples=lambda s: [S(s.unit(2, 3))])
atan = _unary("atan", Atan, _unary_doc.format("Inverse tangent (radians).", "atan"),
              numpy=("arctan",), aliases=("arctan",), methods={"arctan": True})
sinh = _unary("sinh", Sinh, _unary_doc.format("Hyperbolic sine.", "sinh"), numpy=("sinh",))
cosh = _unary("cosh", Cosh, _unary_doc.format("Hyperbolic cosine.", "cosh"), numpy=("cosh",))
asinh = _unary("asinh", Asinh, _unary_doc.format("Inverse hyperbolic sine.", "asinh"),
               numpy=("arcsinh",), aliases=("arcsinh",), methods={"arcsinh": True})
acosh = _unary("acosh", Acosh, _unary_doc.format("Inverse hyperbolic cosine (a >= 1).", "acosh"),
               numpy=("arccosh",), aliases=("arccosh",), methods={"arccosh": True},
               samples=lambda s: [S(s.positive(2, 3) + 1.0)])
atanh = _unary("atanh", Atanh, _unary_doc.format("Inverse hyperbolic tangent (|a| < 1).", "atanh"),
               numpy=("arctanh",), aliases=("arctanh",), methods={"arctanh": True},
               samples=lambda s: [S(s.unit(2, 3))])
exp2 = _unary("exp2", Exp2, _unary_doc.format("2^a elementwise.", "exp2"), numpy=("exp2",))
expm1 = _unary("expm1", Expm1, _unary_doc.format("e^a - 1, accurate for small a.", "expm1"),
               numpy=("expm1",))
erfc = _unary("erfc", Erfc, _unary_doc.format("The complementary error function 1 - erf(a), "
                                              "accurate where erf(a) is near 1.", "erfc"),
              samples=lambda s: [S(s.real(2, 3)), S(np.array([-3.0, 2.5, 4.0, 6.0]))])


@op(samples=lambda s: [S(s.real(2, 3) * 3)])
def frac(a):
    """The fractional part a - trunc(a), with a's sign (gradient 1). Example: ``x.frac()``"""
    return a - trunc(a)


@op(samples=lambda s: [S(s.real(2, 3) * 100)])
def deg2rad(a):
    """Degrees to radians. Example: ``cr.deg2rad(angles)``"""
    return _floating(a) * (math.pi / 180.0)


@op(samples=lambda s: [S(s.real(2, 3))])
def rad2deg(a):
    """Radians to degrees. Example: ``cr.rad2deg(theta)``"""
    return _floating(a) * (180.0 / math.pi)


@op(samples=lambda s: [S(s.probability(2, 3)), S(s.probability(4), 0.1)])
def logit(a, eps: float | None = None):
    """log(a / (1 - a)), the inverse of sigmoid; ``eps`` first clamps a to [eps, 1 - eps].
    Example: ``cr.logit(p)``"""
    a = _floating(a)
    if eps is not None:
        a = a.clamp(eps, 1 - eps)
    return log(a / (1 - a))


@op(samples=lambda s: [S(s.real(2, 3))])
def sinc(a):
    """sin(pi a) / (pi a), and 1 at a = 0 (where its gradient is 0). Example: ``cr.sinc(x)``"""
    a = _floating(a)
    zero = (a == 0).data
    safe = where(zero, 1.0, a) * math.pi       # no 0/0 on either branch, so no NaN gradient
    return where(zero, 1.0, sin(safe) / safe)


@op(torch="sign", samples=lambda s: [S(s.real(2, 3))])
def sgn(a):
    """The sign of each entry (for real tensors the same as ``sign``). Example: ``x.sgn()``"""
    return sign(a)


@op(dtypes="any", samples=lambda s: [S(s.real(2, 3))])
def positive(a):
    """``+a``: the tensor itself. Example: ``cr.positive(x)``"""
    if a.dtype == np.bool_:
        raise DtypeError("positive: the + operator on a bool tensor is not supported; use "
                         "logical operators instead")
    return a


@op(differentiable=False, dtypes="any", numpy=("signbit",), samples=lambda s: [S(s.real(2, 3))])
def signbit(a):
    """True where the sign bit is set (negative numbers, -0.0). Example: ``x.signbit()``"""
    return Tensor(np.signbit(a.data))


def _fill(a, mask, value):
    return a if not mask.any() else where(mask, np.asarray(value, a.dtype), a)


@op(samples=lambda s: [S(np.array([1.0, np.nan, np.inf, -np.inf, -2.0])),
                       S(np.array([np.nan, np.inf, -np.inf]), 0.5, 9.0, -9.0)])
def nan_to_num(a, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (the dtype's largest and
    smallest by default); the gradient is 1 where the entry was kept. Example: ``x.nan_to_num()``"""
    if a.dtype.kind not in "fc":
        return a
    info = np.finfo(a.dtype)
    data = a.data
    a = _fill(a, np.isnan(data), nan)
    a = _fill(a, np.isposinf(data), info.max if posinf is None else posinf)
    return _fill(a, np.isneginf(data), info.min if neginf is None else neginf)


def _erfinv_array(y: np.ndarray) -> np.ndarray:
    """erf^-1 by Newton's method on erf from a good start (Giles' single-precision
    approximation); three steps reach double precision."""
    y64 = y.astype(np.float64)
    w = -np.log((1.0 - y64) * (1.0 + y64))
    small = w < 5.0
    ws = np.where(small, w - 2.5, np.sqrt(np.maximum(w, 5.0)) - 3.0)
    coeffs_small = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                    0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]
    coeffs_big = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                  0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]
    p_small, p_big = np.zeros_like(ws), np.zeros_like(ws)
    for cs, cb in zip(coeffs_small, coeffs_big):
        p_small = p_small * ws + cs
        p_big = p_big * ws + cb
    x = np.where(small, p_small, p_big) * y64
    inside = np.abs(y64) < 1
    for _ in range(3):
        step = (_erf_array(x) - y64) / (2.0 / math.sqrt(math.pi) * np.exp(-x * x))
        x = np.where(inside, x - step, x)
    x = np.where(y64 == 1, np.inf, np.where(y64 == -1, -np.inf, x))
    x = np.where(np.abs(y64) > 1, np.nan, x)
    return x.astype(y.dtype if y.dtype.kind == "f" else np.float64)


class Erfinv(Function):
    @staticmethod
    def forward(ctx, a):
        out = _erfinv_array(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d erfinv a/da = sqrt(pi)/2 e^(erfinv(a)^2)
        out, = ctx.saved_tensors
        return g * (math.sqrt(math.pi) / 2) * np.exp(out * out)


erfinv = _unary("erfinv", Erfinv, _unary_doc.format("The inverse error function (|a| < 1).",
                                                    "erfinv"),
                samples=lambda s: [S(s.unit(2, 3)), S(np.array([-0.999, 0.0, 0.5, 0.9999]))])
