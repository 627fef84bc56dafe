"""Recurrent layers: RNN, LSTM, GRU (multi-layer, bidirectional) and their single-step cells.

Names, shapes, gate order and initialisation are PyTorch's, so ``state_dict`` keys match one
to one: ``weight_ih_l{k}`` (G*H, in), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}``,
``bias_hh_l{k}`` (G*H,), with a ``_reverse`` suffix for the backward direction, where G is 4
for LSTM (gates i, f, g, o), 3 for GRU (r, z, n) and 1 for RNN; every one starts as
U(-1/sqrt(H), 1/sqrt(H)). A projected LSTM (``proj_size`` P > 0) also has ``weight_hr_l{k}``
(P, H), its hidden state h = W_hr (o tanh(c)) has P features, and ``weight_hh_l{k}`` is (4H, P).

Each layer and direction is one fused primitive (see ``chainrule.ops.recurrent``): the input
projection for all steps in one matrix product, then the recurrence with its own
backpropagation-through-time backward. (A projected LSTM runs its steps as composed engine
operations instead: :func:`projected_lstm_layer`.)

Variable-length batches: pass a :class:`~chainrule.nn.utils.rnn.PackedSequence` (as in
PyTorch), or the padded batch with ``lengths=`` (or a 0/1 ``mask=`` shaped like the first
two dims of the input). Padded steps then leave the state unchanged, the returned final
states are those at each sequence's own last step, the reverse direction starts at each
sequence's own end, and the outputs at padded steps are zero.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from chainrule import ops
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn._factory import param_dtype
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.rnn import PackedSequence, _pack, pad_packed_sequence
from chainrule.ops.recurrent import GATES, lengths_to_mask, recurrent_layer
from chainrule.tensor import Tensor

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class RNNBase(Module):
    """The shared body of RNN, LSTM and GRU; ``mode`` is 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if mode not in GATES:
            raise ValueError(f"{name}: unknown mode {mode!r}; expected one of {sorted(GATES)}")
        self.mode = mode
        self.input_size = _positive_int(f"{name}: input_size", input_size)
        self.hidden_size = _positive_int(f"{name}: hidden_size", hidden_size)
        self.num_layers = _positive_int(f"{name}: num_layers", num_layers)
        if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)) or proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a non-negative integer, got {proj_size!r}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size ({proj_size}) has to be smaller than "
                             f"hidden_size ({hidden_size})")
        self.proj_size = int(proj_size)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout acts between recurrent layers (after all but the "
                          f"last), so dropout={dropout} with num_layers=1 has no effect",
                          stacklevel=3)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        dt = param_dtype(device, dtype)
        gates = GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        state_size = self.proj_size or hidden_size          # the features of h
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else state_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gates, layer_in)), ("weight_hh", (gates, state_size))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (self.proj_size, hidden_size)))
                for kind, shape in shapes:
                    setattr(self, kind + suffix, Parameter(np.empty(shape, dtype=dt)))
                    self._flat_weights_names.append(kind + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """Kept so PyTorch code runs unchanged; there is no fused weight buffer to compact
        here (each layer reads its parameters directly), so nothing needs doing."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction: [[w_ih, w_hh, b_ih, b_hh], ...]
        (and w_hr last for a projected LSTM)."""
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        flat = [getattr(self, n) for n in self._flat_weights_names]
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def _layer_params(self, layer: int, direction: int):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        weights = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        if not self.bias:
            return weights + (None, None)
        return weights + (getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix))

    # ------------------------------------------------------------------ forward
    def _initial_state(self, hx, batch: int, dtype, unbatched: bool):
        """(h0, c0) as (L*D, B, H) tensors or zero arrays (h0's last dim is proj_size for a
        projected LSTM), with PyTorch's shape checks."""
        name = type(self).__name__
        directions = 2 if self.bidirectional else 1
        expected_c = (self.num_layers * directions, batch, self.hidden_size)
        expected_h = expected_c[:2] + (self.proj_size or self.hidden_size,)
        if hx is None:
            return (np.zeros(expected_h, dtype=dtype),
                    np.zeros(expected_c, dtype=dtype) if self.mode == "LSTM" else None)
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            states = list(hx)
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{name}: hx must be a single tensor h_0, got a {type(hx).__name__}")
            states = [hx]
        out = []
        for what, s, expected in zip(("h_0", "c_0"), states, (expected_h, expected_c)):
            s = s if isinstance(s, Tensor) else Tensor(np.asarray(s))
            if unbatched:
                if s.ndim != 2:
                    raise ValueError(f"{name}: for unbatched input {what} must be 2-D "
                                     f"{expected[::2]}, got shape {s.shape}")
                s = s.unsqueeze(1)
            if tuple(s.shape) != expected:
                raise ValueError(f"{name}: expected {what} of shape {expected} "
                                 f"(num_layers * num_directions, batch, hidden_size), got {s.shape}")
            out.append(s)
        return out[0], (out[1] if self.mode == "LSTM" else None)

    def forward(self, input, hx=None, *, lengths=None, mask=None):
        """Run every layer over the sequence.

        ``input``: (T, B, input_size), (B, T, input_size) with ``batch_first``, unbatched
        (T, input_size), or a PackedSequence. ``hx``: h_0 (or (h_0, c_0) for LSTM) of shape
        (num_layers * num_directions, B, hidden_size); zeros when omitted.

        Returns ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``), output of shape
        (T, B, num_directions * hidden_size) (batch_first: (B, T, ...)), or a PackedSequence
        when the input was one.
        """
        name = type(self).__name__
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None or mask is not None:
                raise ValueError(f"{name}: a PackedSequence already carries its lengths; do not "
                                 "pass lengths= or mask= with it")
            x, seq_lengths = pad_packed_sequence(input)          # time-major, original order
            seq_lengths = seq_lengths._array
            unbatched = False
        else:
            x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
            if x.ndim not in (2, 3):
                raise ValueError(f"{name}: expected a 3-D input (seq_len, batch, input_size) or "
                                 f"2-D unbatched (seq_len, input_size), got shape {x.shape}")
            unbatched = x.ndim == 2
            if unbatched:
                x = x.unsqueeze(1)
            elif self.batch_first:
                x = x.transpose(0, 1)
            seq_lengths = lengths
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[-1]} features (shape {x.shape}) but "
                             f"input_size={self.input_size}")
        steps, batch = x.shape[0], x.shape[1]
        step_mask = self._mask(seq_lengths, mask, steps, batch, unbatched)
        h0, c0 = self._initial_state(hx, batch, x.dtype, unbatched)
        output, h_n, c_n = self._run(x, h0, c0, step_mask)
        if packed:
            order = (np.arange(batch) if input.sorted_indices is None
                     else input.sorted_indices._array)
            data, _ = _pack(output, np.asarray(seq_lengths), order)
            output = PackedSequence(data, input.batch_sizes, input.sorted_indices,
                                    input.unsorted_indices)
        elif unbatched:
            output = output.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return (output, (h_n, c_n)) if self.mode == "LSTM" else (output, h_n)

    def _mask(self, lengths, mask, steps: int, batch: int, unbatched: bool):
        """The (T, B, 1) step mask from ``lengths`` or ``mask`` (None when every step is real)."""
        name = type(self).__name__
        if lengths is not None and mask is not None:
            raise ValueError(f"{name}: pass lengths= or mask=, not both")
        if lengths is not None:
            lens = np.asarray(lengths._array if isinstance(lengths, Tensor) else lengths)
            if unbatched:
                lens = lens.reshape(1)
            if lens.shape != (batch,):
                raise ValueError(f"{name}: lengths has shape {lens.shape}, expected ({batch},) "
                                 "(one length per sequence in the batch)")
            return lengths_to_mask(lens, steps)
        if mask is not None:
            m = np.asarray(mask._array if isinstance(mask, Tensor) else mask)
            if unbatched:
                m = m.reshape(-1, 1)
            elif self.batch_first:
                m = m.T
            if m.shape != (steps, batch):
                dims = "batch, seq" if self.batch_first else "seq, batch"
                raise ValueError(f"{name}: mask has shape {np.shape(mask)}, expected the first "
                                 f"two dims of the input ({dims})")
            return (m != 0).astype(np.float32)[:, :, None]
        return None

    def _run(self, x: Tensor, h0, c0, step_mask):
        directions = 2 if self.bidirectional else 1
        h_finals, c_finals = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                k = layer * directions + direction
                w_ih, w_hh, b_ih, b_hh = self._layer_params(layer, direction)
                if self.proj_size:
                    w_hr = getattr(self, f"weight_hr_l{layer}" + ("_reverse" if direction else ""))
                    out, h_n, c_n = projected_lstm_layer(
                        layer_input, h0[k], c0[k], w_ih, w_hh, b_ih, b_hh, w_hr,
                        mask=step_mask, reverse=bool(direction))
                else:
                    out, h_n, c_n = recurrent_layer(
                        self.mode, layer_input, h0[k], None if c0 is None else c0[k],
                        w_ih, w_hh, b_ih, b_hh, mask=step_mask, reverse=bool(direction))
                outs.append(out)
                h_finals.append(h_n)
                c_finals.append(c_n)
            layer_input = outs[0] if directions == 1 else ops.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        h_n = ops.stack(h_finals, 0)
        c_n = ops.stack(c_finals, 0) if self.mode == "LSTM" else None
        return layer_input, h_n, c_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        return s

    def forward_macs(self, inputs: tuple, output) -> int:
        """The gate matrix products: per time step, sample, layer and direction, gates x hidden
        x (input + hidden), with 4 gates for LSTM, 3 for GRU, 1 for RNN (the elementwise gate
        arithmetic is not counted). A packed input counts its real steps only. A projected
        LSTM's state has proj_size P features (in place of hidden ones) and adds P x hidden
        per step for the projection."""
        x = inputs[0].data if isinstance(inputs[0], PackedSequence) else inputs[0]
        steps_samples = x.shape[0] if x.ndim == 2 else x.shape[0] * x.shape[1]  # T, or T * B
        dirs, h = 2 if self.bidirectional else 1, self.hidden_size
        p = self.proj_size or h
        per_step = sum((GATES[self.mode] * h * ((self.input_size if k == 0 else p * dirs) + p)
                        + (p * h if self.proj_size else 0)) * dirs
                       for k in range(self.num_layers))
        return steps_samples * per_step


