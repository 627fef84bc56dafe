"""The ONNX graph under construction: unique names, nodes, initializers and constants, with the
few operators whose form changed between opsets written once, for the opset being exported.

Everything here goes through the ``onnx`` package's own helpers (``onnx.helper``,
``onnx.numpy_helper``); no protobuf is written by hand. This is the only module of
``chainrule.onnx`` that imports ``onnx``; the emitters build the graph through it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Reductions whose ``axes`` became an input (instead of an attribute) in opset 18; ReduceSum
# moved in opset 13, below every opset exported here.
_AXES_INPUT_FROM_18 = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                       "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum"}


def onnx_dtype(dtype) -> int:
    """The ONNX element type of a NumPy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class GraphBuilder:
    """Collects nodes and initializers; every value gets a name unique in the graph.

    Example (inside an emitter)::

        y = g.op("Gemm", [x, w, b], transB=1)
        s = g.reduce("ReduceMean", y, axes=[1], keepdims=True)
    """

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}
        self._small: dict[tuple, str] = {}      # (dtype, shape, bytes) of a small constant -> name

    # ------------------------------------------------------------------ names
    def reserve(self, name: str) -> str:
        """Claim ``name`` exactly (graph inputs and outputs, parameters)."""
        if name in self._taken:
            raise ValueError(f"the name {name!r} is used twice in the exported graph")
        self._taken.add(name)
        return name

    def unique(self, hint: str) -> str:
        """A fresh name starting with ``hint``: ``Gemm_0``, ``Gemm_1`` ..."""
        n = self._next.get(hint, 0)
        while f"{hint}_{n}" in self._taken:
            n += 1
        self._next[hint] = n + 1
        name = f"{hint}_{n}"
        self._taken.add(name)
        return name

    # ------------------------------------------------------------------ nodes
    def op(self, op_type: str, inputs: Sequence[str], outputs: int = 1,
           names: Sequence[str] | None = None, **attrs) -> str | list[str]:
        """Add one node; returns its output name (a list when ``outputs`` > 1; ``names``
        gives them instead of fresh ones). An empty string in ``inputs`` leaves an optional
        input out, as ONNX specifies (trailing ones are dropped); attributes that are None
        are left out."""
        names = list(names) if names is not None else [self.unique(op_type) for _ in range(outputs)]
        inputs = list(inputs)
        while inputs and inputs[-1] == "":
            inputs.pop()
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node = helper.make_node(op_type, inputs, names, name=self.unique(f"node_{op_type}"),
                                **attrs)
        self.nodes.append(node)
        return names[0] if len(names) == 1 else names

    # ---------------------------------------------------------- initializers
    def initializer(self, array: np.ndarray, name: str) -> str:
        """Store ``array`` as the initializer ``name`` (a parameter or buffer keeps its
        state-dict name)."""
        array = np.asarray(array)
        if not array.flags.c_contiguous:     # (not ascontiguousarray: it makes 0-d arrays 1-d)
            array = array.copy(order="C")
        self.initializers[name] = numpy_helper.from_array(array, name)
        return name

    def constant(self, value, dtype=None, hint: str = "const") -> str:
        """An initializer holding ``value`` (converted to ``dtype`` when given). Small
        constants (shape vectors, scalars) are stored once however often they are used."""
        array = np.asarray(value, dtype=dtype)
        key = None
        if array.size <= 64:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._small:
                return self._small[key]
        name = self.initializer(array, self.unique(hint))
        if key is not None:
            self._small[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant (axes, shapes, pads, indices)."""
        return self.constant(np.asarray(list(values), dtype=np.int64).reshape(-1))

    # ----------------------------------------------- operators whose form varies
    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool) -> str:
        """A reduction over ``axes`` (never empty: ONNX would read that as "all axes")."""
        axes = [int(a) for a in axes]
        if not axes:
            raise ValueError(f"{op_type}: no axes to reduce over")
        if op_type == "ReduceSum" or (op_type in _AXES_INPUT_FROM_18 and self.opset >= 18):
            return self.op(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=axes, keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Unsqueeze", [x, self.ints(axes)])

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Squeeze", [x, self.ints(axes)])

    def slice(self, x: str, starts, ends, axes, steps=None) -> str:
        inputs = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            inputs.append(self.ints(steps))
        return self.op("Slice", inputs)

    def cast(self, x: str, dtype) -> str:
        return self.op("Cast", [x], to=onnx_dtype(dtype))

    def shape_of(self, x: str, axis: int) -> str:
        """The size of ``x`` along ``axis``, as a 1-D int64 tensor of one element."""
        return self.op("Shape", [x], start=int(axis), end=int(axis) + 1)

    # ------------------------------------------------------------------ result
    def value_info(self, name: str, dtype, dims: Sequence[int | str]) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, onnx_dtype(dtype), list(dims))
