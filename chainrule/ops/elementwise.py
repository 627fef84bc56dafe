"""Elementwise primitives: each forward with its backward, the derivative in one comment.

Broadcasting is undone by the engine (autograd sums each gradient back to its input's
shape), so binary rules return gradients at the broadcast shape.
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import HALF, ONE, get_default_dtype
from chainrule.tensor import Tensor


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _broadcast_check(name: str, a, b) -> None:
    sa, sb = np.shape(a), np.shape(b)
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(f"{name}: shapes {sa} and {sb} cannot be broadcast together") from None


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
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):  # d(ab)/da = b, d(ab)/db = a
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
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
        # d(0^b)/db = 0 (not 0 * ln 0 = nan). Shifting the base by (a == 0) where it matters
        # keeps the rule in operators, so it stays differentiable under create_graph.
        ga = g * b * (a + (zero & (b == 0))) ** (b - 1) if need_a else None
        gb = g * out * np.log(a + zero) if need_b else None
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
        return g * slope


class Elu(Function):
    @staticmethod
    def forward(ctx, a, alpha=1.0):
        pos = a > 0
        out = np.where(pos, a, alpha * np.expm1(np.minimum(a, 0))).astype(a.dtype, copy=False)
        ctx.alpha = alpha
        ctx.save_for_backward(pos.astype(a.dtype), out)
        return out

    @staticmethod
    def backward(ctx, g):  # d/da = 1 if a > 0 else alpha e^a = out + alpha
        pos, out = ctx.saved_tensors
        return g * (pos + (1 - pos) * (out + ctx.alpha))


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
        return g * (slope * ~ctx.linear + ctx.linear)


def _erf_array(x: np.ndarray) -> np.ndarray:
    """erf to double precision with NumPy alone (the core depends on nothing else).

    |x| < 2: the Maclaurin series  erf x = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)).
    |x| >= 2: erfc by its continued fraction, evaluated from the tail. (The series loses
    digits to cancellation beyond 2, ~1e-14 at 3; the fraction is exact to 1 ulp there.)
    """
    x64 = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x64)
    small = np.abs(x64) < 2.0
    xs = x64[small]
    term = xs.copy()
    total = xs.copy()
    x2 = xs * xs
    for n in range(1, 64):
        term *= -x2 / n
        total += term / (2 * n + 1)
    out[small] = total * (2.0 / math.sqrt(math.pi))
    xl = x64[~small]
    ax = np.abs(xl)
    frac = np.zeros_like(ax)
    for k in range(60, 0, -1):  # erfc x = e^-x^2/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
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
        _broadcast_check("maximum", a, b)
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
        _broadcast_check("minimum", a, b)
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
        return g * inside


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


# ---------------------------------------------------------------- public forms
def _promote(a, b):
    """PyTorch's rule where NumPy's differs: an integer tensor meeting a float (a Python
    float or a float tensor) takes the float's dtype, or the default float dtype, instead of
    NumPy's float64."""
    ka = a.data.dtype.kind if isinstance(a, Tensor) else ("f" if type(a) is float else "")
    kb = b.data.dtype.kind if isinstance(b, Tensor) else ("f" if type(b) is float else "")
    if ka in "iub" and kb == "f" and isinstance(a, Tensor):
        a = Tensor(a.data.astype(b.dtype if isinstance(b, Tensor) else get_default_dtype()))
    elif kb in "iub" and ka == "f" and isinstance(b, Tensor):
        b = Tensor(b.data.astype(a.dtype if isinstance(a, Tensor) else get_default_dtype()))
    return a, b


def _binary(fn, name, true_division=False):
    def op(a, b):
        if true_division:
            a, b = _floating(a), _floating(b)
        elif ((isinstance(a, Tensor) and a.data.dtype.kind in "iub")
              or (isinstance(b, Tensor) and b.data.dtype.kind in "iub")):
            a, b = _promote(a, b)   # only integer tensors can need PyTorch's promotion
        try:
            return fn.apply(a, b)
        except ValueError as e:
            if "broadcast" in str(e) and not str(e).startswith(name):
                raise ValueError(f"{name}: shapes {np.shape(_data(a))} and {np.shape(_data(b))} "
                                 f"cannot be broadcast together") from None
            raise
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} with broadcasting (differentiable)."
    return op


add = _binary(Add, "add")
sub = _binary(Sub, "sub")
mul = _binary(Mul, "mul")
div = _binary(Div, "div", true_division=True)


def pow(a, b):
    """``a ** b`` for tensors and numbers (differentiable in both)."""
    _broadcast_check("pow", _data(a), _data(b))
    return Pow.apply(a, b)


def _floating(a):
    """Integer or bool input to a floating function becomes the default float dtype, as in
    PyTorch (NumPy would give float64 and slow everything after it)."""
    if isinstance(a, Tensor) and a.data.dtype.kind in "iub":
        return Tensor(a.data.astype(get_default_dtype()))
    return a


def neg(a):
    """-a. Example: ``cr.neg(x)``"""
    return Neg.apply(a)


def exp(a):
    """e^a elementwise. Example: ``cr.exp(x)``"""
    return Exp.apply(_floating(a))


def log(a):
    """Natural logarithm. Example: ``cr.log(p)``"""
    return Log.apply(_floating(a))


def log1p(a):
    """ln(1 + a), accurate for small a. Example: ``cr.log1p(x)``"""
    return Log1p.apply(_floating(a))


