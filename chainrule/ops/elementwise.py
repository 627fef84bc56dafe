"""Elementwise primitives: each forward with its backward, the derivative in one comment.

Broadcasting is undone by the engine (autograd sums each gradient back to its input's
shape), so binary rules return gradients at the broadcast shape. Every backward here uses
operators and NumPy ufuncs only, so it also runs, recorded, on Tensors (create_graph).
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import ArgumentError, DtypeError, HALF, ONE, ShapeError, get_default_dtype
from chainrule.ops.promotion import promote, result_type, settled
from chainrule.ops.registry import S, op
from chainrule.tensor import Tensor


def _data(x):
    return x._array if isinstance(x, Tensor) else x


def _broadcast_check(name: str, *xs) -> None:
    shapes = [np.shape(_data(x)) for x in xs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"{name}: shapes {' and '.join(map(str, shapes))} cannot be "
                         f"broadcast together") from None


# ------------------------------------------------------------------ arithmetic
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):  # d(a+b)/da = d(a+b)/db = 1
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):  # d(a-b)/da = 1, d(a-b)/db = -1
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if ctx.inputs:  # keep only what backward reads, so an in-place change to the other
            # operand afterwards (y = x * 2; x.add_(1)) does not stop the backward (as PyTorch)
            ctx.save_for_backward(a if ctx.inputs[1] is not None else None,
                                  b if ctx.inputs[0] is not None else None)
        return a * b

    @staticmethod
    def backward(ctx, g):  # d(ab)/da = b, d(ab)/db = a
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        if ctx.inputs:  # a is read only for b's gradient (see Mul)
            ctx.save_for_backward(a if ctx.inputs[1] is not None else None, b)
        return a / b

    @staticmethod
    def backward(ctx, g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        zero = a == 0
        # At a = 0 PyTorch's limits hold: d(0^0)/da = 0 (not 0 * 0^-1 = nan), and
        # d(0^b)/db = 0 for b >= 0 (not 0 * ln 0 = nan) but -inf * sign for b < 0 (where
        # 0^b = inf). Shifting the base by (a == 0) where it matters keeps the rule in
        # operators, so it stays differentiable under create_graph.
        # (The shifts are cast to the output's dtype: a bool added to a number base, 2 ** x,
        # would otherwise give the default float dtype under create_graph.)
        ga = g * b * (a + (zero & (b == 0)).astype(out.dtype)) ** (b - 1) if need_a else None
        gb = None
        if need_b:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * out * np.log(a + (zero & (b >= 0)).astype(out.dtype))
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):  # d(-a)/da = -1
        return -g


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.src = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):  # identity on values, back to the source dtype
        return g.astype(ctx.src), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


# ------------------------------------------------------------------- functions
class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d e^a/da = e^a
        out, = ctx.saved_tensors
        return g * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):  # d ln a/da = 1/a
        a, = ctx.saved_tensors
        return g / a


class Log1p(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log1p(a)

    @staticmethod
    def backward(ctx, g):  # d ln(1+a)/da = 1/(1+a)
        a, = ctx.saved_tensors
        return g / (1 + a)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d sqrt(a)/da = 1/(2 sqrt(a))
        out, = ctx.saved_tensors
        return g / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(np.sign(a))
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):  # d|a|/da = sign(a)  (0 at 0, as PyTorch)
        sign, = ctx.saved_tensors
        return g * sign


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):  # d sin a/da = cos a
        a, = ctx.saved_tensors
        return g * np.cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, g):  # d cos a/da = -sin a
        a, = ctx.saved_tensors
        return -g * np.sin(a)


class Tan(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d tan a/da = 1 + tan^2 a
        out, = ctx.saved_tensors
        return g * (1 + out * out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d tanh a/da = 1 - tanh^2 a
        out, = ctx.saved_tensors
        return g * (ONE[out.dtype] - out * out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        # 1/(1+e^-a) written through tanh: no overflow for large |a|. (A plain number or
        # an integer array gets a plain 0.5, so NumPy promotes it to float as it always did.)
        half = HALF[a.dtype] if type(a) is np.ndarray and a.dtype.kind in "fc" else 0.5
        out = np.tanh(a * half)
        out *= half
        out += half
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # d s(a)/da = s(a) (1 - s(a))
        out, = ctx.saved_tensors
        return g * out * (ONE[out.dtype] - out)


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        if ctx.inputs:  # recording: keep the mask for backward (skipped under no_grad)
            ctx.save_for_backward(out > 0)
        return out

    @staticmethod
    def backward(ctx, g):  # d relu(a)/da = 1 if a > 0 else 0
        mask, = ctx.saved_tensors
        return g * mask


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        slope = np.where(a > 0, 1, negative_slope).astype(a.dtype)
        ctx.save_for_backward(slope)
        return a * slope

    @staticmethod
    def backward(ctx, g):  # d/da = 1 if a > 0 else negative_slope
        slope, = ctx.saved_tensors
        return g * slope, None


class PRelu(Function):
    """a where a > 0, else w * a, with ``w`` already shaped to broadcast against ``a`` (one
    slope, or one per channel); ``F.prelu`` checks and shapes it."""

    @staticmethod
    def forward(ctx, a, w):
        positive = a > 0
        if ctx.inputs:  # recording: both rules read a, w and the mask
            ctx.save_for_backward(a, w, positive)
        return np.where(positive, a, w * a).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):  # d/da = 1 if a > 0 else w (at a = 0 too, as PyTorch); d/dw = a if a <= 0
        # chosen with where, not multiplied by a 0/1 mask, so an infinite a or w on the branch
        # not taken does not turn the gradient into nan (0 * inf)
        a, w, positive = ctx.saved_tensors
        need_a, need_w = ctx.needs_input_grad
        return (np.where(positive, g, g * w) if need_a else None,
                np.where(positive, 0, g * a) if need_w else None)


class Elu(Function):
    """scale * (a if a > 0 else alpha (e^(input_scale a) - 1)): ELU, and with other
    constants SELU and CELU, as PyTorch's kernel shares them."""

    @staticmethod
    def forward(ctx, a, alpha=1.0, scale=1.0, input_scale=1.0):
        pos = a > 0
        neg = alpha * np.expm1(np.minimum(a, 0) * input_scale)
        out = np.where(pos, a * scale if scale != 1 else a,
                       neg * scale if scale != 1 else neg).astype(a.dtype, copy=False)
        ctx.alpha, ctx.scale, ctx.input_scale = alpha, scale, input_scale
        ctx.save_for_backward(pos.astype(a.dtype), out)
        return out

    @staticmethod
    def backward(ctx, g):  # d/da = scale if a > 0 else input_scale (out + alpha scale)
        pos, out = ctx.saved_tensors
        negative = (out + ctx.alpha * ctx.scale) * ctx.input_scale
        return g * (pos * ctx.scale + (1 - pos) * negative), None, None, None


