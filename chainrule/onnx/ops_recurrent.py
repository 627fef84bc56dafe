"""ONNX forms of the recurrent sequences: ONNX's own LSTM, GRU and RNN operators.

chainrule records a recurrent layer, per layer and direction, as a Linear (the input part of
every gate for all steps, ``xproj = x W_ih^T + b_ih``) feeding one sequence node (the
recurrence). ONNX's operators take the layer's input ``X`` and both weights themselves, so
the emitter reaches back through the Linear to ``x`` and ``W_ih`` (the Linear's own product
is then unused and dropped from the file). Multi-layer and bidirectional layers are the
same nodes stacked and run in reverse (``direction="reverse"``), their outputs joined as
chainrule joins them.

Gate order. chainrule's rows are PyTorch's: LSTM i, f, g, o; GRU r, z, n. ONNX wants LSTM
i, o, f, c and GRU z, r, h, so the weight and bias rows are regathered in the graph (a
Gather on the parameter's initializer, which onnxruntime folds once at load time, so the
file keeps each parameter once under its own name). GRU's PyTorch formula applies the reset
gate after the hidden product, which is ONNX's ``linear_before_reset=1``.
"""
from __future__ import annotations

import numpy as np

import chainrule.ops.recurrent as recurrent
from chainrule.ops.nn import Linear
from chainrule.onnx.node import Composite
from chainrule.onnx.registry import emitter
from chainrule.tensor import Tensor

# PyTorch's gate blocks in the order ONNX stores them.
_ONNX_GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}


class _LSTMStates(Composite):
    """chainrule's LSTM node output: hidden and cell states at every step, (2, T, B, H)."""

    reason = ("an LSTM's cell states at every step have no ONNX form (ONNX's LSTM gives the "
              "hidden states at every step and the cell state after the last step only)")

    def __init__(self, y: str, y_c: str, reverse: bool):
        self.y, self.y_c, self.reverse = y, y_c, reverse

    def index(self, node, g, key, twin_key) -> str:
        steps, twin_steps = node.shapes(0)[0][1], node.shapes(0)[1][1]
        if _is_int(key) and int(key) == 0:                      # every hidden state
            return g.squeeze(self.y, [1])
        if isinstance(key, tuple) and isinstance(twin_key, tuple) and len(key) == 2 \
                and len(twin_key) == 2 and all(map(_is_int, key + twin_key)) \
                and int(key[0]) == 1 and int(twin_key[0]) == 1:
            last, twin_last = (0, 0) if self.reverse else (steps - 1, twin_steps - 1)
            if int(key[1]) % steps == last and int(twin_key[1]) % twin_steps == twin_last:
                return g.squeeze(self.y_c, [0])                 # the final cell state
        raise node.error(self.reason)


def _is_int(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, bool)


def _setting(node, name: str, position: int, default):
    return node.setting(position, default, name=name)


def _gather_rows(g, weight: str, rows: np.ndarray) -> str:
    return g.op("Gather", [weight, g.ints(rows)], axis=0)


def _inputs(node, g, kind: str, w_hh: int, b_hh: int, mask_at: int):
    """X, W, R and B of ONNX's recurrent operator (W, R, B with a leading direction dim)."""
    mask = _setting(node, "mask", mask_at, None)
    if mask is not None:
        raise node.error("variable-length sequences (lengths=, mask= or a PackedSequence) have "
                         "no ONNX form here; export the model on padded batches without them")
    hidden_shape = node.shapes(w_hh)[0]
    hidden = hidden_shape[1]
    rows = np.concatenate([np.arange(b * hidden, (b + 1) * hidden)
                           for b in _ONNX_GATE_ORDER[kind]])
    linear = node.producer(0)
    if linear is not None and isinstance(linear.fn, Linear) and \
            len(linear.shapes(0)[0]) == 3 and len(linear.shapes(1)[0]) == 2:
        x = linear.input(0, node.dtype)
        w = g.unsqueeze(_gather_rows(g, linear.input(1, node.dtype), rows), [0])
        b_ih = linear.input(2, node.dtype) if linear.arg(2) is not None else None
    else:   # the gates' input part came from elsewhere: feed it through an identity W
        x = node.input(0)
        w = g.constant(np.eye(hidden_shape[0])[rows][None], node.dtype)
        b_ih = None
    r = g.unsqueeze(_gather_rows(g, node.input(w_hh, node.dtype), rows), [0])
    b = ""
    if b_ih is not None or node.arg(b_hh) is not None:
        zeros = g.constant(np.zeros(hidden_shape[0]), node.dtype)
        parts = [zeros if b_ih is None else _gather_rows(g, b_ih, rows),
                 zeros if node.arg(b_hh) is None else _gather_rows(g, node.input(b_hh, node.dtype), rows)]
        b = g.unsqueeze(g.op("Concat", parts, axis=0), [0])
    return x, w, r, b, hidden


def _initial(node, g, i: int) -> str:
    """An initial state as ONNX's (1, B, H), or left out when it is zeros (the default)."""
    if node.is_constant(i):
        values = [a._array if isinstance(a, Tensor) else np.asarray(a)
                  for a in (node.arg(i), node.twin_arg(i))]
        if not any(np.any(v) for v in values):
            return ""
    return g.unsqueeze(node.input(i, node.dtype), [0])


def _direction(node, position: int) -> str:
    return "reverse" if _setting(node, "reverse", position, False) else "forward"


@emitter(recurrent.LSTMSequence)
def _lstm(node, g):     # (xproj, h0, c0, w_hh, b_hh, mask, reverse) -> states (2, T, B, H)
    x, w, r, b, hidden = _inputs(node, g, "LSTM", 3, 4, 5)
    y, _, y_c = g.op("LSTM", [x, w, r, b, "", _initial(node, g, 1), _initial(node, g, 2)],
                     outputs=3, hidden_size=hidden, direction=_direction(node, 6))
    return _LSTMStates(y, y_c, _direction(node, 6) == "reverse")


@emitter(recurrent.GRUSequence)
def _gru(node, g):      # (xproj, h0, w_hh, b_hh, mask, reverse) -> states (T, B, H)
    x, w, r, b, hidden = _inputs(node, g, "GRU", 2, 3, 4)
    y, _ = g.op("GRU", [x, w, r, b, "", _initial(node, g, 1)], outputs=2, hidden_size=hidden,
                direction=_direction(node, 5), linear_before_reset=1)
    return g.squeeze(y, [1])


@emitter(recurrent.RNNSequence)
def _rnn(node, g):      # (xproj, h0, w_hh, b_hh, mask, reverse, nonlinearity) -> (T, B, H)
    x, w, r, b, hidden = _inputs(node, g, "RNN", 2, 3, 4)
    act = _setting(node, "nonlinearity", 6, "tanh")
    y, _ = g.op("RNN", [x, w, r, b, "", _initial(node, g, 1)], outputs=2, hidden_size=hidden,
                direction=_direction(node, 5), activations=["Tanh" if act == "tanh" else "Relu"])
    return g.squeeze(y, [1])
