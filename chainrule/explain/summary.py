"""What a model costs: parameters, multiply-adds and activation memory, layer by layer.

``summary(model, input_shape, batch_size)`` runs one forward pass on zeros (under
``no_grad``, in eval mode; the model is restored afterwards) with forward hooks on every
module, so it sees each layer's real output shape in call order, for any model (not
only ``Sequential``). The rows are the innermost modules that ran: leaf layers, and layers
with submodules that compute without calling them (MultiheadAttention, which uses its
output projection's weights directly).

Counting rules (one multiply-add, "MAC", is one ``a * b + c``):

* Forward: each layer counts its own, in its ``forward_macs(inputs, output)`` method
  (:meth:`chainrule.nn.Module.forward_macs`; every layer of ``chainrule.nn`` has one). For
  example Linear: (output elements) x in_features; Conv1d/Conv2d: (output elements) x
  in_channels/groups x kernel elements; LSTM/GRU/RNN: per time step, sample, layer and
  direction, gates x hidden x (input + hidden); BatchNorm/LayerNorm: 2 per element;
  activations, Dropout, Flatten, MaxPool, Embedding: 0.
* Backward: a layer with parameters costs 2x its forward (one product for the input's
  gradient dX, one for the weights' dW), except where its input needs no gradient (the
  first layers, before any parameter, have no dX): then 1x. A layer without parameters
  costs 1x its forward for dX, or 0 when its input needs no gradient.
* Activation memory: the bytes of each layer's output (all of its tensors), the values
  kept for the backward pass, for the given batch size.
* Layers that do not count themselves (``forward_macs`` returns None, as for a Module of
  your own that does not override it) report shape and parameters, and '?' for
  multiply-adds; the totals then say they are a lower bound.

Networks too large to build (``chainrule summary --layers 30000,30000``: 7 GB of weights)
are counted by :func:`summary_from_shapes`, from shapes alone: their layers hold
placeholder parameters of the right shapes that take no memory
(``build_network(..., placeholders=True)``), no forward pass runs, and each layer's cost
still comes from its own ``forward_macs``.

Example:
    >>> model = cr.nn.Sequential(cr.nn.Linear(784, 128), cr.nn.ReLU(), cr.nn.Linear(128, 10))
    >>> print(cr.explain.summary(model, (784,), batch_size=32))      # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import nn
from chainrule._html import escape, table
from chainrule.autograd import no_grad
from chainrule.tensor import Tensor

__all__ = ["summary", "summary_from_shapes", "ModelSummary", "LayerSummary", "format_bytes"]


@dataclass
class LayerSummary:
    """One row: ``macs_forward``/``macs_backward`` are None when unknown ('?')."""

    name: str
    type: str
    output_shape: tuple
    params: int
    trainable: int
    macs_forward: int | None
    macs_backward: int | None
    activation_bytes: int


def _human(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{int(n)}{unit}" if float(n).is_integer() else f"{n:.2f}{unit}"


def format_bytes(n: float) -> str:
    """A byte count for people: ``format_bytes(1536)`` -> ``'1.50 KiB'``."""
    for scale, suffix in ((2 ** 50, "PiB"), (2 ** 40, "TiB"), (2 ** 30, "GiB"), (2 ** 20, "MiB"),
                          (2 ** 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{int(n)} B"


@dataclass
class ModelSummary:
    """The table ``summary`` returns: ``rows`` plus totals; ``str()`` prints it."""

    rows: list[LayerSummary]
    input_shape: tuple
    batch_size: int
    total_params: int
    trainable_params: int
    param_bytes: int
    complete: bool = True          # False when some layer's multiply-adds are unknown
    notes: list[str] = field(default_factory=list)

    @property
    def macs_forward(self) -> int:
        return sum(r.macs_forward or 0 for r in self.rows)

    @property
    def macs_backward(self) -> int:
        return sum(r.macs_backward or 0 for r in self.rows)

    @property
    def macs_per_step(self) -> int:
        """Forward + backward multiply-adds of one training step on ``batch_size`` samples."""
        return self.macs_forward + self.macs_backward

    @property
    def activation_bytes(self) -> int:
        return sum(r.activation_bytes for r in self.rows)

    def to_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape), "batch_size": self.batch_size,
            "layers": [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                        "params": r.params, "trainable": r.trainable,
                        "macs_forward": r.macs_forward, "macs_backward": r.macs_backward,
                        "activation_bytes": r.activation_bytes} for r in self.rows],
            "total_params": self.total_params, "trainable_params": self.trainable_params,
            "macs_forward": self.macs_forward, "macs_backward": self.macs_backward,
            "macs_per_step": self.macs_per_step, "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes, "complete": self.complete,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    _HEAD = ["Layer (type)", "Output shape", "Params", "Fwd MACs", "Bwd MACs", "Act. memory"]

    def _cells(self) -> list[list[str]]:
        """Each row's cells as ``str()`` prints them (and the HTML table shows them)."""
        return [[f"{r.name} ({r.type})", str(tuple(r.output_shape)), f"{r.params:,}",
                 "?" if r.macs_forward is None else f"{r.macs_forward:,}",
                 "?" if r.macs_backward is None else f"{r.macs_backward:,}",
                 format_bytes(r.activation_bytes)] for r in self.rows]

    def _facts(self) -> list[tuple[str, str]]:
        lower = "" if self.complete else "at least "
        fwd, bwd = self.macs_forward, self.macs_backward
        return [
            ("Input", f"{tuple(self.input_shape)} per sample, batch of {self.batch_size}"),
            ("Parameters", f"{self.total_params:,} ({self.trainable_params:,} trainable)"),
            ("Parameter memory", f"{format_bytes(self.param_bytes)} (gradients: as much again)"),
            ("Multiply-adds forward", f"{lower}{fwd:,}"),
            ("Multiply-adds backward", f"{lower}{bwd:,}"),
            ("Multiply-adds per step", f"{lower}{fwd + bwd:,} ({_human(fwd + bwd)})"),
            ("Activation memory", f"{format_bytes(self.activation_bytes)} (kept for backward)"),
        ]

    def __str__(self) -> str:
        head, body = self._HEAD, self._cells()
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
                  for i, h in enumerate(head)]
        line = "  ".join("-" * w for w in widths)
        fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        out = [fmt(head), line] + [fmt(b) for b in body] + [line]
        facts = self._facts()
        kw = max(len(k) for k, _ in facts) + 1
        out += [f"{(k + ':').ljust(kw)} {v}" for k, v in facts]
        out += self.notes
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """Jupyter's display: the per-layer table, then the totals, with ``str()``'s figures."""
        layers = table(self._HEAD, self._cells(), right=range(2, 6),
                       caption=f"Cost per layer for a batch of {self.batch_size}")
        totals = table(["Total", ""], self._facts(), right=[1])
        notes = "".join(f"<p>{escape(n)}</p>" for n in self.notes)
        return layers + totals + notes