class Softplus(Function):
    @staticmethod
    def forward(ctx, a, beta=1.0, threshold=20.0):
        ctx.save_for_backward(a)
        ctx.beta = beta
        ba = a * beta
        ctx.linear = ba > threshold   # there the output is a itself, slope 1 (as PyTorch)
        soft = np.logaddexp(0, ba) / beta
        return np.where(ctx.linear, a, soft).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):  # d/da log(1+e^(ba))/b = sigmoid(b a); 1 on the linear part
        a, = ctx.saved_tensors
        slope = 0.5 + 0.5 * np.tanh(a * (0.5 * ctx.beta))
        return g * (slope * ~ctx.linear + ctx.linear), None, None


# erf x = 2/sqrt(pi) x sum_n c_n x^(2n), c_n = (-1)^n / (n! (2n + 1)), summed by Horner's rule
# (two passes per term): 32 terms reach 1e-15 on |x| < 2, 22 terms 7e-10 (float32's need).
_ERF_SERIES = [(-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(32)]


def _erf_array(x: np.ndarray) -> np.ndarray:
    """erf to the precision of x's dtype (double for float64) with NumPy alone.

    |x| < 2: the Maclaurin series  erf x = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)).
    |x| >= 2: erfc by its continued fraction, evaluated from the tail. (The series loses
    digits to cancellation beyond 2, ~1e-14 at 3; the fraction is exact to 1 ulp there.)
    Fewer terms and levels for float32 and below: 7e-10 and 5e-12 at most, against their
    6e-8 resolution (checked against math.erf in the tests).
    """
    double = np.asarray(x).dtype not in (np.float32, np.float16)
    terms, levels = (32, 60) if double else (22, 20)
    x64 = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x64)
    small = np.abs(x64) < 2.0
    xs = x64[small]
    x2 = xs * xs
    total = np.full_like(xs, _ERF_SERIES[terms - 1])
    for c in reversed(_ERF_SERIES[:terms - 1]):
        total *= x2
        total += c
    total *= xs
    out[small] = total * (2.0 / math.sqrt(math.pi))
    xl = x64[~small]
    ax = np.abs(xl)
    frac = np.zeros_like(ax)
    for k in range(levels, 0, -1):  # erfc x = e^-x^2/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        frac = (k / 2.0) / (ax + frac)
    erfc = np.exp(-ax * ax) / math.sqrt(math.pi) / (ax + frac)
    out[~small] = np.sign(xl) * (1.0 - erfc)
    return out.astype(x.dtype if np.asarray(x).dtype.kind == "f" else np.float64, copy=False)