def sqrt(a):
    """Square root. Example: ``cr.sqrt(v + 1e-8)``"""
    return Sqrt.apply(_floating(a))


def abs(a):
    """|a| (gradient sign(a), 0 at 0). Example: ``cr.abs(x)``"""
    return Abs.apply(a)


def sin(a):
    """Sine. Example: ``cr.sin(x)``"""
    return Sin.apply(_floating(a))


def cos(a):
    """Cosine. Example: ``cr.cos(x)``"""
    return Cos.apply(_floating(a))


def tanh(a):
    """Hyperbolic tangent. Example: ``cr.tanh(x)``"""
    return Tanh.apply(_floating(a))


def sigmoid(a):
    """1 / (1 + e^-a), computed without overflow. Example: ``cr.sigmoid(z)``"""
    return Sigmoid.apply(_floating(a))


def relu(a):
    """max(a, 0). Example: ``cr.relu(z)``"""
    return Relu.apply(a)


def erf(a):
    """The error function. Example: ``cr.erf(x)``"""
    return Erf.apply(_floating(a))


def clone(a):
    """A copy that stays in the graph. Example: ``y = x.clone()``"""
    return Clone.apply(a)


def leaky_relu(a, negative_slope: float = 0.01):
    """a where a > 0, else negative_slope * a. Example: ``cr.leaky_relu(z, 0.2)``"""
    return LeakyRelu.apply(a, negative_slope)


def elu(a, alpha: float = 1.0):
    """ELU: a where a > 0, else alpha (e^a - 1). Example: ``cr.elu(z)``"""
    return Elu.apply(a, alpha)


def softplus(a, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + e^(beta a)) / beta, linear above ``threshold``. Example: ``cr.softplus(z)``"""
    return Softplus.apply(a, beta, threshold)


def gelu(a, approximate: str = "none"):
    """GELU: x Phi(x) (exact, via erf) or its tanh approximation (``approximate='tanh'``)."""
    if approximate == "tanh":
        inner = (a + 0.044715 * a * a * a) * math.sqrt(2.0 / math.pi)
        return 0.5 * a * (1 + tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * a * (1 + erf(a * (1 / math.sqrt(2.0))))


def silu(a):
    """x * sigmoid(x)."""
    return a * sigmoid(a)


def maximum(a, b):
    """Elementwise larger of two tensors (ties split the gradient). Example: ``cr.maximum(x, y)``"""
    return Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise smaller of two tensors (ties split the gradient). Example: ``cr.minimum(x, y)``"""
    return Minimum.apply(a, b)


def clamp(a, min=None, max=None):
    """Limit values to [min, max]; the gradient is 1 inside and 0 where clamped.

    Number bounds take one fused node; tensor bounds (which get gradients where they are
    chosen, as in PyTorch) go through ``maximum``/``minimum``.
    Example: ``x.clamp(min=0.0)``, ``x.clamp(lo_tensor, hi_tensor)``
    """
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = a if min is None else maximum(a, min)
        return out if max is None else minimum(out, max)
    return Clamp.apply(a, min, max)


def where(condition, a, b):
    """Pick from ``a`` where ``condition`` holds, else from ``b`` (differentiable in a, b)."""
    cond = _data(condition)
    cond = np.asarray(cond)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
    shapes = [np.shape(cond), np.shape(_data(a)), np.shape(_data(b))]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"where: shapes {shapes[0]} (condition), {shapes[1]} and {shapes[2]} "
                         "cannot be broadcast together") from None
    return Where.apply(cond, a, b)


def masked_fill(a, mask, value):
    """Replace the entries of ``a`` where ``mask`` is True with ``value``.

    Example: ``scores.masked_fill(pad_mask, float("-inf"))``
    """
    m = np.asarray(_data(mask))
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    return where(m, value, a)


def cast(a, dtype):
    if a.dtype == dtype:
        return a
    return Cast.apply(a, dtype)


# ---------------------------------------------------------- no gradient at all
def _plain(fn, a, *rest):
    return Tensor(np.asarray(fn(_data(a), *(_data(r) for r in rest))))


def _no_grad_op(fn, name: str, doc: str):
    def op(*args):
        return _plain(fn, *args)
    op.__name__, op.__doc__ = name, doc + " No gradient flows through it."
    return op


sign = _no_grad_op(np.sign, "sign", "-1, 0 or 1 by the sign of each entry.")
lt = _no_grad_op(np.less, "lt", "Elementwise a < b, as a bool tensor: ``x.lt(0)``.")
le = _no_grad_op(np.less_equal, "le", "Elementwise a <= b, as a bool tensor.")
gt = _no_grad_op(np.greater, "gt", "Elementwise a > b, as a bool tensor: ``x > 0``.")
ge = _no_grad_op(np.greater_equal, "ge", "Elementwise a >= b, as a bool tensor.")
eq = _no_grad_op(np.equal, "eq", "Elementwise a == b, as a bool tensor: ``pred.eq(y)``.")
ne = _no_grad_op(np.not_equal, "ne", "Elementwise a != b, as a bool tensor.")
def logical_not(a): return _plain(np.logical_not, a)
def logical_and(a, b): return _plain(np.logical_and, a, b)
def logical_or(a, b): return _plain(np.logical_or, a, b)
isnan = _no_grad_op(np.isnan, "isnan", "True where an entry is NaN.")
isfinite = _no_grad_op(np.isfinite, "isfinite", "True where an entry is neither NaN nor infinite.")
def floor(a): return _plain(np.floor, a)
def round(a): return _plain(np.round, a)
