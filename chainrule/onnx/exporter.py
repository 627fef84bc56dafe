"""``export``: trace the model twice, write each recorded operation with its emitter, check
the result with ``onnx.checker`` and save it (the steps are in :func:`export_model`)."""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper

from chainrule._version import __version__
from chainrule.autograd import Function
from chainrule.io import write_atomically
from chainrule.nn import Module
from chainrule.onnx.graph import GraphBuilder
from chainrule.onnx.node import Composite, Node
from chainrule.onnx.registry import emitter_for
from chainrule.onnx.trace import (
    ExportError, Trace, pair_traces, run_traced, second_input)
from chainrule.tensor import Tensor

MIN_OPSET = 17          # LayerNormalization is an ONNX operator from opset 17 on
DEFAULT_OPSET = 17


def export_model(model, args, f, input_names: Sequence[str] | None = None,
                 output_names: Sequence[str] | None = None,
                 dynamic_axes: Mapping[str, Any] | None = None,
                 opset_version: int | None = None,
                 metadata: Mapping[str, str] | None = None) -> onnx.ModelProto:
    """The body of :func:`chainrule.onnx.export` (see there)."""
    if not isinstance(model, Module):
        raise TypeError(f"export: model must be a chainrule nn.Module, got {type(model).__name__}")
    opset = _opset(opset_version)
    inputs = _example_inputs(args)
    input_names = _names("input_names", input_names, len(inputs), "input")
    first = run_traced(model, inputs)
    output_names = _names("output_names", output_names, len(first.outputs), "output")
    dynamic = _dynamic_axes(dynamic_axes, input_names, output_names,
                            [x.shape for x in inputs], [t.shape for t in first.outputs])
    second = run_traced(model, _second_inputs(inputs, input_names, dynamic))
    pair_traces(first, second)

    g = GraphBuilder(opset)
    exporter = Exporter(model, first, second, g, input_names)
    exporter.emit_all()
    for t, t2, name in zip(first.outputs, second.outputs, output_names):
        g.op("Identity", [exporter.name_of(t, t2, None, f"output {name!r}")], names=[g.reserve(name)])

    input_dims = {(x.shape[axis], y.shape[axis]): dim
                  for n, x, y in zip(input_names, first.inputs, second.inputs)
                  for axis, dim in dynamic.get(n, {}).items()}
    graph = helper.make_graph(
        _live_nodes(g.nodes, output_names), type(model).__name__,
        [g.value_info(n, x.dtype, _dims(n, x.shape, x.shape, dynamic.get(n, {}), input_dims))
         for n, x in zip(input_names, inputs)],
        [g.value_info(n, t.dtype, _dims(n, t.shape, t2.shape, dynamic.get(n, {}), input_dims))
         for n, t, t2 in zip(output_names, first.outputs, second.outputs)],
        initializer=[])
    used = {i for node in graph.node for i in node.input}
    graph.initializer.extend(t for name, t in g.initializers.items() if name in used)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="chainrule",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    if metadata:
        helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
    onnx.checker.check_model(proto, full_check=True)
    _save(proto, f)
    return proto