class Erf(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _erf_array(a)

    @staticmethod
    def backward(ctx, g):  # d erf a/da = 2/sqrt(pi) e^(-a^2)
        a, = ctx.saved_tensors
        return g * (2.0 / math.sqrt(math.pi)) * np.exp(-(a * a))


def _tie_weights(wins, ties, dtype) -> np.ndarray:
    """1 where the first input wins, 0.5 on ties, 0 where it loses, in the output's dtype."""
    w = wins.astype(dtype)
    w += ties * np.asarray(0.5, dtype)
    return w


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.maximum(a, b)
        if ctx.inputs:
            ctx.save_for_backward(_tie_weights(a > b, a == b, out.dtype))
        return out

    @staticmethod
    def backward(ctx, g):  # the larger input gets the gradient; ties split it in half
        wa, = ctx.saved_tensors
        return g * wa, g * (1 - wa)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.minimum(a, b)
        if ctx.inputs:
            ctx.save_for_backward(_tie_weights(a < b, a == b, out.dtype))
        return out

    @staticmethod
    def backward(ctx, g):  # the smaller input gets the gradient; ties split it in half
        wa, = ctx.saved_tensors
        return g * wa, g * (1 - wa)


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        if ctx.inputs:
            inside = np.ones(a.shape, dtype=bool)
            if lo is not None:
                inside &= a >= lo
            if hi is not None:
                inside &= a <= hi
            ctx.save_for_backward(inside)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):  # 1 inside [lo, hi], 0 where clamped
        inside, = ctx.saved_tensors
        return g * inside, None, None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond, ~cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):  # each branch gets the gradient where it was chosen
        cond, not_cond = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[1:]
        return None, (g * cond if need_a else None), (g * not_cond if need_b else None)


class PiecewiseBinary(Function):
    """A piecewise-constant function of two tensors (rounded division): zero gradient for
    both, as ``Piecewise``."""

    @staticmethod
    def forward(ctx, a, b, fn):
        return fn(a, b)

    @staticmethod
    def backward(ctx, g):  # d/da = d/db = 0
        zero = g * 0
        return zero, zero, None


class Piecewise(Function):
    """A piecewise-constant function (sign, floor, round ...): its derivative is 0 wherever
    it exists, and PyTorch's convention is a zero gradient everywhere, so gradients flow
    (as zeros) instead of stopping the graph."""

    @staticmethod
    def forward(ctx, a, fn):
        return fn(a)

    @staticmethod
    def backward(ctx, g):  # d/da = 0
        return g * 0, None


# ---------------------------------------------------------------- public forms
def _floating(a):
    """Integer or bool input to a floating function becomes the default float dtype, as in
    PyTorch (NumPy would give float64 and slow everything after it)."""
    if isinstance(a, Tensor) and a._array.dtype.kind in "iub":
        return Tensor(a._array.astype(get_default_dtype()))
    return a


def _binary(fn, name, doc, floating=False):
    def binary(a, b):
        if not settled(a, b):    # tensors of one dtype (the hot path) need no promotion
            a, b = promote(a, b)
        if floating:
            a, b = _floating(a), _floating(b)
        try:
            return fn.apply(a, b)
        except ValueError as e:
            if "broadcast" in str(e) and not str(e).startswith(name):
                _broadcast_check(name, a, b)
            raise
    binary.__name__ = binary.__qualname__ = name
    binary.__doc__ = doc
    return binary


def _pair(s, *shapes):
    return [S(s.real(*shape_a), s.real(*shape_b)) for shape_a, shape_b in shapes]


_add = _binary(Add, "add", "a + b with broadcasting. Example: ``x + 1.0``")
_sub = _binary(Sub, "sub", "a - b with broadcasting. Example: ``x - y``")


def _radd(a, b):
    return _add(b, a)


def _rsub(a, b):
    return _sub(b, a)


