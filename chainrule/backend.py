"""Array plumbing shared by the whole package: the default floating dtype, turning user data
into arrays, typed constants, undoing broadcasting, and PyTorch-style ``.to(...)`` arguments.

chainrule computes with NumPy directly (``import numpy as np`` in every module that does
arithmetic); there is no array-module indirection. A GPU port would have to touch every such
module, not just this one.
"""
from __future__ import annotations

import numpy as np


_default_float = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The floating dtype given to tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Set the floating dtype for new tensors: ``cr.set_default_dtype(np.float64)``."""
    global _default_float
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_float = d


def as_array(data, dtype=None) -> np.ndarray:
    """Turn user data into an ndarray: Python floats become the default float dtype,
    NumPy arrays keep theirs (float64 stays float64), Python ints become int64."""
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and not isinstance(data, np.generic):
        arr = arr.astype(_default_float, copy=False)
    elif arr.dtype.kind == "i" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")
    return arr


class Constant(dict):
    """One number as a read-only 0-d array of each dtype asked for: ``HALF[x.dtype]``.

    NumPy takes a slower path for a Python number in an array expression (it works out the
    result dtype from the value each time: 0.85 us for ``x * 0.5`` against 0.45 us for
    ``x * HALF[x.dtype]`` on a small float32 array), and hot elementwise rules meet such
    numbers every step. The result dtype is the same: that of ``x``.

    Example: ``HALF = Constant(0.5)``, then ``np.tanh(a * HALF[a.dtype])``
    """

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def __missing__(self, dtype) -> np.ndarray:
        array = np.asarray(self.value, dtype=dtype)
        array.flags.writeable = False
        self[dtype] = array
        return array


HALF, ONE = Constant(0.5), Constant(1.0)     # the ones the engine's hot rules use


def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` down to ``shape``: undoes broadcasting, the gradient rule of every op that
    broadcast an input of ``shape`` up to ``g.shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum a gradient of shape {g.shape} down to shape {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return out.reshape(shape) if lead else out


def parse_to(args: tuple, kwargs: dict, what: str = "to"):
    """The dtype asked for by PyTorch-style ``.to(...)`` (None when only a device is named).

    Accepts ``to(dtype)``, ``to("cpu")``, ``to(tensor)`` and ``to(device=..., dtype=...)``;
    a device other than the CPU is an error, since arrays live in NumPy here.
    """
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"{what}: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if not isinstance(a, (type, np.dtype)) and hasattr(a, "dtype") and hasattr(a, "shape"):
            dtype = a.dtype                     # another tensor or array: take its dtype
        elif isinstance(a, Device) or (isinstance(a, str) and a.split(":")[0] in _DEVICE_TYPES):
            device = a
        else:
            dtype = a
    check_device(device, what)
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: expected a dtype, a device string or a tensor, got "
                        f"{dtype!r}") from None


class ShapeError(ValueError, RuntimeError):
    """Arguments whose shapes do not fit together. Both a ValueError (chainrule's habit) and a
    RuntimeError (PyTorch's: ``except RuntimeError`` catches it as it catches torch's)."""


class ArgumentError(ValueError, RuntimeError):
    """An argument value an operation cannot take. Both a ValueError (chainrule's habit) and
    a RuntimeError (what PyTorch raises for most op errors), so either ``except`` catches it."""


class DtypeError(TypeError, RuntimeError):
    """A tensor of a dtype the operation does not take. Both a TypeError (chainrule's habit)
    and a RuntimeError (PyTorch's ``expected scalar type ...`` errors)."""


_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "meta")


class Device:
    """A device as PyTorch names one: ``cr.device("cpu")``. chainrule computes with NumPy,
    so the CPU is the only device; naming another is an error when a tensor is put there.

    Example: ``x.to(cr.device("cpu"))``, ``x.device == cr.device("cpu")``"""

    __slots__ = ("type", "index")

    def __init__(self, type: "str | Device", index: int | None = None):
        if isinstance(type, Device):
            type, index = type.type, type.index
        name, _, number = str(type).partition(":")
        if name not in _DEVICE_TYPES:
            raise ArgumentError(f"device: expected one of {', '.join(_DEVICE_TYPES)} at the "
                                f"start of the device string, got {type!r}")
        if number:
            if index is not None:
                raise ArgumentError(f"device: the index is given twice ({type!r} and {index})")
            index = int(number)
        self.type, self.index = name, index

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None
                                               else ")")

    def __str__(self) -> str:
        return self.type + (f":{self.index}" if self.index is not None else "")

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = Device(other)
            except (ArgumentError, ValueError):
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = Device("cpu")


def check_device(device, what: str) -> None:
    """Raise unless ``device`` (None, a string, a ``Device`` or anything whose ``str`` names
    one, such as a ``torch.device``) is the CPU."""
    if device is None:
        return
    if isinstance(device, int):
        raise ArgumentError(f"{what}: device {device} is a CUDA device index; chainrule runs "
                            f"on the CPU (NumPy) only")
    if Device(str(device)).type != "cpu":
        raise ArgumentError(f"{what}: chainrule runs on the CPU (NumPy); device {str(device)!r} "
                            f"is not available (cr.cuda.is_available() is False)")