# ------------------------------------------------------------------------------ counting
class _ShapeOnly:
    """What :func:`summary_from_shapes` hands each layer's ``forward_macs`` in place of a
    tensor: the shape and dtype of the values, without the values."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype: np.dtype):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    def numel(self) -> int:
        return math.prod(self.shape)


def _tensors(obj) -> list:
    if isinstance(obj, (Tensor, _ShapeOnly)):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    data = getattr(obj, "data", None)      # e.g. a PackedSequence
    return [data] if isinstance(data, Tensor) else []


def _innermost(calls: list) -> list:
    """The calls of modules none of whose submodules ran: each computation once."""
    ran = {id(mod) for _, mod, _, _ in calls}
    return [call for call in calls
            if not any(id(sub) in ran for sub in call[1].modules() if sub is not call[1])]


def _checked_input(model, input_shape, batch_size, dtype, who: str) -> tuple[tuple, np.dtype]:
    """One sample's shape as a tuple of ints, and the input dtype (see :func:`summary`)."""
    if not hasattr(model, "named_modules"):
        raise TypeError(f"{who}: expected a Module, got {type(model).__name__}")
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: input_shape must be a tuple of ints (one sample, without the "
                        f"batch dimension), got {input_shape!r}") from None
    if any(s < 1 for s in shape):
        raise ValueError(f"{who}: input_shape must be positive, got {shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"{who}: batch_size must be a positive int, got {batch_size!r}")
    if dtype is None:
        floats = [p.dtype for p in model.parameters() if p.dtype.kind == "f"]
        dtype = floats[0] if floats else np.float32
    return shape, np.dtype(dtype)


def summary(model, input_shape, batch_size: int = 1, dtype=None) -> ModelSummary:
    """Per layer: output shape, parameters, forward/backward multiply-adds and activation
    memory for ``batch_size`` samples of shape ``input_shape`` (without the batch dim); and
    the totals per training step. See the module docstring for the counting rules.

    Args:
        model: any Module.
        input_shape: one sample's shape, e.g. ``(784,)`` or ``(1, 28, 28)``; for recurrent
            models with ``batch_first=True``, ``(seq_len, features)``.
        batch_size: samples per step (activation memory and multiply-adds scale with it).
        dtype: the input's dtype; default the dtype of the model's first floating
            parameter (use "int64" for models that start with an Embedding).

    Example:
        >>> model = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.ReLU(), cr.nn.Linear(3, 2))
        >>> s = cr.explain.summary(model, (4,), batch_size=10)
        >>> s.total_params, s.macs_forward
        (23, 180)
    """
    shape, dtype = _checked_input(model, input_shape, batch_size, dtype, "summary")
    x = Tensor(np.zeros((int(batch_size),) + shape, dtype=dtype))

    calls: list[tuple[str, Any, tuple, Any]] = []
    handles = []
    for name, m in model.named_modules():
        name = name or type(model).__name__
        handles.append(m.register_forward_hook(
            lambda mod, args, out, _n=name: calls.append((_n, mod, args, out))))
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(x)
    except Exception as e:
        raise ValueError(f"summary: the model's forward pass failed on an input of shape "
                         f"{tuple(x.shape)} (batch {batch_size} x input_shape {shape}): {e}") from e
    finally:
        for h in handles:
            h.remove()
        for m, flag in was_training:
            m.training = flag
    return _count(model, _innermost(calls), shape, int(batch_size))


# Layers whose output has their input's shape (and dtype): what summary_from_shapes can
# follow besides Linear.
_SHAPE_KEEPING = (nn.Identity, nn.Dropout, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.GELU,
                  nn.SiLU, nn.ELU, nn.Softplus, nn.Softmax, nn.LogSoftmax)


def summary_from_shapes(model, input_shape, batch_size: int = 1, dtype=None) -> ModelSummary:
    """The table :func:`summary` gives, for a ``Sequential`` of Linear layers and
    shape-keeping layers (activations, Dropout, Identity), counted from shapes alone: no
    forward pass runs and nothing the size of an activation is allocated, and the model's
    parameters may be placeholders that hold no memory (``build_network(...,
    placeholders=True)``), so it answers at once for networks far too large to build. Each
    layer's multiply-adds still come from its own ``forward_macs``.

    Example:
        >>> from chainrule.explain.presets import build_network
        >>> net = build_network([30000, 30000, 10], ["relu", "none"], placeholders=True)
        >>> s = summary_from_shapes(net, (30000,), batch_size=32)
        >>> s.total_params, s.macs_forward
        (900330010, 28809600000)
    """
    shape, dtype = _checked_input(model, input_shape, batch_size, dtype, "summary_from_shapes")
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"summary_from_shapes: expected a Sequential, got "
                        f"{type(model).__name__}; use summary() for other models")
    current = _ShapeOnly((int(batch_size),) + shape, dtype)
    calls = []
    for name, layer in model.named_children():
        if isinstance(layer, nn.Linear):
            if current.shape[-1] != layer.in_features:
                raise ValueError(f"summary_from_shapes: layer {name} (Linear) takes "
                                 f"{layer.in_features} input features, but its input has shape "
                                 f"{current.shape} (batch {batch_size} x input_shape {shape})")
            out = _ShapeOnly(current.shape[:-1] + (layer.out_features,),
                             np.result_type(current.dtype, layer.weight.dtype))
        elif isinstance(layer, _SHAPE_KEEPING):
            out = _ShapeOnly(current.shape, current.dtype)
        else:
            raise TypeError(f"summary_from_shapes: cannot follow the shape through layer "
                            f"{name} ({type(layer).__name__}); use summary(), which runs the model")
        calls.append((name, layer, (current,), out))
        current = out
    return _count(model, calls, shape, int(batch_size))