class Exporter:
    """The state of one export: which tensor is which ONNX value, and the twins."""

    def __init__(self, model, first: Trace, second: Trace, g: GraphBuilder,
                 input_names: Sequence[str]):
        self.first, self.second, self.g = first, second, g
        self.input_names = list(input_names)
        self.values: dict[int, str | Composite] = {}        # id(tensor) -> ONNX value
        self.params: dict[int, str] = {}                    # id(parameter or buffer) -> name
        self.owner: dict[int, Tensor] = {}                  # id(array) -> its tensor
        self._twin_node = {id(a): b for a, b in zip(first.nodes, second.nodes)}
        self._views: dict[int, Node] = {}
        self._constants: dict[tuple, tuple[np.ndarray, str]] = {}
        self._sizes: dict[tuple, str | None] = {}
        for t, name in zip(first.inputs, self.input_names):
            self.values[id(t)] = g.reserve(name)
            self.owner[id(t._array)] = t
        named = list(model.named_parameters()) + [
            (n, b) for n, b in model.named_buffers() if b is not None]
        for name, t in named:
            if id(t) not in self.params:
                self.params[id(t)] = g.reserve(name)
                self.owner.setdefault(id(t._array), t)

    # ------------------------------------------------------------------ emission
    def emit_all(self) -> None:
        for fn in self.first.nodes:
            node = self.node_view(fn)
            emit = emitter_for(type(fn))
            if emit is None:
                cls = type(fn)
                raise ExportError(
                    f"{cls.__name__} (from {cls.__module__}) has no ONNX form, so a model "
                    f"using it cannot be exported; chainrule.onnx.registry.supported() lists "
                    f"the operations that have one")
            self.values[id(node.output)] = emit(node, self.g)

    def node_view(self, fn: Function) -> Node:
        view = self._views.get(id(fn))
        if view is None:
            view = self._views[id(fn)] = Node(fn, self._twin_node[id(fn)], self)
        return view

    # -------------------------------------------------------------------- values
    def is_graph_value(self, obj) -> bool:
        if isinstance(obj, Tensor):
            return id(obj) in self.values or id(obj) in self.params
        return isinstance(obj, np.ndarray) and id(obj) in self.owner

    def name_of(self, obj, twin, node: Node | None, what: str, dtype=None) -> str:
        """The ONNX name of ``obj`` as ``node`` reads it (see ``Node.value``)."""
        fail = node.error if node is not None else ExportError
        if isinstance(obj, Tensor):
            value = self.values.get(id(obj))
            if isinstance(value, Composite):
                raise fail(f"{what}: {value.reason}")
            if value is None and id(obj) in self.params:
                value = self._parameter(obj)
            if value is not None:
                return self._cast(value, obj.dtype, dtype)
            return self._constant(obj._array, twin, fail, what, dtype)
        if isinstance(obj, np.ndarray):
            owner = self.owner.get(id(obj))
            if owner is not None:                   # an input's or a parameter's own array
                return self.name_of(owner, None, node, what, dtype)
            base = obj.base
            if (base is not None and id(base) in self.owner and base.size == obj.size
                    and base.flags.c_contiguous and obj.flags.c_contiguous):
                whole = self.name_of(self.owner[id(base)], None, node, what, dtype)
                if obj.shape == base.shape:
                    return whole
                return self.g.op("Reshape", [whole, self.g.ints(obj.shape)])
            return self._constant(obj, twin, fail, what, dtype)
        if obj is None:
            raise fail(f"{what} is None where a tensor is needed")
        return self._constant(obj, twin, fail, what, dtype if dtype is not None else
                              (node.dtype if node is not None else None))

    def checked_constant(self, obj, twin, node: Node | None, what: str) -> np.ndarray:
        return _checked(obj, twin, node.error if node is not None else ExportError, what)

    def _constant(self, obj, twin, fail, what: str, dtype) -> str:
        array = _checked(obj, twin, fail, what)
        if dtype is not None:
            array = array.astype(dtype, copy=False)
        # An array read twice (the same mask in every layer) is stored once. The entry keeps
        # the array alive, so its id cannot be reused by another array meanwhile.
        key = (id(obj), array.dtype.str) if isinstance(obj, np.ndarray) else None
        if key is not None and key in self._constants:
            return self._constants[key][1]
        name = self.g.constant(array)
        if key is not None:
            self._constants[key] = (obj, name)
        return name

    def _parameter(self, t: Tensor) -> str:
        name = self.params[id(t)]
        if name not in self.g.initializers:
            self.g.initializer(t._array, name)
        return name

    def _cast(self, name: str, have, want) -> str:
        if want is None or np.dtype(want) == np.dtype(have):
            return name
        return self.g.cast(name, want)

    # --------------------------------------------------------------- dynamic sizes
    def dynamic_size(self, g: GraphBuilder, first: int, second: int) -> str | None:
        key = (int(first), int(second))
        if key not in self._sizes:
            self._sizes[key] = None
            for t1, t2, name in zip(self.first.inputs, self.second.inputs, self.input_names):
                axis = next((a for a, (m, n) in enumerate(zip(t1.shape, t2.shape))
                             if (m, n) == key and m != n), None)
                if axis is not None:
                    self._sizes[key] = g.shape_of(name, axis)
                    break
        return self._sizes[key]


# ---------------------------------------------------------------------- helpers
def _checked(obj, twin, fail, what: str) -> np.ndarray:
    """``obj`` as an array, refused when the second trace saw something else there."""
    a = np.asarray(obj._array if isinstance(obj, Tensor) else obj)
    if twin is None:
        return a
    b = np.asarray(twin._array if isinstance(twin, Tensor) else twin)
    if a.shape != b.shape:
        raise fail(f"{what} is a constant of shape {a.shape} whose shape follows the input's "
                   f"dynamic sizes (another input gave {b.shape}); ONNX cannot follow it. "
                   f"Export with fixed sizes (no dynamic_axes) or compute it from the input "
                   f"with tensor operations")
    if a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
        raise fail(f"{what} is a constant that changes with the input's values: it was "
                   f"computed from the input by something the engine does not record "
                   f"(integer or comparison arithmetic, argmax, .data or .numpy(), a no_grad "
                   f"block, random draws), so it would be frozen into the file")
    return a


def _opset(opset_version) -> int:
    if opset_version is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset_version, bool) or not isinstance(opset_version, (int, np.integer)) \
            or not MIN_OPSET <= opset_version <= newest:
        raise ValueError(f"export: opset_version must be an int from {MIN_OPSET} to {newest} "
                         f"(the newest this onnx package knows), got {opset_version!r}")
    return int(opset_version)


