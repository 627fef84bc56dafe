"""The in-place Tensor methods (``add_``, ``mul_``, ``clamp_``, ``copy_``, ``fill_``,
``masked_fill_``, ``scatter_``, ``uniform_`` ...) and item assignment (``t[i] = v``).

Each ``x.op_(*args)`` computes ``op(x, *args)`` and writes the result into x's memory (views
of x see it), bumping x's version. Where gradients are involved (grad mode on, and x or an
argument requires grad), the change is recorded as PyTorch records it: x becomes the output
of ``op(snapshot of x, *args)`` (``autograd.rebase_inplace``), so gradients flow through the
new node to the old x; a node that saved x's old values refuses its backward. As in PyTorch,
a leaf that requires grad cannot be changed in place (outside ``no_grad``), and the result
must fit x's shape and be castable to its dtype (no float into an integer tensor).

``bind(Tensor)`` attaches them; ``chainrule.ops`` calls it once.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from chainrule import autograd
from chainrule.backend import ArgumentError, DtypeError, ShapeError
from chainrule.grad_mode import is_grad_enabled, no_grad
from chainrule.ops import elementwise as E
from chainrule.ops.registry import REGISTRY
from chainrule.ops.scatter import IndexPut
from chainrule.ops.shape import _ints_first, _key, _mixes_ints_and_arrays, expand
from chainrule.random import default_generator
from chainrule.tensor import Tensor


def _tensors(obj) -> list:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _requires_grad(obj) -> bool:
    return any(t._requires_grad for t in _tensors(obj))


def _is_view(t: Tensor) -> bool:
    """Does ``t`` share memory with a tensor its own node read (a slice, reshape ...)?"""
    fn = t.grad_fn
    if fn is None:
        return t.data.base is not None
    return any(i is not None and np.may_share_memory(t.data, i.data) for i in fn.inputs)


def _fitted(t: Tensor, result, name: str):
    """``result`` checked against ``t``: its shape must be t's, its dtype castable to t's."""
    shape = np.shape(result.data if isinstance(result, Tensor) else result)
    if tuple(shape) != t.shape:
        raise ShapeError(f"{name}: the result has shape {tuple(shape)}, which does not fit the "
                         f"tensor changed in place (shape {t.shape}); the other operand must "
                         f"broadcast to it")
    dtype = result.dtype if isinstance(result, Tensor) else np.asarray(result).dtype
    if not np.can_cast(dtype, t.dtype, casting="same_kind") and dtype != np.bool_:
        raise DtypeError(f"{name}: result type {dtype} can't be cast to the desired output "
                         f"type {t.dtype} (the tensor changed in place)")
    return result


def apply_inplace(t: Tensor, name: str, compute: Callable, *args, **kwargs) -> Tensor:
    """Change ``t`` in place into ``compute(t, *args, **kwargs)`` (see the module docstring)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(t).__name__}")
    if is_grad_enabled() and (t._requires_grad or _requires_grad((args, kwargs))):
        if t._requires_grad and t.grad_fn is None:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad is being changed in "
                               f"place; wrap the change in cr.no_grad() (or change a clone)")
        if _is_view(t):
            raise RuntimeError(f"{name}: in-place change of a view (a slice, reshape or "
                               f"transpose) inside the graph is not supported: its base would "
                               f"not learn of it. Change the base tensor, or compute a new "
                               f"tensor instead")
        snapshot = Tensor(t.data.copy())
        snapshot.grad_fn, snapshot._requires_grad = t.grad_fn, t._requires_grad
        result = _fitted(t, compute(snapshot, *args, **kwargs), name)
        if not isinstance(result, Tensor):
            result = Tensor(np.asarray(result))
        if result.dtype != t.dtype:
            result = result.astype(t.dtype) if result.dtype.kind in "fc" and \
                t.dtype.kind in "fc" else Tensor(result.data.astype(t.dtype))
        if result is snapshot or any(result is a for a in _tensors((args, kwargs))):
            result = E.clone(result)        # a node of its own (copy_(x) must not take x's)
        if snapshot._requires_grad and not result._requires_grad:
            # still a node of the graph (gradient 0 to the old values), so that nodes that read
            # t before find their way back to it
            result = E.where(np.zeros(t.shape, dtype=bool), snapshot, result)
        autograd.rebase_inplace(t, result, snapshot)
        return t
    with no_grad():
        result = _fitted(t, compute(t, *args, **kwargs), name)
    values = result.data if isinstance(result, Tensor) else result
    np.copyto(t.data, values, casting="unsafe")
    t._version += 1
    return t


def _method(op_name: str) -> Callable:
    """``compute`` for an in-place variant: the op's own Tensor method."""
    def compute(t, *args, **kwargs):
        return getattr(t, op_name)(*args, **kwargs)
    return compute


def _inplace_method(base: str, compute: Callable | None = None) -> Callable:
    name = base + "_"
    compute = compute or _method(base)

    def method(self, *args, **kwargs):
        return apply_inplace(self, name, compute, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"``{base}`` in place: changes this tensor and returns it (recorded in "
                      f"the graph when gradients are involved). Example: ``x.{name}(...)``")
    return method


