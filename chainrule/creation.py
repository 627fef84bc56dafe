"""Making tensors, with PyTorch's signatures: ``zeros``, ``ones``, ``empty``, ``full``, their
``*_like`` forms, ``arange``, ``linspace``, ``logspace``, ``eye``, the random draws
(``rand``, ``randn``, ``randint`` and their ``*_like`` forms) and ``scalar_tensor``.

Every function takes ``dtype``, ``device`` (the CPU only: chainrule computes with NumPy) and
``requires_grad`` as PyTorch does; ``layout`` (strided only) and ``pin_memory`` are accepted
so that PyTorch code runs. Floats default to ``get_default_dtype()``, integers to int64.
Random draws come from chainrule's seeded generator (``cr.manual_seed``).

Part of the core (it imports only ``tensor`` and ``backend``).
"""
from __future__ import annotations

import math

import numpy as np

from chainrule import backend
from chainrule.backend import ArgumentError, DtypeError
from chainrule.random import default_generator
from chainrule.tensor import Tensor, _dims

__all__ = ["zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like",
           "full_like", "arange", "linspace", "logspace", "eye", "rand", "randn", "randint",
           "rand_like", "randn_like", "randint_like", "scalar_tensor"]


def _checked(name: str, device, layout, requires_grad: bool, dtype) -> None:
    backend.check_device(device, name)
    if layout is not None and "strided" not in str(layout):
        raise ArgumentError(f"{name}: only the strided (dense) layout exists here, got {layout}")
    if requires_grad and dtype is not None and np.dtype(dtype).kind not in "fc":
        raise DtypeError(f"{name}: only floating-point tensors can require gradients, not "
                         f"dtype {np.dtype(dtype)}")


def _make(name: str, array: np.ndarray, requires_grad: bool, device, layout) -> Tensor:
    _checked(name, device, layout, requires_grad, array.dtype)
    return Tensor(array, requires_grad=requires_grad)


def _float_dtype(dtype) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _size(size: tuple, name: str) -> tuple:
    shape = _dims(size)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: size must be ints or one tuple of ints, got {size!r}") from None
    if any(s < 0 for s in shape):
        raise ArgumentError(f"{name}: negative dimension in size {shape}")
    return shape


def _number(x):
    """A Python number from a number or a one-element tensor (PyTorch's Scalar arguments)."""
    if isinstance(x, Tensor):
        if x.numel() != 1:
            raise ArgumentError(f"expected a number or a one-element tensor, got shape {x.shape}")
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x


# ------------------------------------------------------------------------ filled
def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory: bool = False) -> Tensor:
    """A tensor of zeros: ``cr.zeros(2, 3)``, ``cr.zeros((2, 3), dtype=cr.int64)``."""
    return _make("zeros", np.zeros(_size(size, "zeros"), _float_dtype(dtype)), requires_grad,
                 device, layout)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
         pin_memory: bool = False) -> Tensor:
    """A tensor of ones: ``cr.ones(2, 3)``."""
    return _make("ones", np.ones(_size(size, "ones"), _float_dtype(dtype)), requires_grad,
                 device, layout)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory: bool = False, memory_format=None) -> Tensor:
    """An uninitialised tensor (its values are whatever the memory held): ``cr.empty(2, 3)``."""
    return _make("empty", np.empty(_size(size, "empty"), _float_dtype(dtype)), requires_grad,
                 device, layout)


