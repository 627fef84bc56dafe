"""Reverse-mode automatic differentiation: the Function node and the backward pass.

How it works, in one paragraph. Calling ``SomeFunction.apply(x, y)`` runs its ``forward`` on
the raw arrays. If any input requires grad (and grad mode is on), the call also records a
node: the Function instance itself, which keeps its inputs and whatever ``forward`` saved.
The output tensor points at that node through ``grad_fn``. ``backward()`` visits the nodes
a gradient reaches, newest first (a heap on creation numbers), so every node comes after all
nodes that use its output; it hands each node the summed gradient of its output and collects
the gradients it returns for its inputs (no recursion, so no depth limit). Where an
input was broadcast in the forward pass, its gradient is summed back to its shape here, once,
so no rule has to. Gradients for leaves accumulate into ``.grad``.

With ``create_graph=True`` the backward rules receive Tensors instead of arrays, so the
arithmetic they do is itself recorded and can be differentiated again.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
import traceback
import weakref
from heapq import heappop, heappush
from typing import Any, Sequence

import numpy as np

from chainrule import backend
from chainrule.backend import ONE
from chainrule.tensor import Tensor, inplace_changes, wrap

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "detect_anomaly", "zero_grad_"]


class _State(threading.local):
    grad_enabled = True
    anomaly = False


_state = _State()


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward."""
    return _state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Shared machinery of the grad-mode switches: a ``with`` block or a decorator."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        # A stack, not one slot: a decorated function that calls itself re-enters the
        # same instance, and each exit must restore what its own enter found.
        self._prev: list[bool] = []

    def __enter__(self):
        self._prev.append(_state.grad_enabled)
        _state.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev.pop()
        return False


class set_grad_enabled(_GradMode):
    """Turn recording on or off: for a ``with`` block, a decorated function, or (as in
    PyTorch) at once when simply called: ``cr.set_grad_enabled(False)``."""

    def __init__(self, mode: bool):
        super().__init__(mode)
        self._before_call = _state.grad_enabled
        _state.grad_enabled = self.mode

    def __enter__(self):
        if self._before_call is not None:      # the block right after construction
            self._prev.append(self._before_call)
            self._before_call = None
            _state.grad_enabled = self.mode
            return self
        return super().__enter__()

    def __call__(self, func):
        if self._before_call is not None:      # used as a decorator: undo the immediate switch
            _state.grad_enabled = self._before_call
            self._before_call = None
        return super().__call__(func)


class _FixedMode(_GradMode):
    """``no_grad``/``enable_grad``: usable as ``with cr.no_grad():``, ``@cr.no_grad()``
    and, as in PyTorch, the bare decorator ``@cr.no_grad``."""

    _mode = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:
            if not callable(func):
                raise TypeError(f"{cls.__name__}() takes no arguments (got {func!r})")
            self.__init__()
            return self(func)
        return self

    def __init__(self, func=None):
        super().__init__(self._mode)


class no_grad(_FixedMode):
    """Stop recording: ``with cr.no_grad(): y = model(x)``; also a decorator."""

    _mode = False


class enable_grad(_FixedMode):
    """Record again inside a ``no_grad`` region."""

    _mode = True


class detect_anomaly(contextlib.ContextDecorator):
    """Inside this block, a backward rule that produces NaN or Inf raises an error naming the
    forward operation and the line of user code that created it."""

    def __enter__(self):
        self.prev = _state.anomaly
        _state.anomaly = True
        return self

    def __exit__(self, *exc):
        _state.anomaly = self.prev
        return False