# (The operators and NumPy's ufuncs call the two-argument forms directly: the hot path.)
@op(operators={"__add__": _add, "__radd__": _radd}, numpy={"add": _add},
    samples=lambda s: [*_pair(s, ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))),
                       S(s.real(3), 1.5), S(s.real(3, 4), s.real(4), alpha=0.5)])
def add(input, other, *, alpha=1):
    """input + alpha * other, with broadcasting. Example: ``cr.add(x, 1.0)``,
    ``p.add(g, alpha=-0.1)``"""
    return _add(input, other if alpha == 1 else other * alpha)


@op(operators={"__sub__": _sub, "__rsub__": _rsub}, numpy={"subtract": _sub},
    aliases=("subtract",), methods={"subtract": True},
    samples=lambda s: [*_pair(s, ((3, 1), (1, 4))), S(s.real(3), 0.5), S(s.real(3), s.real(3), alpha=2)])
def sub(input, other, *, alpha=1):
    """input - alpha * other, with broadcasting. Example: ``cr.sub(x, y)``"""
    return _sub(input, other if alpha == 1 else other * alpha)
mul = op(operators={"__mul__": "self", "__rmul__": "reflected"}, numpy=("multiply",),
         aliases=("multiply",), methods={"multiply": True},
         samples=lambda s: [*_pair(s, ((2, 3, 4), (3, 1)), ((), (2, 3))), S(s.real(3), 1.5)])(
    _binary(Mul, "mul", "a * b with broadcasting. Example: ``cr.mul(x, w)``"))
_true_divide = _binary(Div, "div", "a / b", floating=True)


@op(operators={"__truediv__": "self", "__rtruediv__": "reflected"},
    numpy=("true_divide", "divide"), aliases=("divide", "true_divide"),
    methods={"divide": True, "true_divide": True},
    samples=lambda s: [S(s.real(3, 4), s.positive(4)), S(s.real(3), 4.0),
                       S(s.real(3, 4) * 4, s.positive(4), rounding_mode="trunc"),
                       S(s.real(3, 4) * 4, s.real(4), rounding_mode="floor")])
def div(a, b, *, rounding_mode: str | None = None):
    """a / b with broadcasting: true division (integers give floats), or rounded towards
    zero (``rounding_mode="trunc"``) or down (``"floor"``, Python's ``//``), which keep an
    integer dtype and have a zero gradient. Example: ``cr.div(x, 2)``,
    ``cr.div(n, 3, rounding_mode="floor")``"""
    if rounding_mode is None:
        return _true_divide(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ArgumentError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                            f"{rounding_mode!r}")
    return _rounded_division(a, b, rounding_mode)


def _rounded_division(a, b, mode: str):
    a, b = promote(a, b)
    _broadcast_check("div", a, b)
    if _dtype_kind(a, b) in "iub":
        if (np.asarray(_data(b)) == 0).any():
            raise ZeroDivisionError(f"div: integer division by zero (rounding_mode={mode!r})")
        return _plain(_int_trunc_divide if mode == "trunc" else np.floor_divide, a, b)
    fn = _trunc_divide if mode == "trunc" else np.floor_divide
    if not isinstance(a, Tensor):
        a = Tensor(np.asarray(a, dtype=result_type(a, b)))
    return PiecewiseBinary.apply(a, b, fn)


def _dtype_kind(*xs) -> str:
    return result_type(*xs).kind


