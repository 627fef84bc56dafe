"""Reverse-mode automatic differentiation: the Function node and the backward pass.

How it works, in one paragraph. Calling ``SomeFunction.apply(x, y)`` runs its ``forward`` on
the raw arrays. If any input requires grad (and grad mode is on), the call also records a
node: the Function instance itself, which keeps its inputs and whatever ``forward`` saved.
The output tensor points at that node through ``grad_fn``. ``backward()`` orders the nodes
reachable from the loss so that every node comes after all nodes that use its output (an
iterative depth-first search: no recursion limit), then walks that order handing each node
the gradient of its output and collecting the gradients it returns for its inputs. Where an
input was broadcast in the forward pass, its gradient is summed back to its shape here, once,
so no rule has to. Gradients for leaves accumulate into ``.grad``.

With ``create_graph=True`` the backward rules receive Tensors instead of arrays, so the
arithmetic they do is itself recorded and can be differentiated again.
"""
from __future__ import annotations

import contextlib
import itertools
import operator
import os
import threading
import traceback
import weakref
from typing import Any, Sequence

import numpy as np

from chainrule import backend
from chainrule.tensor import Tensor

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "detect_anomaly"]


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
    inputs: tuple = ()
    _saved: tuple | None = ()
    _saved_versions: tuple = ()  # (version box, version) of each tensor whose array was saved
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
        if saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time: the buffers of "
                f"{type(self).__name__} were freed by the first backward. "
                f"Pass retain_graph=True to the first backward() to keep them.")
        for box, version in self._saved_versions:
            if box[0] != version:
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
        ctx = cls.__new__(cls)
        arrays = []
        inputs = []         # the tensors gradients flow to, None for everything else
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a._requires_grad:
                    record = True
                    inputs.append(a)
                    continue
            elif isinstance(a, np.generic):
                # A NumPy scalar (np.sqrt(2.0)) counts as a Python number, as in PyTorch:
                # it must not promote float32 work to float64.
                arrays.append(a.item())
            else:
                arrays.append(a)
            inputs.append(None)
        if record and _state.grad_enabled:
            ctx.inputs = tuple(inputs)   # before forward: it may ask needs_input_grad
        else:
            record = False
        out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        result = Tensor(out)
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
                ctx._saved_versions = _versions_of_saved(args, ctx._saved, out, result)
            result._requires_grad = True
            result.grad_fn = ctx
            ctx._output = weakref.ref(result)
            if _state.anomaly:
                ctx._created_at = traceback.extract_stack()[:-2]
        return result

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per positional argument: does a gradient flow back to it?"""
        return tuple(t is not None for t in self.inputs)

    def name(self) -> str:
        return type(self).__name__


def _versions_of_saved(args: tuple, saved: tuple, out: np.ndarray, result: Tensor) -> tuple:
    """(version box, version) for each input, and the output, whose array backward reads."""
    pairs = []
    for a in args:
        if isinstance(a, Tensor):
            d = a.data
            for s in saved:
                if s is d:
                    pairs.append((a._version_box, a._version_box[0]))
                    break
    for s in saved:
        if s is out:
            pairs.append((result._version_box, 0))
            break
    return tuple(pairs)


_creation_counter = itertools.count()
_retain_requested = [False]  # set once any tensor asks for retain_grad: then outputs are watched
# (a process-wide flag: checking outputs costs one weak-reference call per node afterwards)


# ------------------------------------------------------------------- the backward pass
def _topological_order(roots: Sequence[Function]) -> list[Function]:
    """Nodes reachable from ``roots``, each listed before the nodes that produced its inputs.

    A node's inputs always exist before it does, so newest-first creation order is a
    topological order: collect the reachable nodes with an explicit stack (no recursion,
    so a 100,000-op chain is fine) and sort them by creation number.
    """
    seen = {id(n): n for n in roots}
    stack = list(seen.values())
    while stack:
        for t in stack.pop().inputs:
            if t is not None:
                fn = t.grad_fn
                if fn is not None and id(fn) not in seen:
                    seen[id(fn)] = fn
                    stack.append(fn)
    return sorted(seen.values(), key=_by_creation, reverse=True)


_by_creation = operator.attrgetter("seq")


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
    grads: dict[int, Any] = {}
    nodes = []
    for r, g in zip(roots, root_grads):
        if r.grad_fn is None:
            continue
        key = id(r.grad_fn)
        grads[key] = grads[key] + g if key in grads else g
        nodes.append(r.grad_fn)
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
    with _GradMode(create_graph):
        for node in _topological_order(nodes):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if watch_outputs:
                out = node._output()
                if out is not None and (out._retains_grad or (capture and id(out) in capture)):
                    _deliver(out, g, capture, captured, create_graph, handed)
            if create_graph:
                if not node.differentiable_backward:
                    raise RuntimeError(f"create_graph: the backward of {node.name()} is not "
                                       "differentiable, so second derivatives through it are "
                                       "not available")
                node._as_tensors = True
                try:
                    in_grads = node.backward(node, g if isinstance(g, Tensor) else Tensor(g))
                finally:
                    node._as_tensors = False
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
                if gi.dtype != data.dtype:
                    gi = gi.astype(data.dtype)
                if t.grad_fn is None:
                    _deliver(t, gi, capture, captured, create_graph, handed)
                else:
                    key = id(t.grad_fn)
                    prev = grads.get(key)
                    grads[key] = gi if prev is None else prev + gi
            if not retain_graph:
                node._saved = None
                node._saved_versions = ()
    return captured


def _deliver(t: Tensor, g, capture, captured: dict, create_graph: bool, handed: set) -> None:
    """Hand a finished gradient to its tensor: into ``captured`` for ``cr.grad``, else
    accumulated into ``t.grad`` (in place when the stored array is ours alone)."""
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
    if t.grad is None:
        # Store an array nobody else holds, so later in-place updates (+=, clipping) are safe.
        if id(g) in handed or g.base is not None or not g.flags.writeable or not g.flags.c_contiguous:
            g = np.array(g, copy=True)
        handed.add(id(g))
        t.grad = Tensor(g)
    elif t.grad.grad_fn is not None:
        t.grad = Tensor(t.grad.data + g)
    elif id(t.grad.data) in handed:
        # Stored during this pass: the same array may still be pending for another node
        # (``a + b`` hands one array to both), so adding in place would corrupt that one.
        t.grad.data = t.grad.data + g
    else:
        t.grad.data += g


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
        g = np.ones_like(t.data)
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