def _fill_dtype(fill_value, dtype) -> np.dtype:
    """PyTorch's dtype for ``full``: bool for a bool, int64 for an int, else the default float."""
    if dtype is not None:
        return np.dtype(dtype)
    if isinstance(fill_value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(fill_value, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(fill_value, complex):
        raise DtypeError("full: complex tensors are not supported")
    return backend.get_default_dtype()


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype from the value, as PyTorch: bool, int64 or
    the default float): ``cr.full((2, 3), 7.0)``."""
    fill_value = _number(fill_value)
    shape = _size((size,) if isinstance(size, (int, np.integer)) else tuple(size), "full")
    return _make("full", np.full(shape, fill_value, _fill_dtype(fill_value, dtype)),
                 requires_grad, device, layout)


def _like(name: str, t, dtype):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(t).__name__}")
    return t.shape, np.dtype(dtype) if dtype is not None else t.dtype


def zeros_like(input: Tensor, *, dtype=None, layout=None, device=None,
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """Zeros with ``input``'s shape (and dtype unless given): ``cr.zeros_like(x)``."""
    shape, dt = _like("zeros_like", input, dtype)
    return _make("zeros_like", np.zeros(shape, dt), requires_grad, device, layout)


def ones_like(input: Tensor, *, dtype=None, layout=None, device=None,
              requires_grad: bool = False, memory_format=None) -> Tensor:
    """Ones with ``input``'s shape (and dtype unless given): ``cr.ones_like(x)``."""
    shape, dt = _like("ones_like", input, dtype)
    return _make("ones_like", np.ones(shape, dt), requires_grad, device, layout)


def empty_like(input: Tensor, *, dtype=None, layout=None, device=None,
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """An uninitialised tensor with ``input``'s shape and dtype: ``cr.empty_like(x)``."""
    shape, dt = _like("empty_like", input, dtype)
    return _make("empty_like", np.empty(shape, dt), requires_grad, device, layout)


def full_like(input: Tensor, fill_value, *, dtype=None, layout=None, device=None,
              requires_grad: bool = False, memory_format=None) -> Tensor:
    """``fill_value`` everywhere, with ``input``'s shape and dtype (unless given):
    ``cr.full_like(x, -1)``."""
    shape, dt = _like("full_like", input, dtype)
    return _make("full_like", np.full(shape, _number(fill_value), dt), requires_grad, device,
                 layout)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
                  pin_memory: bool = False) -> Tensor:
    """A 0-d tensor of the number ``s`` (default float dtype unless given):
    ``cr.scalar_tensor(3)``."""
    return _make("scalar_tensor", np.asarray(_number(s), _float_dtype(dtype)), requires_grad,
                 device, layout)


# ------------------------------------------------------------------------ ranges
def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """``cr.arange(5)`` is 0..4 (int64); any float argument gives the default float dtype.
    Values are start + i * step computed in double precision, then rounded to the dtype (as
    PyTorch does)."""
    start, end, step = _number(start), None if end is None else _number(end), _number(step)
    if end is None:
        start, end = 0, start
    if (end - start) * step < 0 and end != start:
        raise ArgumentError(f"arange: upper bound and larger bound inconsistent with step sign "
                            f"(start={start}, end={end}, step={step})")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    dt = np.dtype(dtype) if dtype is not None else (
        _float_dtype(None) if is_float else np.dtype(np.int64))
    if dt.kind in "iu":         # PyTorch converts the arguments to the integer dtype first
        start, end, step, is_float = int(start), int(end), int(step), False
    if dt == np.bool_:
        raise DtypeError("arange: not implemented for dtype bool")
    if step == 0:
        raise ArgumentError("arange: step must be nonzero")
    n = max(math.ceil((end - start) / step), 0)
    if dt.kind in "iu":
        values = (np.asarray(start, np.float64) + np.arange(n) * np.float64(step)) \
            if is_float else start + np.arange(n, dtype=np.int64) * step
        array = np.asarray(values).astype(dt)
    else:
        array = (np.float64(start) + np.arange(n) * np.float64(step)).astype(dt)
    return _make("arange", array, requires_grad, device, layout)


def _spaced(name: str, start, end, steps, dtype, in_double: bool = False):
    """PyTorch's linspace: start + step i for the first half, end - step (steps - 1 - i) for
    the rest, in the dtype's precision (double for integers, then rounded towards zero),
    start and end first converted to the dtype."""
    steps = int(_number(steps))
    if steps < 0:
        raise ArgumentError(f"{name}: number of steps must be non-negative, got {steps}")
    dt = _float_dtype(dtype)
    if dt == np.bool_:
        raise DtypeError(f"{name}: not implemented for dtype bool (as in PyTorch)")
    start, end = _number(start), _number(end)
    if dt.kind in "iu":
        work = np.float64
        start, end = float(int(start)), float(int(end))
    else:
        work = np.float64 if in_double else dt.type
        start, end = work(dt.type(start)), work(dt.type(end))
    if steps == 0:
        return np.empty(0, work), dt
    if steps == 1:
        return np.asarray([start], work), dt
    step = (work(end) - work(start)) / work(steps - 1)
    i = np.arange(steps)
    halfway = steps // 2
    first = work(start) + step * i[:halfway].astype(work)
    second = work(end) - step * (steps - i[halfway:] - 1).astype(work)
    return np.concatenate([first, second]).astype(work), dt


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, computed as
    PyTorch does (so integer dtypes round the same way; floats agree to the last bit except
    where PyTorch's vectorised loop, whose width depends on the CPU, rounds a middle value
    1 ulp differently): ``cr.linspace(0, 1, 5)``."""
    values, dt = _spaced("linspace", start, end, steps, dtype)
    array = np.trunc(values).astype(dt) if dt.kind in "iu" else values.astype(dt)
    return _make("linspace", array, requires_grad, device, layout)


def logspace(start, end, steps, base: float = 10.0, *, out=None, dtype=None, layout=None,
             device=None, requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``: ``cr.logspace(0, 2, 3)`` is [1, 10, 100]."""
    exponents, dt = _spaced("logspace", start, end, steps, dtype, in_double=True)
    values = np.power(np.float64(_number(base)), exponents.astype(np.float64))  # pow in double
    array = np.trunc(values).astype(dt) if dt.kind in "iu" else values.astype(dt)
    return _make("logspace", array, requires_grad, device, layout)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None,
        requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """The identity matrix (n x m): ``cr.eye(3)``."""
    n = int(n)
    m = n if m is None else int(m)
    if n < 0 or m < 0:
        raise ArgumentError(f"eye: n and m must be non-negative, got {n} and {m}")
    return _make("eye", np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device, layout)


# ------------------------------------------------------------------------ random
def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Uniform [0, 1) draws from chainrule's seeded generator: ``cr.rand(2, 3)``."""
    dt = _float_dtype(dtype)
    return _make("rand", default_generator().random(_size(size, "rand")).astype(dt),
                 requires_grad, device, layout)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Standard normal draws from chainrule's seeded generator: ``cr.randn(2, 3)``."""
    dt = _float_dtype(dtype)
    return _make("randn", default_generator().standard_normal(_size(size, "randn")).astype(dt),
                 requires_grad, device, layout)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Integers in [low, high) (int64 unless ``dtype``), like ``torch.randint``:
    ``cr.randint(10, (3,))`` draws from [0, 10), ``cr.randint(3, 10, (2, 2))`` from [3, 10)."""
    if size is None and isinstance(high, (tuple, list)):    # torch's randint(high, size) form
        low, high, size = 0, low, high
    elif high is None:
        raise TypeError("randint: give high and size: randint(high, size) or "
                        "randint(low, high, size)")
    if size is None:
        raise TypeError("randint: size is required")
    low, high = int(_number(low)), int(_number(high))
    if high <= low:
        raise ArgumentError(f"randint: high ({high}) must be greater than low ({low})")
    shape = _size((size,) if isinstance(size, (int, np.integer)) else tuple(size), "randint")
    dt = np.dtype(np.int64) if dtype is None else np.dtype(dtype)
    values = default_generator().integers(low, high, size=shape, dtype=np.int64)
    return _make("randint", values.astype(dt), requires_grad, device, layout)


def rand_like(input: Tensor, *, dtype=None, layout=None, device=None,
              requires_grad: bool = False, memory_format=None) -> Tensor:
    """Uniform [0, 1) draws with ``input``'s shape and dtype: ``cr.rand_like(x)``."""
    shape, dt = _like("rand_like", input, dtype)
    if dt.kind != "f":
        raise DtypeError(f"rand_like: needs a floating dtype, got {dt}")
    return _make("rand_like", default_generator().random(shape).astype(dt), requires_grad,
                 device, layout)


def randn_like(input: Tensor, *, dtype=None, layout=None, device=None,
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """Standard normal draws with ``input``'s shape and dtype: ``cr.randn_like(x)``."""
    shape, dt = _like("randn_like", input, dtype)
    if dt.kind != "f":
        raise DtypeError(f"randn_like: needs a floating dtype, got {dt}")
    return _make("randn_like", default_generator().standard_normal(shape).astype(dt),
                 requires_grad, device, layout)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, layout=None, device=None,
                 requires_grad: bool = False, memory_format=None) -> Tensor:
    """Integers in [low, high) with ``input``'s shape and dtype: ``cr.randint_like(x, 10)``
    draws from [0, 10), ``cr.randint_like(x, 3, 10)`` from [3, 10)."""
    if high is None:
        low, high = 0, low
    shape, dt = _like("randint_like", input, dtype)
    low, high = int(_number(low)), int(_number(high))
    if high <= low:
        raise ArgumentError(f"randint_like: high ({high}) must be greater than low ({low})")
    values = default_generator().integers(low, high, size=shape, dtype=np.int64)
    return _make("randint_like", values.astype(dt), requires_grad, device, layout)
