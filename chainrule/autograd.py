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

One derivative per op. A primitive's ``backward`` is written with operators, NumPy ufuncs and
NumPy functions only, so the same rule runs on arrays (a plain backward) and on Tensors
(``create_graph=True``: NumPy hands Tensors back to chainrule, so the rule's arithmetic is
recorded and can be differentiated again). A fused op (linear, convolution, losses,
normalisation, recurrent layers) keeps a fast rule on arrays and declares ``reference``: the
same function composed of primitives; under ``create_graph`` the engine differentiates the
reference instead, so no rule is written twice.
"""
from __future__ import annotations

import itertools
import os
import traceback
import weakref
from heapq import heappop, heappush
from typing import Any, Callable, Sequence

import numpy as np

from chainrule import backend, kernels
from chainrule.backend import ONE
from chainrule.grad_mode import (  # noqa: F401  (the public grad-mode switches live here too)
    detect_anomaly, enable_grad, inference_mode, is_grad_enabled, keep_arguments, no_grad,
    set_grad_enabled, state as _state)
from chainrule.tensor import Tensor, inplace_changes, leaves_hooked, outputs_watched, wrap

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "detect_anomaly", "zero_grad_",
           "queue_callback", "keep_arguments", "leaf_uses", "rebase_inplace"]


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

    Second derivatives (``create_graph=True``) come one of two ways:

    * write ``backward`` with arithmetic operators, NumPy ufuncs and NumPy functions only:
      under ``create_graph`` it then receives Tensors and its arithmetic is recorded;
    * or give the class a ``reference``: a static method taking the same arguments as
      ``forward`` (Tensors where forward got arrays) that computes the same output from
      chainrule operations; ``backward`` may then use anything, and ``create_graph``
      differentiates ``reference`` instead.

    Set ``differentiable_backward = False`` on a Function that has neither.
    """

    differentiable_backward = True
    reference: Callable | None = None

    # Set by apply() on recorded nodes.
    inputs: list | tuple = ()   # one entry per argument: the Tensor gradients flow to, or None
    _saved: tuple | None = ()
    _saved_versions: list | tuple = ()  # (version box, version, id of array) of each tensor
    # argument and of the output, checked when backward reads the saved arrays
    _inplace_changes_seen = -1   # tensor.inplace_changes when forward ran
    _args = None            # (args, kwargs) of apply, kept for ``reference`` (and by
    #                         grad_mode.keep_arguments, for tools that read the graph back)
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
        self._check_versions(saved)
        if self._as_tensors:
            return tuple(self._tensor_for(a) for a in saved)
        return saved

    def _check_versions(self, arrays) -> None:
        """Refuse when one of ``arrays`` (inputs or output of forward) was changed in place
        since forward read it: its gradient would be wrong."""
        if self._inplace_changes_seen == inplace_changes[0]:
            return                              # nothing changed in place since forward
        for box, version, array_id in self._saved_versions:
            if box[0] != version and any(id(a) == array_id for a in arrays):
                raise RuntimeError(
                    f"one of the tensors needed by {type(self).__name__}'s backward was "
                    f"modified in place after it was used (version {version} -> "
                    f"{box[0]}); its gradient would be wrong. Compute into a new tensor "
                    f"instead of changing it in place.")

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
            # NumPy returns scalars for 0-d results; a rule that saved that scalar must find
            # the output array instead (create_graph maps it back to the output tensor).
            scalar, out = out, np.asarray(out)
            saved = ctx._saved
            if saved and any(x is scalar for x in saved):
                ctx._saved = tuple(out if x is scalar else x for x in saved)
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
            if ctx._saved or cls.reference is not None or _state.keep_arguments:
                # Checked by saved_tensors: an in-place change to any of these after this
                # point would make backward read values that forward did not see. (An id,
                # not the array, so an input's memory isn't kept alive; ids of saved arrays
                # can't collide with it: they were alive together.)
                box = result._version_box    # an input's, if the output is a view of it
                versions.append((box, box[0], id(out)))
                ctx._saved_versions = versions
                ctx._inplace_changes_seen = inplace_changes[0]
                if cls.reference is not None or _state.keep_arguments:
                    ctx._args = (args, kwargs)
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