def _trunc_divide(a, b):
    """trunc(a / b), as PyTorch rounds a floating division towards zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.trunc(np.true_divide(a, b))


def _int_trunc_divide(a, b):
    """Integer division rounded towards zero (C's, PyTorch's), where NumPy floors."""
    q = np.floor_divide(a, b)
    return q + ((q < 0) & (q * b != a))


@op(operators={"__pow__": "self", "__rpow__": "reflected"}, numpy=("power",),
    samples=lambda s: [S(s.positive(3, 4), s.real(3, 4)), S(s.real(3, 4), 3),
                       S(s.positive(3, 4), 1.5), S(s.positive(5), -2)])
def pow(a, b):
    """``a ** b`` for tensors and numbers (differentiable in both). Example: ``x ** 2``"""
    if not settled(a, b):
        a, b = promote(a, b)
        if isinstance(a, Tensor) and isinstance(b, float):
            a = _floating(a)
    _broadcast_check("pow", a, b)
    if _integer(a) and _integer(b) and (np.asarray(_data(b)) < 0).any():
        # PyTorch: an integer to a negative integer power rounds towards zero: 1 and -1 keep
        # their magnitude (-1 ** -3 = -1), every other base gives 0 (2 ** -1 = 0, 0 ** -1 = 0)
        base, exponent = np.asarray(_data(a)), np.asarray(_data(b))
        dtype = result_type(a, b)
        positive = np.power(base, np.maximum(exponent, 0)).astype(dtype)
        odd_sign = np.where(exponent % 2 == 1, -1, 1)
        negative = np.where(base == 1, 1, np.where(base == -1, odd_sign, 0))
        return Tensor(np.where(exponent < 0, negative, positive).astype(dtype))
    return Pow.apply(a, b)


def _integer(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) or \
        (isinstance(x, Tensor) and x._array.dtype.kind in "iu")


def _unary(name: str, cls, doc: str, floating: bool = True, numpy: tuple = (),
           samples=None, **declared):
    """Declare a one-argument op ``name(a) = cls.apply(a)``."""
    if floating:
        def unary(a):
            return cls.apply(_floating(a))
    else:
        def unary(a):
            return cls.apply(a)
    unary.__name__ = unary.__qualname__ = name
    unary.__doc__ = doc
    return op(numpy=numpy, samples=samples or (lambda s: [S(s.real(2, 3)), S(s.real())]),
              **declared)(unary)


neg = _unary("neg", Neg, "-a. Example: ``cr.neg(x)``", floating=False, numpy=("negative",),
             operators={"__neg__": "self"}, aliases=("negative",))
exp = _unary("exp", Exp, "e^a elementwise. Example: ``cr.exp(x)``", numpy=("exp",))
log = _unary("log", Log, "Natural logarithm. Example: ``cr.log(p)``", numpy=("log",),
             samples=lambda s: [S(s.positive(2, 3))])
log1p = _unary("log1p", Log1p, "ln(1 + a), accurate for small a. Example: ``cr.log1p(x)``",
               numpy=("log1p",),
               samples=lambda s: [S(s.unit(2, 3))])
sqrt = _unary("sqrt", Sqrt, "Square root. Example: ``cr.sqrt(v + 1e-8)``", numpy=("sqrt",),
              samples=lambda s: [S(s.positive(2, 3))])
abs = _unary("abs", Abs, "|a| (gradient sign(a), 0 at 0). Example: ``cr.abs(x)``",
             floating=False, numpy=("absolute",), operators={"__abs__": "self"})
sin = _unary("sin", Sin, "Sine. Example: ``cr.sin(x)``", numpy=("sin",))
cos = _unary("cos", Cos, "Cosine. Example: ``cr.cos(x)``", numpy=("cos",))
tan = _unary("tan", Tan, "Tangent. Example: ``cr.tan(x)``", numpy=("tan",),
             samples=lambda s: [S(s.unit(2, 3)), S(s.unit())])
tanh = _unary("tanh", Tanh, "Hyperbolic tangent. Example: ``cr.tanh(x)``",
              numpy=("tanh",), namespace=("cr", "F"))
sigmoid = _unary("sigmoid", Sigmoid, "1 / (1 + e^-a), without overflow. Example: ``cr.sigmoid(z)``",
                 namespace=("cr", "F"))
relu = _unary("relu", Relu, "max(a, 0). Example: ``cr.relu(z)``", floating=False)
erf = _unary("erf", Erf, "The error function. Example: ``cr.erf(x)``")
clone = _unary("clone", Clone, "A copy that stays in the graph. Example: ``y = x.clone()``",
               floating=False)


@op(samples=lambda s: [S(s.real(2, 3), 0.2)], torch=lambda t, a, s: t.nn.functional.leaky_relu(a, s))
def leaky_relu(a, negative_slope: float = 0.01):
    """a where a > 0, else negative_slope * a. Example: ``cr.leaky_relu(z, 0.2)``"""
    return LeakyRelu.apply(a, negative_slope)


@op(samples=lambda s: [S(s.real(2, 3), 0.7)], torch=lambda t, a, alpha: t.nn.functional.elu(a, alpha))
def elu(a, alpha: float = 1.0):
    """ELU: a where a > 0, else alpha (e^a - 1). Example: ``cr.elu(z)``"""
    return Elu.apply(_floating(a), alpha)


@op(samples=lambda s: [S(s.real(3, 4)), S(s.real(4, 5), beta=2.0, threshold=1.5)],
    torch=lambda t, a, **k: t.nn.functional.softplus(a, **k))
def softplus(a, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + e^(beta a)) / beta, linear above ``threshold``. Example: ``cr.softplus(z)``"""
    return Softplus.apply(_floating(a), beta, threshold)


