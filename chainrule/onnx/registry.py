"""The emitter table: for each ``Function`` class, the function that writes its ONNX form.

An emitter takes the recorded operation (a :class:`~chainrule.onnx.node.Node`) and the graph
under construction (a :class:`~chainrule.onnx.graph.GraphBuilder`) and returns the ONNX name
of the operation's output (or a :class:`~chainrule.onnx.node.Composite`)::

    from chainrule.onnx.registry import emitter

    @emitter(MyScale)                       # MyScale: a cr.autograd.Function subclass
    def _my_scale(node, g):
        return g.op("Mul", [node.input(0), node.input(1, node.dtype)])

A Function class without an emitter (nor a base class with one) stops the export with an
error naming it. Registering an emitter for a class that has one replaces it; a later
export mode (say, quantised QDQ graphs) can therefore wrap the emitters here: look one up
with :func:`emitter_for`, register a function that calls it and adds QuantizeLinear /
DequantizeLinear nodes around its inputs or output.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from chainrule.onnx.graph import GraphBuilder
    from chainrule.onnx.node import Composite, Node

Emitter = Callable[["Node", "GraphBuilder"], "str | Composite"]

EMITTERS: dict[type, Emitter] = {}


def emitter(*function_classes: type) -> Callable[[Emitter], Emitter]:
    """Register the decorated function as the ONNX emitter of ``function_classes``."""
    def register(fn: Emitter) -> Emitter:
        for cls in function_classes:
            EMITTERS[cls] = fn
        return fn
    return register


def emitter_for(function_class: type) -> Emitter | None:
    """The emitter of ``function_class`` or of its nearest base class that has one."""
    for cls in function_class.__mro__:
        if cls in EMITTERS:
            return EMITTERS[cls]
    return None


def supported() -> list[str]:
    """The names of the Function classes with an ONNX form, sorted."""
    return sorted(cls.__name__ for cls in EMITTERS)
