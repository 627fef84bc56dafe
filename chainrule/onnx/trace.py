"""Reading a model's computation back from the engine's graph.

The model runs once, in eval mode, inside ``autograd.keep_arguments()`` with every floating
input and parameter requiring grad, so every operation it performs on them is recorded as a
node that keeps the arguments it was applied to (``node._args``). Walking back from the
outputs through those arguments gives the whole computation: each recorded node, what it
read (graph inputs, parameters, other nodes' outputs, constants) and its settings.

The exporter traces twice: on the example input and on a second input with other values and,
along every dynamic axis, another size. The two graphs must have the same nodes in the same
order. Comparing them then tells which sizes follow the dynamic axes (a ``reshape`` target
holding the batch size must not be written down as a number) and finds constants that were
computed from the input by operations the engine does not record (integer arithmetic,
comparisons, ``argmax``, ``.numpy()``): those would be frozen into the file, so the export
refuses them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from chainrule.autograd import Function, enable_grad, keep_arguments
from chainrule.tensor import Tensor


class ExportError(ValueError):
    """The model cannot be exported as it is; the message names the operation and why."""


@dataclass
class Trace:
    """One traced run: the inputs given, the outputs (nested tuples flattened) and every
    recorded node between them, in creation order (each node after the nodes it reads)."""
    inputs: list[Tensor]
    outputs: list[Tensor]
    nodes: list[Function]


def run_traced(model, inputs: Sequence[Tensor]) -> Trace:
    """Run ``model(*inputs)`` in eval mode, recording every operation with its arguments.
    The model's modes and its parameters' ``requires_grad`` are restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    params = [p for p in model.parameters() if p._array.dtype.kind == "f"]
    frozen = [p for p in params if not p.requires_grad]
    traced = [Tensor(x._array) for x in inputs]           # fresh leaves over the same arrays
    for t in traced:
        if t._array.dtype.kind == "f":
            t.requires_grad_()
    model.eval()
    try:
        for p in frozen:            # so that operations on frozen weights are recorded too
            p.requires_grad_(True)
        with enable_grad(), keep_arguments():
            result = model(*traced)
    finally:
        for p in frozen:
            p.requires_grad_(False)
        for m, training in modes:
            m.training = training
    outputs = flatten_outputs(result)
    return Trace(traced, outputs, collect_nodes(outputs))


def flatten_outputs(result) -> list[Tensor]:
    """The output tensors of a forward call, nested tuples and lists flattened in order
    (an LSTM's ``(output, (h_n, c_n))`` gives three)."""
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        out: list[Tensor] = []
        for item in result:
            out += flatten_outputs(item)
        return out
    raise ExportError(f"the model returned a {type(result).__name__}; export needs a Tensor or "
                      f"a (nested) tuple of Tensors")


def tensor_arguments(node: Function):
    """The tensors among a node's positional and keyword arguments."""
    args, kwargs = node._args
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor):
            yield a


def collect_nodes(outputs: Sequence[Tensor]) -> list[Function]:
    """Every recorded node the outputs depend on, oldest first."""
    seen: dict[int, Function] = {}
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        if node._args is None:
            raise ExportError(f"{node.name()} was recorded before the export started (an input "
                              f"that is itself the output of an operation?); pass plain "
                              f"tensors (x.detach()) as the example input")
        seen[id(node)] = node
        stack.extend(t.grad_fn for t in tensor_arguments(node) if t.grad_fn is not None)
    return sorted(seen.values(), key=lambda n: n.seq)


def second_input(x: Tensor, axes: Sequence[int], growth: Sequence[int]) -> Tensor:
    """Another input for the second trace: each axis in ``axes`` longer by the matching
    ``growth`` (its entries repeated cyclically), and other values in the same domain: the
    entries in reverse order along every axis, floats also scaled by 1.5 (signs kept),
    integers and booleans also rolled by one place (so indices stay valid)."""
    data = x._array
    for axis, extra in zip(axes, growth):
        n = data.shape[axis]
        data = np.take(data, np.arange(n + extra) % n, axis=axis)
    data = np.flip(data)
    if data.dtype.kind in "fc":
        data = data * np.asarray(1.5, data.dtype)
    elif data.size:
        data = np.roll(data.reshape(-1), 1).reshape(data.shape)
    return Tensor(np.ascontiguousarray(data))


def pair_traces(first: Trace, second: Trace) -> None:
    """Check that both traces recorded the same operations in the same order."""
    a = [type(n).__name__ for n in first.nodes]
    b = [type(n).__name__ for n in second.nodes]
    if a != b or len(first.outputs) != len(second.outputs):
        where = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise ExportError(
            f"the model's computation changes with its input: the example gave {len(a)} "
            f"operations, a second input (other values, other sizes on the dynamic axes) gave "
            f"{len(b)}, first differing at operation {where} "
            f"({a[where] if where < len(a) else 'none'} vs {b[where] if where < len(b) else 'none'}). "
            f"Control flow that depends on values or sizes cannot be exported")
