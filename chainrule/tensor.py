"""Tensor: an ndarray that remembers how it was made, so gradients can flow back through it.

A Tensor only holds state:

* ``data``          the ndarray of values
* ``requires_grad`` whether gradients should be computed for it
* ``grad``          the accumulated gradient (a Tensor), filled by ``backward()``
* ``grad_fn``       the Function node that produced it (None for leaves)
* ``_version``      bumped by every in-place change (shared by views of the same memory:
                    a slice, a reshape, ``detach()``), so a backward that needs the old
                    values can notice and refuse instead of returning a wrong gradient

Its operators and op methods (``+``, ``@``, ``t.sum()``, ``t[i]`` ...) and ``backward`` are not
written here: ``chainrule.ops`` attaches them in one named step, ``ops.bind_tensor_api``, from
the op registry (one declaration per op) and from ``autograd``. That keeps this module at the
bottom of the package: it imports neither ``autograd`` nor ``ops``.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from chainrule import backend
from chainrule.hooks import RemovableHandle

Shape = tuple[int, ...]


def _dims(args: tuple) -> tuple:
    """Accept both ``t.reshape(2, 3)`` and ``t.reshape((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


# How many in-place changes any tensor has seen: a backward whose forward ran when this was
# the same skips checking its saved inputs one by one (the usual case in training).
inplace_changes = [0]
_inplace_lock = threading.Lock()

# Process-wide flags the backward pass reads, so it pays for what no tensor uses only once
# one does: ``outputs_watched`` once any non-leaf asked for retain_grad or a hook,
# ``leaves_hooked`` once any leaf has a gradient hook.
outputs_watched = [False]
leaves_hooked = [False]

# NumPy functions and ufuncs that act on Tensors as chainrule operations, by name (filled by
# ops.bind_tensor_api from the op registry): ``np.exp(t)``, ``np.flip(t, 0)``.
numpy_overrides: dict[str, Callable] = {}


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([2., 4., 6.])
    """

    __slots__ = ("data", "grad", "grad_fn", "_requires_grad", "_version_box", "_retains_grad",
                 "_hooks", "_post_hooks", "_grad_spare", "__weakref__")
    # _hooks / _post_hooks (unset until a hook is registered): dicts of gradient hooks.
    # _grad_spare (unset until zero_grad keeps one): the array of a dropped large .grad, for
    # the next backward to write the new gradient into (see kernels.keep_spare). It belongs
    # to this tensor alone: copies and pickles leave it behind (__getstate__).
    # Make NumPy hand mixed expressions (ndarray + Tensor) to us instead of converting us.
    __array_priority__ = 1000

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None):
        self.data = data if (dtype is None and type(data) is np.ndarray) else backend.as_array(data, dtype)
        self.grad: Tensor | None = None
        self.grad_fn = None
        self._version_box = [0]   # one list shared by every view of the same memory
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True
        # (wrap() below sets the same fields: keep the two together)

    def __getstate__(self):
        # copy, deepcopy and pickle: every set slot but the kept gradient buffer and hooks.
        return None, {name: getattr(self, name) for name in _COPIED_SLOTS if hasattr(self, name)}

    # ----------------------------------------------------------------- state
    @property
    def _version(self) -> int:
        """How many in-place changes this memory has seen (views share the count)."""
        return self._version_box[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._version_box[0] = value
        with _inplace_lock:             # += on a shared counter is not atomic across threads
            inplace_changes[0] += 1

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, "
                f"this one has dtype {self.data.dtype}")
        if not flag and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad: cannot turn off gradients of a non-leaf tensor; use .detach()")
        self._requires_grad = bool(flag)
        if not flag:
            self._grad_spare = None     # frozen: no gradient will be written into it

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        if self.grad_fn is not None:
            self._retains_grad = True
            outputs_watched[0] = True

    def register_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(grad)`` each time the gradient with respect to this tensor has been
        computed in a backward pass (summed over all its uses), before it is accumulated into
        ``.grad`` or passed on; a Tensor returned by the hook replaces the gradient.

        Example:
            >>> h = x.register_hook(lambda g: g * 2)   # double x's gradient
            >>> h.remove()
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that "
                               "doesn't require gradient")
        hooks = getattr(self, "_hooks", None)
        if hooks is None:
            hooks = self._hooks = {}
        if self.grad_fn is None:
            leaves_hooked[0] = True
        else:
            outputs_watched[0] = True
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(tensor)`` on this leaf once its ``.grad`` holds the final gradient of a
        backward pass (what data-parallel training waits for before averaging it)."""
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors have "
                               "an accumulated gradient")
        if not self._requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: the tensor does not "
                               "require grad")
        hooks = getattr(self, "_post_hooks", None)
        if hooks is None:
            hooks = self._post_hooks = {}
        leaves_hooked[0] = True
        return RemovableHandle(hooks, hook)

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data (and its in-place version count), cut from
        the graph."""
        out = Tensor(self.data)
        out._version_box = self._version_box
        return out

    def detach_(self) -> "Tensor":
        """Cut this tensor from its graph in place (it becomes a leaf)."""
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ------------------------------------------------------------ properties
    @property
    def shape(self) -> Shape:
        return self.data.shape

    def size(self, dim: int | None = None):
        """PyTorch's ``size()``: the shape, or one dimension of it."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> backend.Device:
        """Always the CPU (``cr.device("cpu")``, equal to the string "cpu")."""
        return backend.CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def T(self) -> "Tensor":
        return self.permute(tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> "Tensor":
        return self.transpose(-2, -1)

    # ----------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied; unlike PyTorch, allowed on tensors
        that require grad, since the array is a value, not part of the graph)."""
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors convert to a Python number, "
                             f"this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``np.exp(t)``, ``ndarray * t`` and friends become chainrule operations, so they
        stay differentiable (the engine's backward rules rely on this for create_graph)."""
        op = numpy_overrides.get(ufunc.__name__)
        if method != "__call__" or op is None or kwargs:
            raise TypeError(
                f"numpy.{ufunc.__name__} ({method}) is not a chainrule operation; "
                f"call .numpy() first to work on the raw array")
        return op(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        """``np.flip(t, 0)``, ``np.sum(t, axis=1)`` ...: NumPy functions that are chainrule
        operations run as such (differentiable); any other sees the plain arrays."""
        op = numpy_overrides.get(func.__name__)
        if op is not None and getattr(np, func.__name__, None) is func:
            return op(*args, **kwargs)
        return func(*_plain_arrays(args), **_plain_arrays(kwargs))

    def __dlpack__(self, *args, **kwargs):
        """DLPack export of the values (shared memory): ``torch.from_dlpack(t)``."""
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def to(self, *args, **kwargs) -> "Tensor":
        """PyTorch's ``to``: ``t.to(np.float64)``, ``t.to("cpu")``, ``t.to(other)``,
        ``t.to(device="cpu", dtype=...)``. Returns self when nothing changes."""
        dtype = backend.parse_to(args, kwargs, "Tensor.to")
        return self if dtype is None else self.astype(dtype)

    def cpu(self) -> "Tensor":
        """Arrays already live in host memory: returns self."""
        return self

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.astype(other.dtype)

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def _new(self, name: str, make, size, dtype, device, requires_grad) -> "Tensor":
        backend.check_device(device, name)
        out = Tensor(make(tuple(int(s) for s in _dims(size)), np.dtype(dtype or self.dtype)))
        return out.requires_grad_(True) if requires_grad else out

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False,
                  layout=None, pin_memory: bool = False) -> "Tensor":
        """Zeros of ``size`` with this tensor's dtype (unless given)."""
        return self._new("new_zeros", np.zeros, size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False,
                 layout=None, pin_memory: bool = False) -> "Tensor":
        """Ones of ``size`` with this tensor's dtype (unless given)."""
        return self._new("new_ones", np.ones, size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False,
                  layout=None, pin_memory: bool = False) -> "Tensor":
        """An uninitialised tensor of ``size`` with this tensor's dtype (unless given)."""
        return self._new("new_empty", np.empty, size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None,
                 requires_grad: bool = False, layout=None, pin_memory: bool = False) -> "Tensor":
        """``fill_value`` everywhere, of ``size``, with this tensor's dtype (unless given)."""
        value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
        return self._new("new_full", lambda shape, dt: np.full(shape, value, dt), (size,),
                         dtype, device, requires_grad)

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False,
                   layout=None, pin_memory: bool = False) -> "Tensor":
        """A copy of ``data`` as a tensor of this tensor's dtype (unless given)."""
        backend.check_device(device, "new_tensor")
        values = data.data if isinstance(data, Tensor) else data
        out = Tensor(np.array(values, dtype=np.dtype(dtype or self.dtype), copy=True))
        return out.requires_grad_(True) if requires_grad else out

    def type(self, dtype=None, non_blocking: bool = False, **kwargs):
        """PyTorch's ``type``: without an argument the type name (``'torch.FloatTensor'``,
        PyTorch's spelling, so code comparing it runs); with a dtype or such a name, the
        tensor converted (self when it already is). Example: ``x.type(cr.float64)``"""
        if dtype is None:
            return "torch." + _TYPE_NAMES.get(self.data.dtype, str(self.data.dtype))
        if isinstance(dtype, str):
            name = dtype.rsplit(".", 1)[-1]
            by_name = {v: k for k, v in _TYPE_NAMES.items()}
            if name not in by_name:
                raise ValueError(f"type: unknown tensor type {dtype!r}; expected one of "
                                 f"{sorted(by_name)}")
            dtype = by_name[name]
        dtype = np.dtype(dtype)
        return self if dtype == self.data.dtype else self.astype(dtype)

    def cuda(self, device=None, non_blocking: bool = False, **kwargs) -> "Tensor":
        """There is no CUDA here (``cr.cuda.is_available()`` is False): always an error."""
        raise backend.ArgumentError("cuda: chainrule runs on the CPU (NumPy); no CUDA device "
                                    "is available. Keep tensors on the CPU (drop .cuda() or "
                                    "use .to(device) with device = 'cpu').")

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    def half(self) -> "Tensor":
        return self.astype(np.float16)

    def long(self) -> "Tensor":
        return self.astype(np.int64)

    def int(self) -> "Tensor":
        return self.astype(np.int32)

    def bool(self) -> "Tensor":
        return self.astype(np.bool_)

    def contiguous(self) -> "Tensor":
        return self

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"bool: a tensor with {self.data.size} elements is ambiguous; "
                               "use .any() or .all()")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.data)

    # Hashed by identity (== is elementwise, as in PyTorch), so tensors key dicts such as an
    # optimiser's state; object's own hash runs in C.
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", precision=4, prefix="tensor(")
        extras = []
        if self.data.dtype not in (backend.get_default_dtype(), np.dtype(np.int64), np.dtype(np.bool_)):
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}Backward>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def _repr_html_(self) -> str:
        """Jupyter's display: shape, dtype, where the tensor came from, its values and its
        gradient (large arrays summarised, as NumPy prints them). Runs only when a notebook
        shows the tensor."""
        from chainrule._html import block, escape  # display-only helper, loaded on first use
        kind = type(self).__name__
        origin = (f"grad_fn={type(self.grad_fn).__name__}Backward" if self.grad_fn is not None
                  else "requires_grad=True" if self._requires_grad else "no grad")
        head = (f"<b>{escape(kind)}</b> shape {escape(str(tuple(self.data.shape)))}, "
                f"dtype {self.data.dtype}, {escape(origin)}")

        def text(a: np.ndarray) -> str:
            return np.array2string(a, separator=", ", precision=4, threshold=200, edgeitems=3)
        parts = [f"<div>{head}</div>", block("values", text(self.data))]
        if self.grad is not None:
            parts.append(block("grad", text(self.grad.data)))
        return '<div class="chainrule-tensor">' + "".join(parts) + "</div>"