# ---------------------------------------------------------------------------- Function
class Function:
    """Base of every differentiable operation; subclass it to add your own.

    ``forward(ctx, *args)`` computes on raw ndarrays (Tensor arguments arrive as their
    arrays) and returns one ndarray. ``backward(ctx, grad)`` receives the gradient of the
    loss with respect to that output and returns one gradient per positional argument
    (``None`` where there is none). Save what backward needs with ``ctx.save_for_backward``.

    Example:
        >>> class Cube(cr.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x ** 3
        ...     @staticmethod
        ...     def backward(ctx, grad):      # d(x^3)/dx = 3x^2
        ...         x, = ctx.saved_tensors
        ...         return grad * 3 * x * x
        >>> y = Cube.apply(cr.tensor([2.0], requires_grad=True))

    Write backward with arithmetic operators and NumPy ufuncs (``np.exp`` ...) only, and it
    also works under ``create_graph=True``; set ``differentiable_backward = False`` on a
    Function whose rule cannot.
    """

    differentiable_backward = True

    # Set by apply() on recorded nodes.
    inputs: list | tuple = ()   # one entry per argument: the Tensor gradients flow to, or None
    _saved: tuple | None = ()
    _saved_versions: list | tuple = ()  # (version box, version, id of array) of each tensor
    # argument and of the output, checked when backward reads the saved arrays
    _inplace_changes_seen = -1   # tensor.inplace_changes when forward ran
    _output = None          # weak reference to the output tensor
    seq = -1                # creation order: every input of a node was made before it
    _created_at = None      # stack summary, kept only under detect_anomaly
    _as_tensors = False     # True while backward runs under create_graph

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise TypeError(f"{type(ctx).__name__} defines no forward(ctx, *arrays); a Function "
                        f"subclass must define it (see the Function docstring)")

    @staticmethod
    def backward(ctx, grad):
        raise TypeError(f"{type(ctx).__name__} defines no backward(ctx, grad), so no gradient "
                        f"can flow through it; define it in the Function subclass")

    # ------------------------------------------------------------------ saving
    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for backward; an input's own array is tracked for in-place changes."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        saved = self._saved
        if (saved is not None and self._inplace_changes_seen == inplace_changes[0]
                and not self._as_tensors):
            return saved                        # the usual case: nothing to check or map
        if saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time: the buffers of "
                f"{type(self).__name__} were freed by the first backward. "
                f"Pass retain_graph=True to the first backward() to keep them.")
        if self._inplace_changes_seen == inplace_changes[0]:
            versions = ()                       # nothing changed in place since forward
        else:
            versions = self._saved_versions
        for box, version, array_id in versions:
            if box[0] != version and any(id(a) == array_id for a in saved):
                raise RuntimeError(
                    f"one of the tensors needed by {type(self).__name__}'s backward was "
                    f"modified in place after it was used (version {version} -> "
                    f"{box[0]}); its gradient would be wrong. Compute into a new tensor "
                    f"instead of changing it in place.")
        if self._as_tensors:
            return tuple(self._tensor_for(a) for a in saved)
        return saved

    def _tensor_for(self, array):
        """Under create_graph, map a saved array back to the graph tensor it came from."""
        if not isinstance(array, np.ndarray):
            return array
        for t in self.inputs:
            if t is not None and t.data is array:
                return t
        out = self._output() if self._output is not None else None
        if out is not None and out.data is array:
            return out
        return Tensor(array)

    # ------------------------------------------------------------------- apply
    @classmethod
    def apply(cls, *args, **kwargs) -> Tensor:
        """Run the operation on tensors (or plain numbers/arrays) and record it for backward."""
        ctx = _new_node(cls)
        arrays = []
        inputs = []         # the tensors gradients flow to, None for everything else
        versions = []       # (version box, version, id of the array) of each tensor argument
        recording = _state.grad_enabled     # under no_grad nothing below is kept: skip it
        record = False
        for a in args:
            if isinstance(a, Tensor):
                data = a.data
                arrays.append(data)
                if recording:
                    box = a._version_box
                    versions.append((box, box[0], id(data)))
                if a._requires_grad:
                    record = True
                    inputs.append(a)
                    continue
                inputs.append(None)
            elif isinstance(a, np.generic):
                # A NumPy scalar (np.sqrt(2.0)) counts as a Python number, as in PyTorch:
                # it must not promote float32 work to float64.
                arrays.append(a.item())
                inputs.append(None)
            else:
                arrays.append(a)
                inputs.append(None)
        if record and recording:
            ctx.inputs = inputs          # before forward: it may ask needs_input_grad
        else:
            record = False
        out = cls.forward(ctx, *arrays, **kwargs) if kwargs else cls.forward(ctx, *arrays)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        result = wrap(out)
        if out.base is not None:
            # A view of an input (slice, reshape, transpose...): one memory, one version
            # count, so an in-place change through either is seen by backwards of both.
            for a in args:
                if isinstance(a, Tensor) and np.may_share_memory(out, a.data):
                    result._version_box = a._version_box
                    break
        if record and out.dtype.kind in "fc":
            ctx.seq = next(_creation_counter)
            if ctx._saved:
                # Checked by saved_tensors: an in-place change to any of these after this
                # point would make backward read values that forward did not see. (An id,
                # not the array, so an input's memory isn't kept alive; ids of saved arrays
                # can't collide with it: they were alive together.)
                box = result._version_box    # an input's, if the output is a view of it
                versions.append((box, box[0], id(out)))
                ctx._saved_versions = versions
                ctx._inplace_changes_seen = inplace_changes[0]
            result._requires_grad = True
            result.grad_fn = ctx
            ctx._output = weakref.ref(result)
            if _state.anomaly:
                ctx._created_at = traceback.extract_stack()[:-2]
        return result

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per positional argument: does a gradient flow back to it?"""
        return tuple([t is not None for t in self.inputs])

    def name(self) -> str:
        return type(self).__name__


_creation_counter = itertools.count()
_new_node = object.__new__      # Function defines no __init__ or __new__: skip the lookup
_retain_requested = [False]  # set once any tensor asks for retain_grad: then outputs are watched
# (a process-wide flag: checking outputs costs one weak-reference call per node afterwards)


# ------------------------------------------------------------------- the backward pass
# Scheduling. A node's inputs always exist before it does, so its creation number is larger
# than that of every node that produced its inputs. Taking nodes newest first from a heap,
# and pushing a node the first time a gradient reaches it, therefore processes each node
# after every node that uses its output (each of those is newer), and only nodes a gradient
# actually reaches. One pass, no recursion (a 100,000-op chain is fine), and for a chain the
# heap never holds more than one node.

def _sum_to(g, shape: tuple):
    """Undo broadcasting: sum ``g`` down to ``shape`` (the gradient rule of broadcast)."""
    if isinstance(g, Tensor):
        return g.sum_to_size(shape)       # recorded, for create_graph
    return backend.sum_to(g, shape)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_frame(stack):
    """The innermost frame outside chainrule: the line of user code that made the op
    (``x.sqrt()`` passes through tensor.py and ops/, which would name nothing useful)."""
    for frame in reversed(stack):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return frame
    return stack[-1]


def _check_finite(node: Function, grads) -> None:
    for g in grads:
        if g is None:
            continue
        arr = g.data if isinstance(g, Tensor) else g
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            where = ""
            if node._created_at:
                frame = _user_frame(node._created_at)
                where = f", created at {frame.filename}:{frame.lineno} ({frame.line})"
            bad = "NaN" if np.isnan(arr).any() else "Inf"
            raise FloatingPointError(
                f"detect_anomaly: the backward of {node.name()}{where} produced {bad} values")


def _run_backward(roots: Sequence[Tensor], root_grads: Sequence, retain_graph: bool,
                  create_graph: bool, capture: dict[int, Tensor] | None = None) -> dict:
    """The engine shared by ``Tensor.backward`` and ``cr.grad``.

    Without ``capture``, leaf gradients accumulate into ``.grad``. With it (a dict from
    id(tensor) to tensor), gradients of exactly those tensors are returned instead and no
    ``.grad`` is touched.
    """
    grads: dict[int, Any] = {}      # id(node) -> gradient of its output, summed so far
    heap: list = []                 # (-creation number, node): newest first
    for r, g in zip(roots, root_grads):
        fn = r.grad_fn
        if fn is None:
            continue
        key = id(fn)
        if key in grads:
            grads[key] = grads[key] + g
        else:
            grads[key] = g
            heappush(heap, (-fn.seq, fn))
    captured: dict[int, Any] = {}
    # Arrays already stored in a .grad (or owned by the caller, like the gradient passed to
    # backward): a leaf that would receive one of them gets a copy, so no two .grad arrays
    # (and no .grad and the caller's tensor) ever alias.
    handed: set[int] = {id(_array_of(g)) for g in root_grads}
    # Leaves reachable directly as roots (x.backward() on a leaf) get their gradient as is.
    for r, g in zip(roots, root_grads):
        if r.grad_fn is None and r._requires_grad:
            _deliver(r, g, capture, captured, create_graph, handed)
    anomaly = _state.anomaly
    watch_outputs = capture is not None or _retain_requested[0]
    plain = capture is None and not create_graph     # gradients go to .grad, as arrays
    # Rules run with recording on only for create_graph (a with-block without the object).
    grad_mode_before, _state.grad_enabled = _state.grad_enabled, create_graph
    try:
        while heap:
            node = heappop(heap)[1]
            g = grads.pop(id(node))
            if watch_outputs:
                out = node._output()
                if out is not None and (out._retains_grad or (capture and id(out) in capture)):
                    _deliver(out, g, capture, captured, create_graph, handed)
            if create_graph:
                in_grads = _differentiable_backward(node, g)
            else:
                in_grads = node.backward(node, g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if anomaly:
                _check_finite(node, in_grads)
            for t, gi in zip(node.inputs, in_grads):
                if t is None or gi is None:
                    continue
                if create_graph and not isinstance(gi, Tensor):
                    gi = Tensor(np.asarray(gi))
                data = t.data
                if gi.shape != data.shape:
                    gi = _sum_to(gi, data.shape)
                if gi.dtype is not data.dtype and gi.dtype != data.dtype:
                    gi = gi.astype(data.dtype)
                fn = t.grad_fn
                if fn is None:
                    if plain and t.grad is None:
                        _store_first(t, gi, handed)         # the usual case, _deliver's first
                    else:
                        _deliver(t, gi, capture, captured, create_graph, handed)
                    continue
                key = id(fn)
                prev = grads.get(key)
                if prev is None:
                    grads[key] = gi
                    heappush(heap, (-fn.seq, fn))
                else:
                    grads[key] = prev + gi
            if not retain_graph:
                node._saved = None
                node._saved_versions = ()
    finally:
        _state.grad_enabled = grad_mode_before
    return captured


def _differentiable_backward(node: Function, g):
    """Run a node's backward on Tensors, so what it computes is recorded (create_graph)."""
    if not node.differentiable_backward:
        raise RuntimeError(f"create_graph: the backward of {node.name()} is not "
                           "differentiable, so second derivatives through it are "
                           "not available")
    node._as_tensors = True
    try:
        return node.backward(node, g if isinstance(g, Tensor) else Tensor(g))
    finally:
        node._as_tensors = False