# Ops whose in-place variant is the op written back into the tensor.
_BY_OP = [
    "add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "log1p", "log2", "log10",
    "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "asin", "acos", "atan",
    "sinh", "cosh", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh",
    "arccosh", "arctanh", "exp2", "expm1", "erf", "erfc", "erfinv", "floor", "ceil", "round",
    "trunc", "frac", "sign", "sgn", "reciprocal", "square", "logit", "nan_to_num", "deg2rad",
    "rad2deg", "sinc", "fmod", "remainder", "atan2", "arctan2", "copysign", "hypot",
    "floor_divide", "lerp", "addcmul", "addcdiv", "clamp", "clip", "clamp_min", "clamp_max",
    "xlogy", "ldexp", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "bitwise_left_shift", "bitwise_right_shift", "logical_and", "logical_or", "logical_xor",
    "logical_not", "lt", "le", "gt", "ge", "eq", "ne", "masked_fill", "masked_scatter",
    "index_add", "index_copy", "index_fill", "index_put", "scatter", "scatter_add",
    "scatter_reduce", "put", "tril", "triu", "subtract", "multiply", "divide", "true_divide",
    "negative", "absolute", "fmax", "fmin", "float_power", "gcd", "lcm", "nextafter",
    "heaviside", "hardshrink"]


# ------------------------------------------------------------- writing values
def _copy(t, src, non_blocking: bool = False):
    """The values of ``src`` (broadcast to t's shape, cast to t's dtype: any cast, as
    PyTorch's copy_)."""
    if isinstance(src, Tensor):
        out = src if src.shape == t.shape else expand(src, t.shape)
        if out.dtype != t.dtype:
            out = out.astype(t.dtype) if out.dtype.kind in "fc" and t.dtype.kind in "fc" \
                else Tensor(out.data.astype(t.dtype))
        return out
    try:
        values = np.broadcast_to(np.asarray(src), t.shape)
    except ValueError:
        raise ShapeError(f"copy_: a source of shape {np.shape(src)} does not broadcast to the "
                         f"tensor's shape {t.shape}") from None
    return Tensor(values.astype(t.dtype))


def _copy_method(self, src, non_blocking: bool = False):
    """The values of ``src`` (a tensor or array, broadcast to this shape and cast to this
    dtype) copied into this tensor, which is returned. Example: ``w.copy_(pretrained)``"""
    return apply_inplace(self, "copy_", _copy, src)


def _fill(t, value):
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(f"fill_: only a 0-d tensor can fill, got shape {value.shape}")
        return _copy(t, value)
    return Tensor(np.full(t.shape, value, dtype=t.dtype))


def _zero(t):
    return Tensor(np.zeros(t.shape, dtype=t.dtype))


def _random(draw: Callable, name: str):
    def compute(t, *args, generator=None, **kwargs):
        if t.dtype.kind != "f" and name not in ("random_", "bernoulli_"):
            raise DtypeError(f"{name}: needs a floating tensor, got dtype {t.dtype}")
        rng = default_generator() if generator is None else generator
        return Tensor(np.asarray(draw(rng, t.shape, *args, **kwargs)).astype(t.dtype))
    return compute


def _uniform(rng, shape, a: float = 0.0, b: float = 1.0):
    return rng.uniform(a, b, shape)


def _normal(rng, shape, mean: float = 0.0, std: float = 1.0):
    if std < 0:
        raise ArgumentError(f"normal_: std must be non-negative, got {std}")
    return rng.normal(mean, std, shape)


def _bernoulli(rng, shape, p=0.5):
    p = p.data if isinstance(p, Tensor) else p
    return rng.random(shape) < p


def _exponential(rng, shape, lambd: float = 1.0):
    return rng.exponential(1.0 / lambd, shape)


def _random_ints(rng, shape, low=0, high=None):
    if high is None:
        low, high = 0, low if low else 2 ** 24
    return rng.integers(low, high, shape)


def _fill_diagonal(t, fill_value, wrap: bool = False):
    if t.ndim < 2:
        raise ShapeError(f"fill_diagonal_: expects at least 2 dims, got shape {t.shape}")
    if t.ndim > 2 and len(set(t.shape)) != 1:
        raise ShapeError(f"fill_diagonal_: all dims must be equal beyond 2-D, got {t.shape}")
    values = t.data.copy()
    np.fill_diagonal(values, fill_value, wrap=wrap)
    mask = values != t.data
    np.fill_diagonal(mask, True, wrap=wrap)
    return E.where(mask, np.asarray(fill_value, t.dtype), t)