def _plain_arrays(obj):
    """``obj`` with every Tensor inside (lists, tuples, dict values) replaced by its array."""
    if isinstance(obj, Tensor):
        return obj.data
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain_arrays(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _plain_arrays(v) for k, v in obj.items()}
    return obj


_TYPE_NAMES = {np.dtype(np.float32): "FloatTensor", np.dtype(np.float64): "DoubleTensor",
               np.dtype(np.float16): "HalfTensor", np.dtype(np.int64): "LongTensor",
               np.dtype(np.int32): "IntTensor", np.dtype(np.int16): "ShortTensor",
               np.dtype(np.int8): "CharTensor", np.dtype(np.uint8): "ByteTensor",
               np.dtype(np.bool_): "BoolTensor"}


# ------------------------------------------------------------------ creation
_COPIED_SLOTS = tuple(n for n in Tensor.__slots__
                      if n not in ("_grad_spare", "_hooks", "_post_hooks", "__weakref__"))


def mark_changed(tensors) -> None:
    """Record an in-place change of each of ``tensors`` (``t._version += 1`` for many at
    once, as an optimiser step needs); other objects in the list are skipped."""
    for t in tensors:
        if isinstance(t, Tensor):
            t._version_box[0] += 1
        elif hasattr(t, "_version"):
            t._version += 1
    with _inplace_lock:
        inplace_changes[0] += 1