class RNN(RNNBase):
    """Elman RNN, h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu.

    Example:
        >>> rnn = cr.nn.RNN(10, 20, num_layers=2)
        >>> out, h_n = rnn(cr.randn(5, 3, 10))
        >>> out.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o from x_t and h_{t-1};
    c_t = f c_{t-1} + i g, h_t = o tanh(c_t). Returns ``(output, (h_n, c_n))``.

    Example:
        >>> lstm = cr.nn.LSTM(10, 20, batch_first=True, bidirectional=True)
        >>> out, (h_n, c_n) = lstm(cr.randn(3, 5, 10))
        >>> out.shape, h_n.shape
        ((3, 5, 40), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit: r, z gates; n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),
    h_t = (1 - z) n + z h_{t-1}.

    Example:
        >>> gru = cr.nn.GRU(10, 20)
        >>> out, h_n = gru(cr.randn(5, 3, 10))
        >>> h_n.shape
        (1, 3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


def projected_lstm_layer(x: Tensor, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mask=None,
                         reverse: bool = False):
    """One layer and direction of a projected LSTM over time-major x (T, B, in), composed
    of engine operations step by step (gates i, f, g, o as PyTorch's):

        c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = W_hr (sigmoid(o) tanh(c'))

    Returns ``(output (T, B, P), h_n (B, P), c_n (B, H))``; with ``mask`` (T, B, 1) of 1/0
    padded steps carry the state over and output zeros (as :func:`recurrent_layer`).
    """
    xproj = F.linear(x, w_ih, b_ih)                  # every step's input part, one product
    h = h0 if isinstance(h0, Tensor) else Tensor(h0)
    c = c0 if isinstance(c0, Tensor) else Tensor(c0)
    steps = x.shape[0]
    outputs = [None] * steps
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        i, f, g, o = ops.chunk(xproj[t] + F.linear(h, w_hh, b_hh), 4, 1)
        c_new = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h_new = F.linear(ops.sigmoid(o) * ops.tanh(c_new), w_hr)
        if mask is not None:
            m = mask[t].astype(xproj.dtype)           # (B, 1): 1 real step, 0 padding
            h_new, c_new = h_new * m + h * (1 - m), c_new * m + c * (1 - m)
        h, c = h_new, c_new
        outputs[t] = h
    out = ops.stack(outputs)
    if mask is not None:
        out = out * mask.astype(out.dtype)
    return out, h, c


# ------------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """One step of a recurrent layer, for writing the loop yourself."""

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = _positive_int(f"{name}: input_size", input_size)
        self.hidden_size = _positive_int(f"{name}: hidden_size", hidden_size)
        self.bias = bool(bias)
        dt = param_dtype(device, dtype)
        gates = GATES[self._mode] * hidden_size
        self.weight_ih = Parameter(np.empty((gates, input_size), dtype=dt))
        self.weight_hh = Parameter(np.empty((gates, hidden_size), dtype=dt))
        if bias:
            self.bias_ih = Parameter(np.empty((gates,), dtype=dt))
            self.bias_hh = Parameter(np.empty((gates,), dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _step(self, input, hx):
        name = type(self).__name__
        x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        batch = x.shape[0]
        count = 2 if self._mode == "LSTM" else 1
        if hx is None:
            states = [Tensor(np.zeros((batch, self.hidden_size), dtype=x.dtype))] * count
        else:
            states = list(hx) if count == 2 else [hx]
            if count == 2 and len(states) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h, c)")
            states = [s if isinstance(s, Tensor) else Tensor(np.asarray(s)) for s in states]
            states = [s.unsqueeze(0) if unbatched else s for s in states]
            for s in states:
                if tuple(s.shape) != (batch, self.hidden_size):
                    raise ValueError(f"{name}: hidden state has shape {s.shape}, expected "
                                     f"{(batch, self.hidden_size)}")
        _, h, c = recurrent_layer(self._mode, x.unsqueeze(0), states[0],
                                  states[1] if count == 2 else None, self.weight_ih,
                                  self.weight_hh, self.bias_ih, self.bias_hh)
        if unbatched:
            h = h.squeeze(0)
            c = c.squeeze(0) if c is not None else None
        return (h, c) if count == 2 else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self._mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s

    def forward_macs(self, inputs: tuple, output) -> int:
        """One step of the layer's count: gates x hidden x (input + hidden) per sample."""
        x = inputs[0]
        samples = x.shape[0] if x.ndim == 2 else 1
        return samples * GATES[self._mode] * self.hidden_size * (self.input_size + self.hidden_size)


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu.

    Example:
        >>> cell = cr.nn.RNNCell(10, 20)
        >>> h = cell(cr.randn(3, 10))            # h starts at zeros
        >>> h = cell(cr.randn(3, 10), h)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)


class LSTMCell(RNNCellBase):
    """One LSTM step: (x, (h, c)) -> (h', c').

    Example:
        >>> cell = cr.nn.LSTMCell(10, 20)
        >>> h, c = cell(cr.randn(3, 10))
        >>> h, c = cell(cr.randn(3, 10), (h, c))
    """

    _mode = "LSTM"

    def forward(self, input, hx=None):
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    """One GRU step: (x, h) -> h'.

    Example:
        >>> cell = cr.nn.GRUCell(10, 20)
        >>> h = cell(cr.randn(3, 10))
    """

    _mode = "GRU"

    def forward(self, input, hx=None):
        return self._step(input, hx)