# ------------------------------------------------------------- item assignment
def _setitem(self, key, value) -> None:
    """``t[key] = value``: written in place, recorded in the graph where gradients are
    involved (t then becomes the output of an index-put, as in PyTorch); the key follows
    PyTorch's indexing rules."""
    key = _key(key)
    if _mixes_ints_and_arrays(key):          # PyTorch applies the integers first
        first, rest = _ints_first(key, self.ndim)
        if not (is_grad_enabled() and (self._requires_grad or _requires_grad(value))):
            view = self.data[first]
            view[rest] = value.data if isinstance(value, Tensor) else value
            self._version += 1
            return
        raise RuntimeError("__setitem__: a key mixing integers and index lists, on a tensor "
                           "in the graph, is not supported; index in two steps instead")

    def put(t, v):
        if not isinstance(v, Tensor):
            v = Tensor(np.asarray(v, dtype=t.dtype))
        elif v.dtype != t.dtype:
            v = v.astype(t.dtype) if v.dtype.kind in "fc" and t.dtype.kind in "fc" \
                else Tensor(v.data.astype(t.dtype))
        try:
            return IndexPut.apply(t, v, key)
        except ValueError:
            raise ShapeError(f"__setitem__: a value of shape {tuple(v.shape)} cannot be "
                             f"assigned to the selected part of a tensor of shape "
                             f"{t.shape}") from None
    if is_grad_enabled() and (self._requires_grad or _requires_grad(value)):
        apply_inplace(self, "__setitem__", put, value)
        return
    try:
        self.data[key] = value.data if isinstance(value, Tensor) else value
    except ValueError as e:
        raise ShapeError(f"__setitem__: {e} (tensor shape {self.shape})") from None
    self._version += 1


# ------------------------------------------------------------- augmented assignment
def _augmented(base: str):
    method = _inplace_method(base)

    def augmented(self, other):
        return method(self, other)
    augmented.__name__ = f"__i{base}__"
    return augmented


def bind(tensor_class: type) -> None:
    """Attach the in-place methods, item assignment and ``+=`` & co. to ``tensor_class``."""
    declared = {name for (_, name) in REGISTRY} | {m for info in REGISTRY.values()
                                                   for m in info.methods}
    for base in _BY_OP:
        if base in declared:
            setattr(tensor_class, base + "_", _inplace_method(base))
    special = {
        "copy_": _copy_method,
        "fill_": _inplace_method("fill", _fill),
        "zero_": _inplace_method("zero", _zero),
        "uniform_": _inplace_method("uniform", _random(_uniform, "uniform_")),
        "normal_": _inplace_method("normal", _random(_normal, "normal_")),
        "bernoulli_": _inplace_method("bernoulli", _random(_bernoulli, "bernoulli_")),
        "exponential_": _inplace_method("exponential", _random(_exponential, "exponential_")),
        "random_": _inplace_method("random", _random(_random_ints, "random_")),
        "fill_diagonal_": _inplace_method("fill_diagonal", _fill_diagonal),
        "__setitem__": _setitem,
    }
    for name, fn in special.items():
        setattr(tensor_class, name, fn)
    for base, dunder in (("add", "__iadd__"), ("sub", "__isub__"), ("mul", "__imul__"),
                         ("div", "__itruediv__"), ("floor_divide", "__ifloordiv__"),
                         ("remainder", "__imod__"), ("pow", "__ipow__"),
                         ("bitwise_and", "__iand__"), ("bitwise_or", "__ior__"),
                         ("bitwise_xor", "__ixor__"), ("bitwise_left_shift", "__ilshift__"),
                         ("bitwise_right_shift", "__irshift__")):
        setattr(tensor_class, dunder, _augmented(base))


# The in-place ops PyTorch also exports as functions of its namespace (``torch.zero_(t)``)
_FUNCTION_FORMS = ("abs_", "acos_", "acosh_", "arccos_", "arccosh_", "arcsin_", "arcsinh_",
                   "arctan_", "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_",
                   "clamp_max_", "clamp_min_", "clip_", "cos_", "cosh_", "deg2rad_", "erf_",
                   "erfc_", "exp2_", "exp_", "expm1_", "fill_", "floor_", "frac_", "gcd_",
                   "lcm_", "ldexp_", "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_",
                   "neg_", "rad2deg_", "reciprocal_", "relu_", "round_", "rsqrt_",
                   "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_", "tan_", "tanh_",
                   "trunc_", "xlogy_", "zero_")


def function_forms(tensor_class: type) -> dict:
    """``cr.zero_(t)``, ``cr.abs_(t)`` ...: each of PyTorch's namespace-level in-place
    functions, calling the method of the same name that ``bind`` gave ``tensor_class``."""
    def form(name: str):
        def inplace_function(input, *args, **kwargs):
            return getattr(input, name)(*args, **kwargs)
        inplace_function.__name__ = inplace_function.__qualname__ = name
        inplace_function.__doc__ = (f"``cr.{name}(t, ...)`` is ``t.{name}(...)``: changes ``t`` "
                                    f"in place and returns it. Example: ``cr.{name}(x)``")
        return inplace_function
    return {name: form(name) for name in _FUNCTION_FORMS if hasattr(tensor_class, name)}