@op(samples=lambda s: [S(s.real(3, 4)), S(s.real(3, 4), approximate="tanh")],
    torch=lambda t, a, **k: t.nn.functional.gelu(a, **k))
def gelu(a, approximate: str = "none"):
    """GELU: x Phi(x) (exact, via erf) or its tanh approximation (``approximate='tanh'``)."""
    if approximate == "tanh":
        inner = (a + 0.044715 * a * a * a) * math.sqrt(2.0 / math.pi)
        return 0.5 * a * (1 + tanh(inner))
    if approximate != "none":
        raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * a * (1 + erf(a * (1 / math.sqrt(2.0))))


@op(samples=lambda s: [S(s.real(3, 4))], torch=lambda t, a: t.nn.functional.silu(a))
def silu(a):
    """x * sigmoid(x), also called swish. Example: ``cr.silu(x)``"""
    return a * sigmoid(a)


@op(numpy=("maximum",), samples=lambda s: [S(s.real(3, 4), s.real(4)), S(s.real(2, 1), s.real(1, 3))])
def maximum(a, b):
    """Elementwise larger of two tensors (ties split the gradient). Example: ``cr.maximum(x, y)``"""
    a, b = promote(a, b)
    _broadcast_check("maximum", a, b)
    return Maximum.apply(a, b)


@op(numpy=("minimum",), samples=lambda s: [S(s.real(3, 4), s.real(4)), S(s.real(2, 1), s.real(1, 3))])
def minimum(a, b):
    """Elementwise smaller of two tensors (ties split the gradient). Example: ``cr.minimum(x, y)``"""
    a, b = promote(a, b)
    _broadcast_check("minimum", a, b)
    return Minimum.apply(a, b)


@op(method=True, methods={"clip": True}, aliases=("clip",),
    samples=lambda s: [S(s.real(3, 4), -0.5, 1.0), S(s.real(3, 4), min=0.3),
                       S(s.real(3, 4), max=0.3), S(s.real(3, 4), s.real(4) - 0.5, s.real(4) + 0.5)])
def clamp(a, min=None, max=None):
    """Limit values to [min, max]; the gradient is 1 inside and 0 where clamped.

    Number bounds take one fused node; tensor bounds (which get gradients where they are
    chosen, as in PyTorch) go through ``maximum``/``minimum``.
    Example: ``x.clamp(min=0.0)``, ``x.clamp(lo_tensor, hi_tensor)``
    """
    if min is None and max is None:
        raise ArgumentError("clamp: give at least one of min and max")
    if isinstance(min, (Tensor, np.ndarray)) or isinstance(max, (Tensor, np.ndarray)):
        out = a if min is None else maximum(a, min)
        return out if max is None else minimum(out, max)
    target = result_type(a, *(v for v in (min, max) if v is not None))
    if isinstance(a, Tensor) and a.dtype != target:
        a = a.astype(target)            # PyTorch: an integer tensor clamped by floats is float
    return Clamp.apply(a, min, max)


@op(method=False, numpy=("where",),
    samples=lambda s: [S(s.bools(3, 4), s.real(3, 4), s.real(4)), S(s.bools(3, 4), s.real(3, 4), 0.0)])
def where(condition, input=None, other=None):
    """Pick from ``input`` where ``condition`` holds, else from ``other`` (differentiable in
    both); ``cr.where(condition)`` alone is ``cr.nonzero(condition, as_tuple=True)``.
    Example: ``cr.where(x > 0, x, 0.0)``"""
    if input is None and other is None:
        from chainrule.ops.layout import nonzero     # (layout builds on this module)
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither")
    cond = np.asarray(_data(condition))
    if cond.dtype != np.bool_:
        raise DtypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
    a, b = promote(input, other)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        # two numbers: PyTorch's dtype for them (a float is the default float dtype)
        dtype = result_type(a, b)
        a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    shapes = [np.shape(cond), np.shape(_data(a)), np.shape(_data(b))]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"where: shapes {shapes[0]} (condition), {shapes[1]} and {shapes[2]} "
                         "cannot be broadcast together") from None
    return Where.apply(cond, a, b)