def _deliver(t: Tensor, g, capture, captured: dict, create_graph: bool, handed: set) -> None:
    """Hand a finished gradient to its tensor: into ``captured`` for ``cr.grad``, else
    accumulated into ``t.grad`` (in place when the stored array is ours alone)."""
    if capture is None and not create_graph and t.grad is None:
        _store_first(t, g.data if isinstance(g, Tensor) else g, handed)   # the usual case
        return
    if capture is not None:
        if id(t) in capture:
            prev = captured.get(id(t))
            captured[id(t)] = g if prev is None else prev + g
        return
    if create_graph:
        gt = g if isinstance(g, Tensor) else Tensor(g)
        if t.grad is None:
            if id(gt.data) in handed:
                gt = gt.clone()                 # a recorded copy keeps the graph
            handed.add(id(gt.data))
            t.grad = gt
        else:
            t.grad = t.grad + gt
        return
    if isinstance(g, Tensor):
        g = g.data
    if t.grad.grad_fn is not None:
        t.grad = Tensor(t.grad.data + g)
    elif id(t.grad.data) in handed:
        # Stored during this pass: the same array may still be pending for another node
        # (``a + b`` hands one array to both), so adding in place would corrupt that one.
        # (np.asarray: NumPy returns a scalar, not an array, for the sum of two 0-d arrays.)
        t.grad.data = np.asarray(t.grad.data + g)
    else:
        t.grad.data += g