# ------------------------------------------------------------------- the backward pass
# Scheduling. A node's inputs always exist before it does, so its creation number is larger
# than that of every node that produced its inputs. Taking nodes newest first from a heap,
# and pushing a node the first time a gradient reaches it, therefore processes each node
# after every node that uses its output (each of those is newer), and only nodes a gradient
# actually reaches. One pass, no recursion (a 100,000-op chain is fine), and for a chain the
# heap never holds more than one node.
#
# Where the gradients go depends on the mode, and each mode is one small class (a "sink"):
#   _Accumulate   loss.backward(): arrays summed into each leaf's .grad
#   _GraphGrads   loss.backward(create_graph=True): recorded Tensors summed into .grad
#   _Capture      cr.grad(outputs, inputs): returned for exactly ``inputs``, no .grad touched

def _run_backward(roots: Sequence[Tensor], root_grads: Sequence, retain_graph: bool,
                  sink: "_Sink") -> None:
    """The engine shared by ``Tensor.backward`` and ``cr.grad``: walk the graph from
    ``roots`` and hand every finished gradient to ``sink``."""
    grads, heap = _schedule_roots(roots, root_grads)
    waits = _LeafWaits(roots) if leaves_hooked[0] else None
    for r, g in zip(roots, root_grads):
        if r.grad_fn is None and r._requires_grad:     # x.backward() on a leaf itself
            _finish_leaf(r, g, sink, waits, direct=True)
    create_graph = sink.create_graph
    anomaly = _state.anomaly
    watch_outputs = sink.watches_outputs or outputs_watched[0]
    plain = type(sink) is _Accumulate
    callbacks: list[Callable] = []
    _pass_callbacks.append(callbacks)
    # Rules run with recording on only for create_graph (a with-block without the object).
    grad_mode_before, _state.grad_enabled = _state.grad_enabled, create_graph
    try:
        while heap:
            node = heappop(heap)[1]
            g = grads.pop(id(node))
            if watch_outputs:
                g = _visit_output(node, g, sink)
            in_grads = _differentiable_backward(node, g) if create_graph else node.backward(node, g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if anomaly:
                _check_finite(node, in_grads)
            for t, gi in zip(node.inputs, in_grads):
                if t is None:
                    continue
                if gi is None:
                    if waits is not None and t.grad_fn is None:
                        waits.arrived(t, None, sink)
                    continue
                if create_graph:
                    gi = _fit(gi, t.data)
                else:                       # _fit's plain branch, inline: the hot path
                    if type(gi) is Tensor:
                        gi = gi.data        # a rule that applied another Function (index)
                    data = t.data
                    if gi.shape != data.shape:
                        gi = backend.sum_to(gi, data.shape)
                    if gi.dtype is not data.dtype and gi.dtype != data.dtype:
                        gi = gi.astype(data.dtype)
                fn = t.grad_fn
                if fn is not None and fn.seq > node.seq:
                    # t was changed in place after this node read it: the gradient belongs
                    # to the version it read (see rebase_inplace)
                    t = _version_read(t, node.seq, node)
                    fn = t.grad_fn
                if fn is None:
                    if plain and t.grad is None and waits is None:
                        _store_first(t, gi, sink.handed)    # the usual case, _finish_leaf's first
                    else:
                        _finish_leaf(t, gi, sink, waits)
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
                node._args = None
        if waits is not None:
            waits.flush(sink)       # leaves whose remaining users no gradient reached
    finally:
        _state.grad_enabled = grad_mode_before
        _pass_callbacks.pop()
    for callback in callbacks:
        callback()


def _schedule_roots(roots: Sequence[Tensor], root_grads: Sequence) -> tuple[dict, list]:
    """The pass's starting state: ``grads`` (id(node) -> gradient of its output, summed so
    far) and ``heap`` ((-creation number, node), newest first) seeded from the roots."""
    grads: dict[int, Any] = {}
    heap: list = []
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
    return grads, heap


def _fit(gi, data: np.ndarray):
    """A rule's gradient made ready for its input under create_graph: a Tensor, summed back
    over broadcast dims, in the input's dtype (the plain pass does the same inline, on
    arrays)."""
    if not isinstance(gi, Tensor):
        gi = Tensor(np.asarray(gi))
    if gi.shape != data.shape:
        gi = gi.sum_to_size(data.shape)
    if gi.dtype is not data.dtype and gi.dtype != data.dtype:
        gi = gi.astype(data.dtype)
    return gi


def _differentiable_backward(node: Function, g):
    """Run a node's backward so that what it computes is recorded (create_graph)."""
    if type(node).reference is not None:
        return _reference_backward(node, g)
    if not node.differentiable_backward:
        raise RuntimeError(f"create_graph: the backward of {node.name()} is not "
                           "differentiable, so second derivatives through it are "
                           "not available")
    node._as_tensors = True
    try:
        return node.backward(node, g if isinstance(g, Tensor) else Tensor(g))
    finally:
        node._as_tensors = False


def _reference_backward(node: Function, g) -> tuple:
    """The gradients of a fused op under create_graph: rebuild its output from its
    ``reference`` composition (recorded, on the same input tensors) and differentiate that."""
    if node._args is None:
        raise RuntimeError(
            f"Trying to backward through the graph a second time: the inputs of "
            f"{node.name()} were freed by the first backward. Pass retain_graph=True to the "
            f"first backward() to keep them.")
    args, kwargs = node._args
    node._check_versions([t.data for t in args if isinstance(t, Tensor)])
    out = type(node).reference(*args, **kwargs)
    wanted = {id(t): t for t in node.inputs if t is not None}
    sink = _Capture(wanted, create_graph=True)
    _run_backward([out], [g if isinstance(g, Tensor) else Tensor(g)], True, sink)
    return tuple(None if t is None else sink.captured.get(id(t)) for t in node.inputs)


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


# ------------------------------------------------------------------------ the sinks
class _Sink:
    create_graph = False
    watches_outputs = False

    def __init__(self):
        # Arrays already stored in a .grad (or owned by the caller, like the gradient passed
        # to backward): a leaf that would receive one of them gets a copy, so no two .grad
        # arrays (and no .grad and the caller's tensor) ever alias.
        self.handed: set[int] = set()

    def wants(self, t: Tensor) -> bool:
        """Does this pass deliver a gradient to tensor ``t`` (a leaf, or a captured input)?
        Each sink also has ``deliver(t, g)``, which puts the finished gradient in place."""
        return True


class _Accumulate(_Sink):
    """``backward()``: arrays summed into ``.grad`` (in place when the array is ours alone)."""

    def deliver(self, t: Tensor, g) -> None:
        if isinstance(g, Tensor):
            g = g.data
        if t.grad is None:
            _store_first(t, g, self.handed)
        elif t.grad.grad_fn is not None:
            t.grad = Tensor(t.grad.data + g)
        elif id(t.grad.data) in self.handed:
            # Stored during this pass: the same array may still be pending for another node
            # (``a + b`` hands one array to both), so adding in place would corrupt that one.
            # (np.asarray: NumPy returns a scalar, not an array, for the sum of two 0-d arrays.)
            t.grad.data = np.asarray(t.grad.data + g)
        else:
            t.grad.data += g


class _GraphGrads(_Sink):
    """``backward(create_graph=True)``: recorded Tensors summed into ``.grad``."""

    create_graph = True

    def deliver(self, t: Tensor, g) -> None:
        gt = g if isinstance(g, Tensor) else Tensor(g)
        if t.grad is None:
            if id(gt.data) in self.handed:
                gt = gt.clone()                 # a recorded copy keeps the graph
            self.handed.add(id(gt.data))
            t.grad = gt
        else:
            t.grad = t.grad + gt


class _Capture(_Sink):
    """``cr.grad``: the gradients of exactly the tensors in ``wanted`` (by id), returned."""

    watches_outputs = True

    def __init__(self, wanted: dict[int, Tensor], create_graph: bool):
        super().__init__()
        self.wanted = wanted
        self.create_graph = create_graph
        self.captured: dict[int, Any] = {}

    def wants(self, t: Tensor) -> bool:
        return id(t) in self.wanted

    def deliver(self, t: Tensor, g) -> None:
        if id(t) in self.wanted:
            prev = self.captured.get(id(t))
            self.captured[id(t)] = g if prev is None else prev + g


def _finish_leaf(t: Tensor, g, sink: _Sink, waits: "_LeafWaits | None",
                 direct: bool = False) -> None:
    """A gradient arrives for leaf ``t``: deliver it, or, if ``t`` has hooks, hold it until
    the last of its users in this pass has contributed (``_LeafWaits``)."""
    if waits is not None and (getattr(t, "_hooks", None) or getattr(t, "_post_hooks", None)):
        if direct:
            waits.direct(t, g, sink)
        else:
            waits.arrived(t, g, sink)
        return
    if sink.wants(t):
        sink.deliver(t, g)


def _visit_output(node: Function, g, sink: _Sink):
    """A node's output tensor with gradient hooks, ``retain_grad`` or in ``cr.grad``'s
    inputs: run its hooks on ``g`` (which they may replace), then keep what is asked for."""
    out = node._output()
    if out is None:
        return g
    hooks = getattr(out, "_hooks", None)
    if hooks:
        g = _run_tensor_hooks(hooks, g, sink.create_graph)
    if out._retains_grad and type(sink) is not _Capture:
        sink.deliver(out, g)
    elif sink.wants(out) and type(sink) is _Capture:
        sink.deliver(out, g)
    return g


def _run_tensor_hooks(hooks: dict, g, create_graph: bool):
    for hook in list(hooks.values()):
        as_tensor = g if isinstance(g, Tensor) else wrap(g)
        changed = hook(as_tensor)
        if changed is not None:
            if not isinstance(changed, Tensor):
                changed = Tensor(np.asarray(changed))
            g = changed if create_graph else changed.data
    return g


class _LeafWaits:
    """For leaves with hooks: how many users (node input slots) of each are left in this
    pass, counted once up front, so its hooks run once, on its whole gradient, as soon as the
    last user has contributed (data-parallel training starts averaging a gradient then)."""

    def __init__(self, roots: Sequence[Tensor]):
        hooked = {key: entry for key, entry in leaf_uses(roots).items()
                  if getattr(entry[0], "_hooks", None) or getattr(entry[0], "_post_hooks", None)}
        self.left: dict[int, int] = {key: uses for key, (_, uses) in hooked.items() if uses}
        self.sums: dict[int, Any] = {}
        self.tensors: dict[int, Tensor] = {key: t for key, (t, _) in hooked.items()}

    def direct(self, t: Tensor, g, sink: _Sink) -> None:
        self.tensors[id(t)] = t
        self._add(t, g)
        if self.left.get(id(t), 0) == 0:
            self._finish(t, sink)

    def arrived(self, t: Tensor, g, sink: _Sink) -> None:
        key = id(t)
        if key not in self.left:
            return
        if g is not None:
            self._add(t, g)
        self.left[key] -= 1
        if self.left[key] == 0:
            self._finish(t, sink)

    def _add(self, t: Tensor, g) -> None:
        prev = self.sums.get(id(t))
        self.sums[id(t)] = g if prev is None else prev + g

    def _finish(self, t: Tensor, sink: _Sink) -> None:
        g = self.sums.pop(id(t), None)
        self.left.pop(id(t), None)
        if g is None:
            return
        hooks = getattr(t, "_hooks", None)
        if hooks:
            g = _run_tensor_hooks(hooks, g, sink.create_graph)
        if sink.wants(t):
            sink.deliver(t, g)
        post = getattr(t, "_post_hooks", None)
        if post and type(sink) is not _Capture:
            for hook in list(post.values()):
                hook(t)

    def flush(self, sink: _Sink) -> None:
        for key in list(self.sums):
            self._finish(self.tensors[key], sink)


def leaf_uses(outputs) -> dict[int, list]:
    """Every leaf tensor that requires grad and that the graph behind ``outputs`` (a Tensor,
    or tuples, lists and dicts of them) reaches, as ``id(leaf) -> [leaf, uses]``: how many
    node inputs it feeds (0 for an output that is itself a leaf). Data-parallel training
    uses it to find the parameters a forward pass left unused.

    Example: ``used = leaf_uses(model(x))``, then ``id(p) in used`` for each parameter.
    """
    found: dict[int, list] = {}
    stack, seen, pending = [], set(), [outputs]
    while pending:
        o = pending.pop()
        if isinstance(o, Tensor):
            if o.grad_fn is not None:
                stack.append(o.grad_fn)
            elif o._requires_grad:
                found.setdefault(id(o), [o, 0])
        elif isinstance(o, (tuple, list)):
            pending.extend(o)
        elif isinstance(o, dict):
            pending.extend(o.values())
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for t in node.inputs:
            if t is None:
                continue
            if t.grad_fn is not None:
                stack.append(t.grad_fn)
            else:
                found.setdefault(id(t), [t, 0])[1] += 1
    return found


# A stack of the callback lists of the passes in progress (a pass may run inside another:
# create_graph through a reference).
_pass_callbacks: list[list[Callable]] = []


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once the backward pass in progress has finished (call it from a
    gradient hook). Data-parallel training uses it to wait for its last all-reduce before
    ``backward()`` returns.

    Example: ``p.register_post_accumulate_grad_hook(lambda p: queue_callback(flush))``
    """
    if not _pass_callbacks:
        raise RuntimeError("queue_callback: no backward pass is running; call it from a "
                           "gradient hook")
    _pass_callbacks[-1].append(callback)


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


# ------------------------------------------------------------------ public entry points
def zero_grad_(t, set_to_none: bool = True) -> None:
    """Clear ``t.grad``: drop it (``set_to_none``) or fill it with zeros. The one rule behind
    ``Module.zero_grad`` and ``Optimizer.zero_grad``. (A dropped large gradient may be kept
    aside for the next backward to write into: ``kernels.keep_spare``; ``t.grad`` is None
    either way, as in PyTorch.)"""
    grad = t.grad
    if grad is None:
        return
    if set_to_none:
        t.grad = None
        data = grad.data if type(grad) is Tensor else getattr(grad, "data", None)
        large = getattr(data, "nbytes", 0) >= kernels.SPARE_MIN_BYTES
        del data            # keep_spare counts the references to the array: hold none here
        if large:
            kernels.keep_spare(t, grad)
    elif getattr(grad, "grad_fn", None) is not None:
        # A gradient recorded under create_graph: replace it by a detached zero.
        t.grad = Tensor(np.zeros_like(grad.data))
    else:
        grad.data[...] = 0
        if isinstance(grad, Tensor):
            grad._version += 1


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
    """``tensor.backward()``: accumulate d tensor / d leaf into every leaf's ``.grad``.

    Accumulation is the rule (as in PyTorch): call ``zero_grad()`` (or set ``.grad =
    None``) between steps. ``gradient`` is required when this tensor is not a scalar;
    ``inputs`` limits the accumulation to those tensors.
    """
    if not tensor._requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no grad_fn "
                           "(did you create it under no_grad, or forget requires_grad=True?)")
    g = _as_grad(tensor, gradient, "backward", create_graph)
    keep = retain_graph or create_graph
    if inputs is not None:
        ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        capture = _Capture({id(t): t for t in ins}, create_graph)
        capture.handed.add(id(_array_of(g)))
        _run_backward([tensor], [g], keep, capture)
        sink = _GraphGrads() if create_graph else _Accumulate()
        sink.handed = capture.handed   # one set for all inputs, so none shares an array
        for t in ins:
            if id(t) in capture.captured:
                sink.deliver(t, capture.captured[id(t)])
        return
    sink = _GraphGrads() if create_graph else _Accumulate()
    sink.handed.add(id(_array_of(g)))
    _run_backward([tensor], [g], keep, sink)


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
    sink = _Capture({id(t): t for t in ins}, create_graph)
    sink.handed.update(id(_array_of(g)) for g in gs)
    _run_backward(outs, gs, retain_graph, sink)
    result = []
    for i, t in enumerate(ins):
        g = sink.captured.get(id(t))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute "
                                   "the outputs; pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor(g))
    return tuple(result)


# ------------------------------------------------------------------ in-place changes
# ``t.mul_(2)`` on a tensor in the graph is recorded as ``new = mul(old, 2)``, where ``old`` is
# a snapshot of t (its values and its grad_fn), and then t *becomes* new: new's values are
# written into t's memory (so views of t see them) and t takes new's node. Nodes that read t
# before the change still point at the tensor object t; since every node's inputs are older
# than the node, a gradient arriving at a t whose grad_fn is newer than the reader is routed
# back through the snapshots to the version that reader saw (``_version_read``).
def rebase_inplace(target: Tensor, result: Tensor, snapshot: Tensor) -> None:
    """Make ``target`` the output of ``result``'s node: copy the values into ``target``'s
    memory, bump its version, and move the node (and what it saved of its output) over.
    ``snapshot`` is what ``result`` was computed from: ``target`` before the change."""
    np.copyto(target.data, result.data, casting="unsafe")
    target._version += 1
    node = result.grad_fn
    target.grad_fn = node
    target._requires_grad = result._requires_grad
    if node is None:
        return
    node._inplace_source = snapshot
    node._output = weakref.ref(target)
    old, new = result.data, target.data
    if node._saved:
        node._saved = tuple(new if x is old else x for x in node._saved)
    node._saved_versions = [(target._version_box, target._version, id(new)) if array_id == id(old)
                            else (box, version, array_id)
                            for box, version, array_id in node._saved_versions]


def _version_read(t: Tensor, seq: int, reader: Function) -> Tensor:
    """The version of ``t`` (itself or a snapshot from before an in-place change) that a node
    created at ``seq`` read. A view of t (a slice ...) taken before the change and still alive
    holds the new values, which the old version did not produce: refused, not guessed."""
    out = reader._output() if reader._output is not None else None
    if out is not None and np.may_share_memory(out.data, t.data):
        raise RuntimeError(
            f"a view of a tensor ({reader.name()}'s output) was taken before the tensor was "
            f"changed in place, and is still in use: its gradient cannot be told apart. Take "
            f"the view after the in-place change, or change a clone instead")
    while t.grad_fn is not None and t.grad_fn.seq > seq:
        source = getattr(t.grad_fn, "_inplace_source", None)
        if source is None:
            break
        t = source
    return t