@op(samples=lambda s: [S(s.real(3, 4), s.bools(3, 4), -1.5), S(s.real(3, 4), s.bools(4), 0.25)])
def masked_fill(a, mask, value):
    """Replace the entries of ``a`` where ``mask`` is True with ``value``.

    Example: ``scores.masked_fill(pad_mask, float("-inf"))``
    """
    m = np.asarray(_data(mask))
    if m.dtype != np.bool_:
        raise DtypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    if not isinstance(value, Tensor):
        value = np.asarray(value).astype(a.dtype)   # PyTorch: the result keeps a's dtype
    return where(m, value, a)


@op(name="cast", method="astype", differentiable=True, torch=None, second_order=False,
    tolerance=dict(eps=1e-3, atol=1e-3),   # float32 rounding: a coarser finite difference
    notes="second order: the float32 output cannot be finite-differenced finely enough; "
          "its backward is a cast back, itself this op",
    samples=lambda s: [S(s.real(2, 3), np.float32)])
def cast(a, dtype):
    """``a`` converted to ``dtype`` (differentiable between floating dtypes).
    Example: ``x.astype(np.float64)``"""
    dtype = np.dtype(dtype)
    if a.dtype == dtype:
        return a
    return Cast.apply(a, dtype)


# ---------------------------------------------- piecewise constant: zero gradient
def _piecewise(name: str, fn, doc: str):
    def piecewise(a):
        if isinstance(a, Tensor) and a._array.dtype.kind not in "fc":
            return Tensor(np.asarray(fn(a._array)))
        return Piecewise.apply(a, fn)
    piecewise.__name__ = piecewise.__qualname__ = name
    piecewise.__doc__ = doc + " Its gradient is 0 (as in PyTorch)."
    return op(numpy=(name,), samples=lambda s: [S(s.real(2, 3) * 3)])(piecewise)


sign = _piecewise("sign", np.sign, "-1, 0 or 1 by the sign of each entry.")
floor = _piecewise("floor", np.floor, "The largest integer <= each entry.")
ceil = _piecewise("ceil", np.ceil, "The smallest integer >= each entry.")
trunc = _piecewise("trunc", np.trunc, "Each entry rounded towards zero.")
def _round_integer(a):
    if isinstance(a, Tensor) and a._array.dtype.kind not in "fc":
        return Tensor(np.asarray(np.round(a._array)))
    return Piecewise.apply(a, np.round)


@op(numpy={"round": lambda a, decimals=0, out=None: round(a, decimals=decimals),
           "around": lambda a, decimals=0, out=None: round(a, decimals=decimals)},
    samples=lambda s: [S(s.real(2, 3) * 3), S(s.real(2, 3) * 30, decimals=1),
                       S(s.real(2, 3) * 300, decimals=-2)])
def round(a, *, decimals: int = 0):
    """Each entry rounded to the nearest integer (halves to even), or to ``decimals``
    decimal places (negative: tens, hundreds ...), computed as PyTorch does. Its gradient
    is 0 (as in PyTorch). Example: ``x.round(decimals=2)``"""
    if decimals == 0:
        return _round_integer(a)
    if isinstance(a, Tensor) and a._array.dtype.kind not in "fc":
        if decimals > 0:
            return a
        raise DtypeError("round: decimals is only supported for floating tensors")
    dtype = a.dtype.type
    scale = dtype(10.0 ** (decimals if decimals > 0 else -decimals))
    if decimals > 0:       # nearbyint(x * 10^d) / 10^d, in the tensor's precision
        return Piecewise.apply(a, lambda v: np.round(v * scale) / scale)
    return Piecewise.apply(a, lambda v: np.round(v / scale) * scale)


# ------------------------------------------------------------- no gradient at all
def _plain(fn, *args):
    return Tensor(np.asarray(fn(*(_data(a) for a in args))))


def _comparison(name: str, fn, dunder: str, doc: str):
    def compare(a, b):
        return _plain(fn, a, b)
    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = doc + " No gradient flows through it."
    return op(operators={dunder: "self"}, numpy=(fn.__name__,), differentiable=False,
              dtypes="any", samples=lambda s: [S(s.real(3, 4), s.real(4)), S(s.real(3), 0.5)])(compare)


lt = _comparison("lt", np.less, "__lt__", "Elementwise a < b, as a bool tensor: ``x.lt(0)``.")
le = _comparison("le", np.less_equal, "__le__", "Elementwise a <= b, as a bool tensor.")
gt = _comparison("gt", np.greater, "__gt__", "Elementwise a > b, as a bool tensor: ``x > 0``.")
ge = _comparison("ge", np.greater_equal, "__ge__", "Elementwise a >= b, as a bool tensor.")
eq = _comparison("eq", np.equal, "__eq__", "Elementwise a == b, as a bool tensor: ``pred.eq(y)``.")
ne = _comparison("ne", np.not_equal, "__ne__", "Elementwise a != b, as a bool tensor.")


