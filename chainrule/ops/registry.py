"""The op registry: one declaration per op, in the spirit of PyTorch's OpInfo.

Each public operation is declared once, next to its code, with the ``op`` decorator::

    @op(numpy=("exp",), samples=lambda s: [S(s.real(2, 3)), S(s.real())])
    def exp(a):
        '''e^a elementwise. Example: ``cr.exp(x)``'''
        return Exp.apply(_floating(a))

The declaration says everything the rest of the package needs to know about the op:

* where it is public: ``cr.exp`` (namespace ``"cr"``, mirroring ``torch.*``) and/or
  ``chainrule.nn.functional.exp`` (``"F"``, mirroring ``torch.nn.functional``);
* the Tensor methods and operators bound to it (``t.exp()``, ``a + b``), and the NumPy
  ufuncs or functions that act on Tensors as this op (``np.exp(t)``);
* whether it is differentiable, which input dtypes it takes, and its PyTorch twin;
* a sample-input generator.

From these, ``chainrule.ops`` builds the exports (``cr.*``, ``F.*``, Tensor methods, the NumPy
overrides) and ``tests/test_op_registry.py`` generates the per-op tests: gradcheck and
gradgradcheck on every sample, values and gradients against PyTorch, dtype behaviour and the
exports themselves. So a new op is one declaration, and its coverage cannot drift.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


# ------------------------------------------------------------------------ sample inputs
@dataclass(frozen=True)
class Sample:
    """One call of an op: positional and keyword arguments. Floating arrays become tensors
    that require grad in the generated tests (wrap one in ``Const`` to keep it out);
    integer and bool arrays become plain tensors; everything else is passed as it is."""
    args: tuple
    kwargs: dict = field(default_factory=dict)


def S(*args, **kwargs) -> Sample:
    """``S(x, 1, keepdim=True)``: a sample calling ``op(x, 1, keepdim=True)``."""
    return Sample(args, kwargs)


@dataclass(frozen=True)
class Const:
    """A floating array argument that is a constant of the test, not a differentiated input."""
    array: np.ndarray


class SampleInputs:
    """The maker handed to a ``samples`` function: float64 arrays in the domains ops need."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def real(self, *shape) -> np.ndarray:
        """Magnitudes in [0.1, 2] with random signs: kinks at 0 (relu, abs) stay unreached."""
        mag = self.rng.uniform(0.1, 2.0, shape)
        return np.where(self.rng.random(shape) < 0.5, -mag, mag)

    def positive(self, *shape) -> np.ndarray:
        return self.rng.uniform(0.5, 2.5, shape)

    def unit(self, *shape) -> np.ndarray:
        """Values in (-0.9, 0.9): inside the domain of log1p, atanh, asin ..."""
        return self.rng.uniform(-0.9, 0.9, shape)

    def probability(self, *shape) -> np.ndarray:
        """Values in (0.05, 0.95): probabilities away from the logs' singularities."""
        return self.rng.uniform(0.05, 0.95, shape)

    def distinct(self, *shape) -> np.ndarray:
        """Real values with no two closer than 0.05 (ties would make max, sort ... kinked)."""
        n = int(np.prod(shape)) if shape else 1
        values = (self.rng.permutation(n) - n / 2) * 0.25 + self.rng.uniform(0, 0.05, n)
        return values.reshape(shape)

    def ints(self, low: int, high: int, *shape) -> np.ndarray:
        return self.rng.integers(low, high, shape, dtype=np.int64)

    def bools(self, *shape) -> np.ndarray:
        return self.rng.random(shape) < 0.5


# ---------------------------------------------------------------------------- OpInfo
@dataclass
class OpInfo:
    """Everything declared about one op (see the module docstring)."""
    name: str
    function: Callable
    namespaces: tuple[str, ...]
    methods: dict[str, Callable]
    operators: dict[str, Callable]
    numpy: dict[str, Callable]
    aliases: tuple[str, ...]
    differentiable: bool
    dtypes: str
    samples: Callable[[SampleInputs], list[Sample]] | None
    torch: Any
    second_order: bool
    tolerance: dict
    notes: str
    torch_tolerance: dict = field(default_factory=dict)

    def torch_function(self, torch_module) -> Callable | None:
        """The PyTorch twin: ``torch.<name>`` or ``torch.nn.functional.<name>`` by default."""
        if self.torch is None:
            return None
        if callable(self.torch):
            return lambda *a, **k: self.torch(torch_module, *a, **k)
        name = self.name if self.torch == "same" else self.torch
        where = torch_module.nn.functional if "F" in self.namespaces and "cr" not in self.namespaces \
            else torch_module
        for part in name.split("."):
            where = getattr(where, part, None)
            if where is None:
                return None
        return where


REGISTRY: dict[tuple[str, str], OpInfo] = {}   # (namespace, name) -> OpInfo


