"""What an emitter sees of one recorded operation: its arguments, its output, the same
operation in the second trace (its "twin"), and the ONNX names of the values it reads.

An emitter (see :mod:`chainrule.onnx.registry`) reads a node's settings from ``node.arg(i)``
and ``node.kwargs``, asks ``node.input(i)`` for the ONNX name of a tensor argument (a graph
input, a parameter's initializer, an earlier node's output, or a constant made for it) and
returns the name of what it computed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.autograd import Function
from chainrule.onnx.trace import ExportError
from chainrule.tensor import Tensor

if TYPE_CHECKING:
    from chainrule.onnx.exporter import Exporter
    from chainrule.onnx.graph import GraphBuilder


class Composite:
    """A value ONNX computes only in parts. Example: chainrule's LSTM node yields the hidden
    and cell states at every step, ONNX's LSTM the hidden states at every step and the cell
    state at the last one. A later ``states[key]`` asks :meth:`index` for its part; anything
    else that reads the whole value fails with ``reason``."""

    reason = "this value has no ONNX form as a whole"

    def index(self, node: "Node", g: "GraphBuilder", key, twin_key) -> str:
        raise node.error(self.reason)


class Node:
    """One recorded operation, as an emitter sees it (see the module docstring)."""

    def __init__(self, fn: Function, twin: Function, exporter: "Exporter"):
        self.fn, self.twin, self.exporter = fn, twin, exporter
        self.args, self.kwargs = fn._args
        self.twin_args, self.twin_kwargs = twin._args
        self.output: Tensor = fn._output()
        self.twin_output: Tensor = twin._output()

    @property
    def name(self) -> str:
        return type(self.fn).__name__

    @property
    def dtype(self) -> np.dtype:
        return self.output.dtype

    @property
    def shape(self) -> tuple:
        return tuple(self.output.shape)

    def error(self, message: str) -> ExportError:
        """An ExportError naming this operation (raise it)."""
        return ExportError(f"{self.name}: {message}")

    # ---------------------------------------------------------------- settings
    def arg(self, i: int, default: Any = None) -> Any:
        """Positional argument ``i`` as the operation received it (``default`` if absent)."""
        return self.args[i] if i < len(self.args) else default

    def twin_arg(self, i: int, default: Any = None) -> Any:
        return self.twin_args[i] if i < len(self.twin_args) else default

    def setting(self, i: int, default: Any = None, name: str | None = None) -> Any:
        """A setting (axis, slope, flag ...) that must be the same in both traces: keyword
        argument ``name`` if it was passed so, else positional argument ``i``."""
        a, b = self._pick(i, default, name)
        if not _same(a, b):
            raise self.error(f"{name or f'argument {i}'} is {a!r} for the example input but "
                             f"{b!r} for another input: it follows the input's values or "
                             f"sizes, which an ONNX attribute cannot")
        return a

    def _pick(self, i: int, default: Any, name: str | None) -> tuple[Any, Any]:
        if name is not None and name in self.kwargs:
            return self.kwargs[name], self.twin_kwargs[name]
        return self.arg(i, default), self.twin_arg(i, default)

    # ------------------------------------------------------------------ values
    def input(self, i: int, dtype=None) -> str:
        """The ONNX name of positional argument ``i`` (cast to ``dtype`` when given)."""
        return self.value(self.args[i], self.twin_args[i], f"argument {i}", dtype)

    def value(self, obj, twin_obj, what: str, dtype=None) -> str:
        """The ONNX name of any argument (``what`` names it in errors)."""
        return self.exporter.name_of(obj, twin_obj, self, what, dtype)

    def is_constant(self, i: int) -> bool:
        """Argument ``i`` is not a graph value (a graph input, parameter or node output)."""
        return not self.exporter.is_graph_value(self.args[i])

    def constant(self, i: int, name: str | None = None) -> np.ndarray:
        """Argument ``i`` (or keyword ``name``) as a constant array, checked to be the same
        in both traces."""
        a, b = self._pick(i, None, name)
        return self.exporter.checked_constant(a, b, self, name or f"argument {i}")

    def composite(self, i: int) -> Composite | None:
        """The Composite argument ``i`` is, if it is one."""
        v = self.exporter.values.get(id(self.args[i]))
        return v if isinstance(v, Composite) else None

    def producer(self, i: int) -> "Node | None":
        """The node that computed argument ``i`` (None for inputs, parameters, constants)."""
        t = self.args[i]
        if not isinstance(t, Tensor) or t.grad_fn is None:
            return None
        return self.exporter.node_view(t.grad_fn)

    def shapes(self, i: int) -> tuple[tuple, tuple]:
        """The shape of argument ``i`` in the first and in the second trace."""
        return tuple(np.shape(_array(self.args[i]))), tuple(np.shape(_array(self.twin_args[i])))

    def dynamic_size(self, g: "GraphBuilder", first: int, second: int) -> str | None:
        """A 1-element int64 tensor holding, at run time, the size that was ``first`` in the
        first trace and ``second`` in the second: read from the graph input axis with those
        sizes (None if no input axis has them)."""
        return self.exporter.dynamic_size(g, first, second)


def _array(x):
    return x._array if isinstance(x, Tensor) else x


def _same(a, b) -> bool:
    """Deep equality of settings: numbers, strings, tuples, slices, arrays."""
    if isinstance(a, (Tensor, np.ndarray)) or isinstance(b, (Tensor, np.ndarray)):
        a, b = np.asarray(_array(a)), np.asarray(_array(b))
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, slice) and isinstance(b, slice):
        return _same((a.start, a.stop, a.step), (b.start, b.stop, b.step))
    if type(a) is not type(b) and not (isinstance(a, (int, float, np.number))
                                       and isinstance(b, (int, float, np.number))):
        return False
    try:
        return bool(a == b) or (a != a and b != b)      # NaN settings count as equal
    except (TypeError, ValueError):
        return a is b