def _predicate(name: str, fn, doc: str):
    def predicate(a):
        return _plain(fn, a)
    predicate.__name__ = predicate.__qualname__ = name
    predicate.__doc__ = doc
    return op(numpy=(fn.__name__,), differentiable=False, dtypes="any",
              samples=lambda s: [S(np.array([1.0, np.nan, np.inf, -np.inf, -2.0]))])(predicate)


isnan = _predicate("isnan", np.isnan, "True where an entry is NaN.")
isinf = _predicate("isinf", np.isinf, "True where an entry is +inf or -inf.")
isfinite = _predicate("isfinite", np.isfinite, "True where an entry is neither NaN nor infinite.")


def _logical(name: str, fn, arity: int, doc: str, dunder: str | None = None):
    def logical(*args):
        if len(args) != arity:
            raise TypeError(f"{name} takes {arity} tensor argument(s), got {len(args)}")
        if arity == 2 and not settled(*args):
            args = promote(*args)           # PyTorch's result dtype, not NumPy's
        return _plain(fn, *args)
    logical.__name__ = logical.__qualname__ = name
    logical.__doc__ = doc
    ops_ = {dunder: "self"} if dunder else {}
    if dunder and arity == 2:
        ops_["__r" + dunder[2:]] = "reflected"
    pick = (lambda s: [S(s.ints(-40, 40, 3, 4), s.ints(-40, 40, 4)), S(s.bools(3), s.bools(3))]) \
        if arity == 2 else (lambda s: [S(s.ints(-40, 40, 3, 4)), S(s.bools(3))])
    if name.startswith("logical"):
        pick = (lambda s: [S(s.bools(3, 4), s.bools(4))]) if arity == 2 else \
            (lambda s: [S(s.bools(3, 4))])
    return op(operators=ops_, numpy=(fn.__name__,), differentiable=False, dtypes="any",
              samples=pick)(logical)


logical_not = _logical("logical_not", np.logical_not, 1, "Elementwise NOT, as a bool tensor.")
logical_and = _logical("logical_and", np.logical_and, 2, "Elementwise AND, as a bool tensor.")
logical_or = _logical("logical_or", np.logical_or, 2, "Elementwise OR, as a bool tensor.")
logical_xor = _logical("logical_xor", np.logical_xor, 2, "Elementwise XOR, as a bool tensor.")
bitwise_not = _logical("bitwise_not", np.invert, 1,
                       "``~a``: bitwise NOT of integers, logical NOT of bools.", "__invert__")
bitwise_and = _logical("bitwise_and", np.bitwise_and, 2,
                       "``a & b``: bitwise AND of integers, logical AND of bools.", "__and__")
bitwise_or = _logical("bitwise_or", np.bitwise_or, 2,
                      "``a | b``: bitwise OR of integers, logical OR of bools.", "__or__")
bitwise_xor = _logical("bitwise_xor", np.bitwise_xor, 2,
                       "``a ^ b``: bitwise XOR of integers, logical XOR of bools.", "__xor__")


# ------------------------------------------------------- compositions of the above
@op(samples=lambda s: [S(s.positive(2, 3))])
def rsqrt(a):
    """1 / sqrt(a). Example: ``(var + eps).rsqrt()``"""
    return 1 / sqrt(a)


@op(numpy=("reciprocal",), samples=lambda s: [S(s.real(2, 3))])
def reciprocal(a):
    """1 / a. Example: ``x.reciprocal()``"""
    return 1 / _floating(a)


@op(numpy=("square",), samples=lambda s: [S(s.real(2, 3))])
def square(a):
    """a * a. Example: ``err.square().mean()``"""
    return a * a


@op(numpy=("log2",), samples=lambda s: [S(s.positive(2, 3))])
def log2(a):
    """Base-2 logarithm. Example: ``cr.log2(p)``"""
    return log(a) * (1 / math.log(2.0))


@op(numpy=("log10",), samples=lambda s: [S(s.positive(2, 3))])
def log10(a):
    """Base-10 logarithm. Example: ``cr.log10(x)``"""
    return log(a) * (1 / math.log(10.0))