def op(*, name: str | None = None, namespace: str | tuple[str, ...] = "cr",
       method: bool | str | Callable = True, methods: dict | None = None,
       operators: dict | None = None, numpy: tuple[str, ...] | dict = (),
       aliases: tuple[str, ...] = (), differentiable: bool = True, dtypes: str = "float",
       samples: Callable | None = None, torch: Any = "same", second_order: bool = True,
       tolerance: dict | None = None, notes: str = "",
       torch_tolerance: dict | None = None) -> Callable:
    """Declare the decorated function as a public op (see the module docstring).

    ``method``: True binds ``Tensor.<name>`` to the function itself, a string binds it under
    that name, a callable binds that callable as ``Tensor.<name>``, False binds none.
    ``methods`` adds further method names (name -> callable or True for the function).
    ``operators`` maps dunder names to "self" (the op), "reflected" (the op with its two
    operands swapped: ``__radd__``) or another callable. ``numpy`` names the NumPy ufuncs and
    functions routed to the op, or maps such names to adapters (NumPy's signature -> the op).
    ``dtypes``: "float" (integer input is promoted to the default float dtype, as PyTorch
    does), "floating" (floating input only), "any" (integer and bool input keep their
    dtype), "int" (integer input only).
    ``torch``: "same" (the PyTorch function of the same name), another dotted name,
    a callable ``(torch, *args, **kwargs)``, or None where PyTorch has no twin.
    ``second_order=False`` excludes the op from the generated gradgradcheck; say why in
    ``notes``. ``torch_tolerance`` (rtol, atol) loosens the comparison with PyTorch where
    PyTorch itself rounds (a float32 constant in a float64 rule); say why in ``notes``.
    """
    spaces = (namespace,) if isinstance(namespace, str) else tuple(namespace)

    def declare(fn: Callable) -> Callable:
        op_name = name or fn.__name__
        fn = _numpy_keywords(fn)
        bound: dict[str, Callable] = {}
        if method is True:
            bound[op_name] = fn
        elif isinstance(method, str):
            bound[method] = fn
        elif callable(method):
            bound[op_name] = method
        for m, target in (methods or {}).items():
            bound[m] = fn if target is True else target
        dunders = {d: fn if target == "self" else _reflected(fn) if target == "reflected" else target
                   for d, target in (operators or {}).items()}
        routed = {n: fn if target == "self" else target for n, target in numpy.items()} \
            if isinstance(numpy, dict) else {n: fn for n in numpy}
        info = OpInfo(op_name, fn, spaces, bound, dunders, routed,
                      tuple(aliases), differentiable, dtypes, samples, torch, second_order,
                      dict(tolerance or {}), notes, dict(torch_tolerance or {}))
        for space in spaces:
            key = (space, op_name)
            if key in REGISTRY:
                raise ValueError(f"op {op_name!r} is declared twice in namespace {space!r}")
            REGISTRY[key] = info
        return fn
    return declare


def _numpy_keywords(fn: Callable) -> Callable:
    """``fn`` taking NumPy's ``axis=`` and ``keepdims=`` for its ``dim`` and ``keepdim``, as
    every PyTorch function does (``x.cumsum(axis=0)``); ``fn`` itself where it already takes
    them or has no ``dim``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    renames = {alias: real for alias, real in (("axis", "dim"), ("keepdims", "keepdim"))
               if real in params and alias not in params}
    if not renames:
        return fn

    @functools.wraps(fn)
    def accepting_numpy_keywords(*args, **kwargs):
        if kwargs:
            for alias, real in renames.items():
                if alias in kwargs:
                    if real in kwargs:
                        raise TypeError(f"{fn.__name__}: got both {real}= and {alias}= (the "
                                        f"same argument)")
                    kwargs[real] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    return accepting_numpy_keywords


def _reflected(fn: Callable) -> Callable:
    def reflected(a, b):
        return fn(b, a)
    reflected.__name__ = f"r{fn.__name__}"
    return reflected


def ops_in(namespace: str) -> list[OpInfo]:
    """The ops public in ``namespace`` ("cr" or "F"), in declaration order."""
    return [info for (space, _), info in REGISTRY.items() if space == namespace]


def exports(namespace: str) -> dict[str, Callable]:
    """Public name -> function for ``namespace``, aliases included."""
    out: dict[str, Callable] = {}
    for info in ops_in(namespace):
        out[info.name] = info.function
        for alias in info.aliases:
            out[alias] = info.function
    return out


def unique_ops() -> list[OpInfo]:
    """Every declared op once (an op public in both namespaces is one OpInfo)."""
    seen: dict[int, OpInfo] = {}
    for info in REGISTRY.values():
        seen.setdefault(id(info), info)
    return list(seen.values())


def bind(tensor_class: type, numpy_overrides: dict) -> None:
    """Attach every declared method and operator to ``tensor_class`` and route the declared
    NumPy ufuncs/functions to their ops (``ops.bind_tensor_api`` calls this once)."""
    for info in unique_ops():
        for method_name, fn in info.methods.items():
            setattr(tensor_class, method_name, fn)
        for dunder, fn in info.operators.items():
            setattr(tensor_class, dunder, fn)
        numpy_overrides.update(info.numpy)