# ------------------------------------------------------------ reusing gradient memory
# glibc's malloc keeps freed blocks below its largest mmap threshold (32 MiB, which
# backend._tune_malloc sets) for reuse, but maps every larger array fresh from the kernel,
# which zeroes it page by page: for a 4096x4096 float32 weight that cost 10-13% of a
# training step. So zero_grad keeps a dropped gradient this large, and the next backward
# writes the new gradient into it (see grad_buffer).
_SPARE_MIN_BYTES = 32 << 20


def zero_grad_(t, set_to_none: bool = True) -> None:
    """Clear ``t.grad``: drop it (``set_to_none``) or fill it with zeros. The one rule behind
    ``Module.zero_grad`` and ``Optimizer.zero_grad``.

    A dropped gradient of at least 32 MiB that nothing else refers to is kept aside as
    ``t._grad_spare``; nobody can observe it, so ``t.grad`` is None as in PyTorch.
    """
    grad = t.grad
    if grad is None:
        return
    if set_to_none:
        t.grad = None
        arr = grad.data if type(grad) is Tensor else getattr(grad, "data", None)
        if (type(arr) is np.ndarray and arr.nbytes >= _SPARE_MIN_BYTES
                and getattr(grad, "grad_fn", None) is None and arr.base is None
                and _reference_counts(grad, arr) == _UNSHARED_GRAD):
            try:
                t._grad_spare = arr
            except AttributeError:
                pass                     # a parameter-like object that is not a Tensor
    elif getattr(grad, "grad_fn", None) is not None:
        # A gradient recorded under create_graph: replace it by a detached zero.
        t.grad = Tensor(np.zeros_like(grad.data))
    else:
        grad.data[...] = 0
        if isinstance(grad, Tensor):
            grad._version += 1