def wrap(array: np.ndarray) -> Tensor:
    """``Tensor(array)`` without the argument checks, for an ndarray the engine just made:
    every operation's result is built here. Sets the same fields as ``Tensor.__init__``."""
    t = _new_tensor(Tensor)
    t.data = array
    t.grad = t.grad_fn = None
    t._version_box = [0]
    t._retains_grad = t._requires_grad = False
    return t


_new_tensor = object.__new__


def tensor(data: Any, dtype=None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from a list, number, ndarray or Tensor (always copies the values).

    Example: ``cr.tensor([[1., 2.], [3., 4.]], requires_grad=True)``
    """
    if isinstance(data, Tensor):
        data = data.data
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [d.data if isinstance(d, Tensor) else d for d in data]
    arr = backend.as_array(data, dtype)
    return Tensor(np.array(arr, copy=True), requires_grad=requires_grad)


def is_tensor(obj) -> bool:
    """True for chainrule tensors (and Parameters)."""
    return isinstance(obj, Tensor)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype (no copy), like ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def as_tensor(data: Any, dtype=None) -> Tensor:
    """Like ``tensor`` but without copying when ``data`` already is an array of that dtype."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == np.dtype(dtype) else data.astype(dtype)
    return Tensor(backend.as_array(data, dtype))


def from_dlpack(obj) -> Tensor:
    """A tensor sharing the memory of any DLPack-capable CPU array (a PyTorch tensor, a
    NumPy array, ...), like ``torch.from_dlpack``. Example: ``cr.from_dlpack(torch_tensor)``"""
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected a DLPack-capable array (a PyTorch tensor, a "
                        f"NumPy array ...), got a {type(obj).__name__}, which has no __dlpack__")
    try:
        array = np.from_dlpack(obj)
    except (TypeError, BufferError, RuntimeError) as e:
        raise TypeError(f"from_dlpack: cannot share the memory of a {type(obj).__name__} ({e}); "
                        f"only CPU arrays of NumPy's dtypes can be shared") from None
    return Tensor(array)
