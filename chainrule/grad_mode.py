"""Whether operations are being recorded, per thread: ``no_grad``, ``enable_grad``,
``set_grad_enabled``, ``inference_mode`` and ``detect_anomaly``.

This sits below ``tensor`` and ``autograd``: a Tensor checks it before an in-place change, and
``Function.apply`` checks it before recording a node.
"""
from __future__ import annotations

import contextlib
import threading


class _State(threading.local):
    grad_enabled = True
    anomaly = False
    keep_arguments = False      # every recorded node keeps its apply() arguments (tracing)


state = _State()


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward."""
    return state.grad_enabled


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly``."""
    return state.anomaly


class _GradMode(contextlib.ContextDecorator):
    """Shared machinery of the grad-mode switches: a ``with`` block or a decorator."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        # A stack, not one slot: a decorated function that calls itself re-enters the
        # same instance, and each exit must restore what its own enter found.
        self._prev: list[bool] = []

    def __enter__(self):
        self._prev.append(state.grad_enabled)
        state.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._prev.pop()
        return False


class set_grad_enabled(_GradMode):
    """Turn recording on or off: for a ``with`` block, a decorated function, or (as in
    PyTorch) at once when simply called: ``cr.set_grad_enabled(False)``."""

    def __init__(self, mode: bool):
        super().__init__(mode)
        self._before_call = state.grad_enabled
        state.grad_enabled = self.mode

    def __enter__(self):
        if self._before_call is not None:      # the block right after construction
            self._prev.append(self._before_call)
            self._before_call = None
            state.grad_enabled = self.mode
            return self
        return super().__enter__()

    def __call__(self, func):
        if self._before_call is not None:      # used as a decorator: undo the immediate switch
            state.grad_enabled = self._before_call
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


class inference_mode(_GradMode):
    """PyTorch's ``inference_mode``: like ``no_grad`` (NumPy has no cheaper mode to offer).
    ``inference_mode(False)`` leaves recording as it is. Usable as a block or decorator,
    bare (``@cr.inference_mode``) or called."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):                       # the bare decorator
            self.__init__(True)
            return self(mode)
        return self

    def __init__(self, mode=True):
        super().__init__(False)
        self._active = bool(mode)

    def __enter__(self):
        if not self._active:
            self._prev.append(state.grad_enabled)
            return self
        return super().__enter__()


class detect_anomaly(contextlib.ContextDecorator):
    """Inside this block, a backward rule that produces NaN or Inf raises an error naming the
    forward operation and the line of user code that created it."""

    def __enter__(self):
        self.prev = state.anomaly
        state.anomaly = True
        return self

    def __exit__(self, *exc):
        state.anomaly = self.prev
        return False


class keep_arguments(contextlib.ContextDecorator):
    """Inside this block every recorded node keeps the arguments it was applied to
    (``node._args``: the tensors and settings), so a tool can read the whole computation
    back from the graph, as the ONNX exporter does. Example:
    ``with keep_arguments(): out = model(x.requires_grad_())``"""

    def __enter__(self):
        self.prev = state.keep_arguments
        state.keep_arguments = True
        return self

    def __exit__(self, *exc):
        state.keep_arguments = self.prev
        return False