def _count(model, calls: list[tuple[str, Any, tuple, Any]], shape: tuple,
           batch_size: int) -> ModelSummary:
    """The rows and totals from each leaf layer's call (name, layer, inputs, output)."""
    rows: list[LayerSummary] = []
    seen_params: set[int] = set()
    grad_flows = False           # does this layer's input carry a gradient (a parameter before it)?
    complete = True
    for name, mod, args, out in calls:
        own = [p for p in mod.parameters()]
        new = [p for p in own if id(p) not in seen_params]
        seen_params.update(id(p) for p in own)
        n_params = sum(p.numel() for p in new)
        n_train = sum(p.numel() for p in new if p.requires_grad)
        fwd = mod.forward_macs(args, out)
        has_weights = any(p.requires_grad for p in own)
        if fwd is None:
            bwd = None
            complete = False
        elif has_weights:
            bwd = fwd * (2 if grad_flows else 1)
        else:
            bwd = fwd if grad_flows else 0
        outs = _tensors(out)
        rows.append(LayerSummary(
            name=name, type=type(mod).__name__,
            output_shape=tuple(outs[0].shape) if outs else (),
            params=n_params, trainable=n_train, macs_forward=fwd, macs_backward=bwd,
            activation_bytes=sum(t.numel() * t.dtype.itemsize for t in outs)))
        grad_flows = grad_flows or has_weights
    all_params = list(model.parameters())
    notes = []
    missed = [p for p in all_params if id(p) not in seen_params]
    if missed:
        notes.append(f"Note: {sum(p.numel() for p in missed):,} parameters belong to no "
                     f"layer called in the forward pass and are not in the rows above.")
    if not complete:
        notes.append("Note: '?' marks layers whose multiply-adds chainrule does not count; "
                     "the totals leave them out.")
    return ModelSummary(
        rows=rows, input_shape=shape, batch_size=batch_size,
        total_params=sum(p.numel() for p in all_params),
        trainable_params=sum(p.numel() for p in all_params if p.requires_grad),
        param_bytes=sum(p.numel() * p.dtype.itemsize for p in all_params),
        complete=complete, notes=notes)