def grad_buffer(t, shape: tuple, dtype) -> np.ndarray | None:
    """The spare array a backward rule may compute the gradient of leaf ``t`` into (with
    ``out=``), or None. Taken at most once: a second use of ``t`` gets a fresh array."""
    if t.data.nbytes < _SPARE_MIN_BYTES:
        return None                     # too small to have been kept (the usual case)
    spare = getattr(t, "_grad_spare", None)
    if spare is None:
        return None
    if _reference_counts(spare) != _UNSHARED_SPARE:
        spare = None                     # somehow held elsewhere too: never write into it
    t._grad_spare = None
    if spare is None or t.grad is not None or spare.shape != shape or spare.dtype != dtype:
        return None
    return spare


def _reference_counts(*objects) -> tuple:
    return tuple(sys.getrefcount(o) for o in objects)


def _calibrate() -> tuple[tuple, tuple]:
    """What _reference_counts reports, in the two places above, for objects nobody else
    holds: measured rather than assumed, since interpreters count borrowed references
    differently (CPython 3.14 borrows more of them)."""
    grad = Tensor(np.empty(1))           # as in zero_grad_: held by a local ...
    arr = grad.data                      # ... and its array by grad.data and a local
    unshared_grad = _reference_counts(grad, arr)
    holder = Tensor(np.empty(1))
    holder._grad_spare = np.empty(1)
    spare = getattr(holder, "_grad_spare", None)   # as in grad_buffer: the slot and a local
    return unshared_grad, _reference_counts(spare)


_UNSHARED_GRAD, _UNSHARED_SPARE = _calibrate()


def _store_first(t: Tensor, g, handed: set) -> None:
    """The first gradient of a leaf in this pass, stored as is when it is an array nobody
    else holds (so later in-place updates, +=, clipping, are safe), else as a copy."""
    if type(g) is not np.ndarray:
        g = np.array(g)
    else:
        flags = g.flags
        if id(g) in handed or g.base is not None or not (flags.writeable and flags.c_contiguous):
            g = np.array(g, copy=True)
    handed.add(id(g))
    t.grad = wrap(g)


def _array_of(g) -> np.ndarray:
    return g.data if isinstance(g, Tensor) else g


def _as_grad(t: Tensor, gradient, name: str, create_graph: bool = False):
    """The starting gradient for ``t``: an array, or under ``create_graph`` a Tensor (the
    caller's own, if given, so a differentiable ``grad_outputs`` stays in the graph)."""
    if gradient is None:
        if t.data.size != 1:
            raise RuntimeError(
                f"{name}: grad can be implicitly created only for scalar outputs, but this "
                f"tensor has shape {t.shape}; pass gradient= (a tensor of that shape)")
        g = ONE[t.data.dtype].copy() if t.data.ndim == 0 else np.ones_like(t.data)
        return Tensor(g) if create_graph else g
    if isinstance(gradient, Tensor):
        g = gradient
    else:
        g = Tensor(np.asarray(gradient, dtype=t.dtype))
    if g.shape != t.shape:
        raise RuntimeError(f"{name}: gradient has shape {g.shape} but the tensor has shape {t.shape}")
    return g if create_graph else g.data


def backward(tensor: Tensor, gradient=None, retain_graph: bool = False,
             create_graph: bool = False, inputs=None) -> None:
    """``tensor.backward()``: accumulate d tensor / d leaf into every leaf's ``.grad``."""
    if not tensor._requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no grad_fn "
                           "(did you create it under no_grad, or forget requires_grad=True?)")
    g = _as_grad(tensor, gradient, "backward", create_graph)
    if inputs is not None:
        ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        got = _run_backward([tensor], [g], retain_graph or create_graph, create_graph,
                            capture={id(t): t for t in ins})
        handed = {id(_array_of(g))}  # one set for all inputs, so none shares an array
        for t in ins:
            if id(t) in got:
                _deliver(t, got[id(t)], None, {}, create_graph, handed)
        return
    _run_backward([tensor], [g], retain_graph or create_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned rather than accumulated.

    Example:
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> (dy,) = cr.grad(x ** 3, x, create_graph=True)   # 3x^2 = 27
        >>> (d2y,) = cr.grad(dy, x)                          # 6x = 18
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for o in outs:
        if not o._requires_grad:
            raise RuntimeError("grad: an output does not require grad")
    if len(grad_outputs) != len(outs):
        raise ValueError(f"grad: {len(outs)} outputs but {len(grad_outputs)} grad_outputs")
    gs = [_as_grad(o, go, "grad", create_graph) for o, go in zip(outs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    got = _run_backward(outs, gs, retain_graph, create_graph, capture={id(t): t for t in ins})
    result = []
    for i, t in enumerate(ins):
        g = got.get(id(t))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute "
                                   "the outputs; pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor(g))
    return tuple(result)