def _example_inputs(args) -> list[Tensor]:
    items = list(args) if isinstance(args, (tuple, list)) else [args]
    if not items:
        raise ValueError("export: args must hold at least one example input")
    out = []
    for i, x in enumerate(items):
        t = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if t._array.dtype.kind not in "fiub":
            raise TypeError(f"export: example input {i} has dtype {t._array.dtype}; expected "
                            f"numbers (float, int or bool)")
        out.append(t)
    return out


def _names(argument: str, names, count: int, stem: str) -> list[str]:
    """The given names, the rest by position: ``input`` for one, else ``input_0``, ``input_1`` ..."""
    given = list(names or [])
    if len(given) > count or any(not isinstance(n, str) or not n for n in given) \
            or len(set(given)) != len(given):
        raise ValueError(f"export: {argument} must be at most {count} distinct non-empty "
                         f"strings (one per {stem}), got {names!r}")
    if count == 1 and not given:
        return [stem]
    names = given + [f"{stem}_{i}" for i in range(len(given), count)]
    if len(set(names)) != len(names):
        raise ValueError(f"export: {argument} {names} repeat a name; name every {stem}")
    return names


def _dynamic_axes(dynamic_axes, input_names, output_names, input_shapes,
                  output_shapes) -> dict[str, dict[int, str]]:
    """PyTorch's ``dynamic_axes`` ({name: {axis: "dim name"}} or {name: [axes]}) checked,
    as {name: {axis: dim name}}."""
    if dynamic_axes is None:
        return {}
    if not isinstance(dynamic_axes, Mapping):
        raise TypeError(f"export: dynamic_axes must be a dict {{name: {{axis: 'dim name'}}}}, "
                        f"got {type(dynamic_axes).__name__}")
    ranks = {n: len(s) for n, s in zip(input_names, input_shapes)}
    ranks.update({n: len(s) for n, s in zip(output_names, output_shapes)})
    out: dict[str, dict[int, str]] = {}
    for name, axes in dynamic_axes.items():
        if name not in ranks:
            raise ValueError(f"export: dynamic_axes names {name!r}, which is not an input or "
                             f"output name ({', '.join(list(input_names) + list(output_names))})")
        if isinstance(axes, Mapping):
            pairs = list(axes.items())
        elif isinstance(axes, (list, tuple)):
            pairs = [(a, f"{name}_dynamic_axes_{i + 1}") for i, a in enumerate(axes)]
        else:
            raise TypeError(f"export: dynamic_axes[{name!r}] must be a dict {{axis: 'dim "
                            f"name'}} or a list of axes, got {axes!r}")
        out[name] = {}
        for axis, dim in pairs:
            if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
                    or not -ranks[name] <= axis < ranks[name]:
                raise ValueError(f"export: dynamic_axes[{name!r}] has axis {axis!r}, but "
                                 f"{name!r} has {ranks[name]} dims")
            out[name][int(axis) % ranks[name]] = str(dim)
    return out


def _second_inputs(inputs, input_names, dynamic) -> list[Tensor]:
    """The second trace's inputs: the axes of each dynamic dim name longer by a different
    amount (1, 2, 3 ...), so that sizes seen in the second trace tell which dim they follow."""
    growth: dict[str, int] = {}         # dim name -> how much longer; one name, one size
    out = []
    for x, name in zip(inputs, input_names):
        axes = sorted(dynamic.get(name, {}))
        extra = [growth.setdefault(dynamic[name][a], len(growth) + 1) for a in axes]
        out.append(second_input(x, axes, extra))
    return out


def _dims(name: str, shape, twin_shape, declared: Mapping[int, str],
          input_dims: Mapping[tuple, str]) -> list[int | str]:
    """The dims of a graph input or output: a name on each dynamic axis (an output axis that
    follows an input's dynamic axis takes that axis's name)."""
    dims: list[int | str] = []
    for axis, (a, b) in enumerate(zip(shape, twin_shape)):
        if axis in declared:
            dims.append(declared[axis])
        elif a != b:
            dims.append(input_dims.get((a, b), f"{name}_dim_{axis}"))
        else:
            dims.append(int(a))
    return dims


def _live_nodes(nodes: list, outputs: Sequence[str]) -> list:
    """The nodes the outputs depend on, in order (others, like a Linear whose product an
    ONNX recurrent operator computes itself, are dropped)."""
    live = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(o in live for o in node.output):
            kept.append(node)
            live.update(i for i in node.input if i)
    return kept[::-1]


def _save(proto: onnx.ModelProto, f) -> None:
    payload = proto.SerializeToString()
    if hasattr(f, "write"):
        f.write(payload)
    elif isinstance(f, (str, os.PathLike)):
        write_atomically(f, payload)
    else:
        raise TypeError(f"export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
