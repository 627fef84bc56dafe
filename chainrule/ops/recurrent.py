"""Recurrent layers as fused sequence primitives: one graph node per layer and direction.

The input part of every gate does not depend on the state, so it is computed for the whole
sequence by one matrix product beforehand (``xproj = x W_ih^T + b_ih``, a (T, B, G*H) array).
What is left, the recurrence, runs here as one Function whose forward loops over time doing
one (B, H) x (H, G*H) product per step, and whose backward is backpropagation through time:
the same loop in reverse, carrying dL/dh (and dL/dc), with the weight gradient formed after
the loop by a single product over all steps. Memory is the saved activations, linear in T;
nothing recurses, so 10,000 steps backpropagate like 10.

Variable-length batches pass a ``mask`` (T, B) of 1/0: at a masked step the state is carried
over unchanged (and gradients pass straight through it). Run forwards, each sequence's final
state is then the state after its own last step; run in ``reverse`` (t = T-1 .. 0), the
padded steps come first and leave the initial state untouched, so each sequence starts at
its own last element, which is what PyTorch's packed sequences do.

Gate orders and formulas are PyTorch's:

* RNN:  h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu
* LSTM: gates i, f, g, o;  c' = f c + i g,  h' = o tanh(c')
* GRU:  gates r, z, n;  n = tanh(x_n + r (h W_hn^T + b_hn)),  h' = (1 - z) n + z h
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.nn import linear
from chainrule.tensor import Tensor

__all__ = ["LSTMSequence", "GRUSequence", "RNNSequence", "recurrent_layer", "lstm_cell",
           "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "lengths_to_mask"]


def _sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """1/(1+e^-x) into ``out``, through tanh so large |x| cannot overflow."""
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def _steps(n: int, reverse: bool) -> range:
    return range(n - 1, -1, -1) if reverse else range(n)


def _previous(states: np.ndarray, initial: np.ndarray, reverse: bool) -> np.ndarray:
    """The state each step started from, as one (T, B, H) array (for the weight gradient)."""
    prev = np.empty_like(states)
    if reverse:
        prev[-1] = initial
        prev[:-1] = states[1:]
    else:
        prev[0] = initial
        prev[1:] = states[:-1]
    return prev


def _carry(new: np.ndarray, old: np.ndarray, m) -> np.ndarray:
    """new where the step is real, old where it is padding (m is (B, 1) of 1/0)."""
    if m is None:
        return new
    new -= old
    new *= m
    new += old
    return new


def _hidden_weight_grads(dpre: np.ndarray, prev_h: np.ndarray, has_bias: bool):
    """dL/dW_hh = sum_t dpre_t^T h_{t-1} as one product over all steps; dL/db_hh = sum dpre."""
    t, b, gh = dpre.shape
    flat = dpre.reshape(t * b, gh)
    gw = flat.T @ prev_h.reshape(t * b, -1)
    return gw, (flat.sum(axis=0) if has_bias else None)


class RNNSequence(Function):
    """States h_t (T, B, H) of an Elman RNN, given xproj (T, B, H), h0 (B, H), W_hh, b_hh."""

    differentiable_backward = False

    @staticmethod
    def forward(ctx, xproj, h0, w_hh, b_hh, mask=None, reverse=False, nonlinearity="tanh"):
        steps, batch, hidden = xproj.shape
        w_t = np.ascontiguousarray(w_hh.T)
        states = np.empty(xproj.shape, dtype=np.result_type(xproj, h0, w_hh))
        h = h0
        for t in _steps(steps, reverse):
            a = h @ w_t
            a += xproj[t]
            if b_hh is not None:
                a += b_hh
            if nonlinearity == "tanh":
                np.tanh(a, out=a)
            else:
                np.maximum(a, 0, out=a)
            states[t] = _carry(a, h, None if mask is None else mask[t])
            h = states[t]
        ctx.config = (mask, reverse, nonlinearity)
        ctx.save_for_backward(h0, w_hh, states)
        ctx.has_bias = b_hh is not None
        return states

    @staticmethod
    def backward(ctx, g):
        # h_t = act(a_t): da_t = dh_t act'(a_t); dh_{t-1} = da_t W_hh (+ dh_t at padded steps)
        h0, w_hh, states = ctx.saved_tensors
        mask, reverse, nonlinearity = ctx.config
        dpre = np.empty_like(states)
        dh = np.zeros_like(h0, dtype=states.dtype)
        for t in _steps(states.shape[0], not reverse):
            dh = dh + g[t]
            m = None if mask is None else mask[t]
            da = dh if m is None else dh * m
            h = states[t]
            if nonlinearity == "tanh":
                np.multiply(da, 1 - h * h, out=dpre[t])
            else:
                np.multiply(da, h > 0, out=dpre[t])
            nxt = dpre[t] @ w_hh
            if m is not None:
                nxt += dh * (1 - m)
            dh = nxt
        gw, gb = _hidden_weight_grads(dpre, _previous(states, h0, reverse), ctx.has_bias)
        return dpre, dh, gw, gb


class LSTMSequence(Function):
    """States [h_t, c_t] (T, B, 2H) of an LSTM, given xproj (T, B, 4H), h0, c0, W_hh, b_hh."""

    differentiable_backward = False

    @staticmethod
    def forward(ctx, xproj, h0, c0, w_hh, b_hh, mask=None, reverse=False):
        steps, batch, four_h = xproj.shape
        hid = four_h // 4
        w_t = np.ascontiguousarray(w_hh.T)
        dtype = np.result_type(xproj, h0, c0, w_hh)
        states = np.empty((steps, batch, 2 * hid), dtype=dtype)
        acts = np.empty((steps, batch, four_h), dtype=dtype)
        h, c = h0, c0
        for t in _steps(steps, reverse):
            pre = h @ w_t
            pre += xproj[t]
            if b_hh is not None:
                pre += b_hh
            a = acts[t]
            _sigmoid(pre[:, :2 * hid], a[:, :2 * hid])          # i, f
            np.tanh(pre[:, 2 * hid:3 * hid], out=a[:, 2 * hid:3 * hid])   # g
            _sigmoid(pre[:, 3 * hid:], a[:, 3 * hid:])           # o
            i, f, gg, o = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:3 * hid], a[:, 3 * hid:]
            m = None if mask is None else mask[t]
            c_new = _carry(f * c + i * gg, c, m)
            h_new = _carry(o * np.tanh(c_new), h, m)
            states[t, :, :hid] = h_new
            states[t, :, hid:] = c_new
            h, c = states[t, :, :hid], states[t, :, hid:]
        ctx.config = (mask, reverse)
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(h0, c0, w_hh, states, acts)
        return states

    @staticmethod
    def backward(ctx, g):
        # c = f c_prev + i g, h = o tanh(c):
        #   do = dh tanh(c);  dc += dh o (1 - tanh^2 c);  di = dc g;  df = dc c_prev;  dg = dc i
        #   pre-activation grads: sigmoid' = s (1 - s), tanh' = 1 - t^2
        #   dh_prev = dpre W_hh;  dc_prev = dc f  (plus the carried gradient at padded steps)
        h0, c0, w_hh, states, acts = ctx.saved_tensors
        mask, reverse = ctx.config
        steps = states.shape[0]
        hid = h0.shape[1]
        dpre = np.empty_like(acts)
        dh = np.zeros(h0.shape, dtype=states.dtype)
        dc = np.zeros(h0.shape, dtype=states.dtype)
        for t in _steps(steps, not reverse):
            dh = dh + g[t, :, :hid]
            dc = dc + g[t, :, hid:]
            k = t + 1 if reverse else t - 1
            c_prev = c0 if k < 0 or k >= steps else states[k, :, hid:]
            m = None if mask is None else mask[t]
            dhm, dcm = (dh, dc) if m is None else (dh * m, dc * m)
            a = acts[t]
            i, f, gg, o = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:3 * hid], a[:, 3 * hid:]
            tc = np.tanh(states[t, :, hid:])
            dct = dcm + dhm * o * (1 - tc * tc)
            d = dpre[t]
            np.multiply(dct * gg, i * (1 - i), out=d[:, :hid])
            np.multiply(dct * c_prev, f * (1 - f), out=d[:, hid:2 * hid])
            np.multiply(dct * i, 1 - gg * gg, out=d[:, 2 * hid:3 * hid])
            np.multiply(dhm * tc, o * (1 - o), out=d[:, 3 * hid:])
            new_dh = d @ w_hh
            new_dc = dct * f
            if m is not None:
                new_dh += dh * (1 - m)
                new_dc += dc * (1 - m)
            dh, dc = new_dh, new_dc
        prev_h = _previous(states[:, :, :hid], h0, reverse)
        gw, gb = _hidden_weight_grads(dpre, prev_h, ctx.has_bias)
        return dpre, dh, dc, gw, gb


class GRUSequence(Function):
    """States h_t (T, B, H) of a GRU, given xproj (T, B, 3H), h0 (B, H), W_hh, b_hh."""

    differentiable_backward = False

    @staticmethod
    def forward(ctx, xproj, h0, w_hh, b_hh, mask=None, reverse=False):
        steps, batch, three_h = xproj.shape
        hid = three_h // 3
        w_t = np.ascontiguousarray(w_hh.T)
        dtype = np.result_type(xproj, h0, w_hh)
        states = np.empty((steps, batch, hid), dtype=dtype)
        acts = np.empty((steps, batch, three_h), dtype=dtype)      # r, z, n
        hidden_n = np.empty((steps, batch, hid), dtype=dtype)      # h W_hn^T + b_hn
        h = h0
        for t in _steps(steps, reverse):
            hp = h @ w_t
            if b_hh is not None:
                hp += b_hh
            xp = xproj[t]
            a = acts[t]
            _sigmoid(xp[:, :2 * hid] + hp[:, :2 * hid], a[:, :2 * hid])
            hidden_n[t] = hp[:, 2 * hid:]
            r, z = a[:, :hid], a[:, hid:2 * hid]
            n = a[:, 2 * hid:]
            np.tanh(xp[:, 2 * hid:] + r * hp[:, 2 * hid:], out=n)
            h_new = n + z * (h - n)
            states[t] = _carry(h_new, h, None if mask is None else mask[t])
            h = states[t]
        ctx.config = (mask, reverse)
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(h0, w_hh, states, acts, hidden_n)
        return states

    @staticmethod
    def backward(ctx, g):
        # h = n + z (h_prev - n):  dn = dh (1 - z),  dz = dh (h_prev - n),  dh_prev = dh z + ...
        # n = tanh(x_n + r hn):    dan = dn (1 - n^2);  dx_n = dan;  dhn = dan r;  dr = dan hn
        # r, z sigmoids:           dar = dr r (1 - r),  daz = dz z (1 - z)
        h0, w_hh, states, acts, hidden_n = ctx.saved_tensors
        mask, reverse = ctx.config
        steps = states.shape[0]
        hid = h0.shape[1]
        dx = np.empty_like(acts)
        dhp = np.empty_like(acts)
        dh = np.zeros(h0.shape, dtype=states.dtype)
        for t in _steps(steps, not reverse):
            dh = dh + g[t]
            k = t + 1 if reverse else t - 1
            h_prev = h0 if k < 0 or k >= steps else states[k]
            m = None if mask is None else mask[t]
            dhm = dh if m is None else dh * m
            a = acts[t]
            r, z, n = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:]
            dan = dhm * (1 - z) * (1 - n * n)
            d = dx[t]
            np.multiply(dan * hidden_n[t], r * (1 - r), out=d[:, :hid])
            np.multiply(dhm * (h_prev - n), z * (1 - z), out=d[:, hid:2 * hid])
            d[:, 2 * hid:] = dan
            e = dhp[t]
            e[:, :2 * hid] = d[:, :2 * hid]
            np.multiply(dan, r, out=e[:, 2 * hid:])
            new_dh = e @ w_hh
            new_dh += dhm * z
            if m is not None:
                new_dh += dh * (1 - m)
            dh = new_dh
        gw, gb = _hidden_weight_grads(dhp, _previous(states, h0, reverse), ctx.has_bias)
        return dx, dh, gw, gb


# ------------------------------------------------------------------------ public forms
GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def lengths_to_mask(lengths, steps: int, dtype=np.float32) -> np.ndarray:
    """(T, B, 1) of 1.0 where t < lengths[b], else 0.0."""
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"lengths must be a 1-D sequence of ints, got {lengths!r}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(f"lengths must lie in 1..{steps} (the padded length), "
                         f"got min {lengths.min()} and max {lengths.max()}")
    return (np.arange(steps)[:, None] < lengths[None, :]).astype(dtype)[:, :, None]


def recurrent_layer(mode: str, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, mask=None,
                    reverse: bool = False):
    """One layer, one direction, over a time-major input x (T, B, in).

    Returns ``(output, h_n, c_n)``: output (T, B, H) (zero at padded steps when ``mask`` is
    given), the final hidden state (B, H) and, for ``mode="LSTM"``, the final cell state
    (else None). ``mask`` is (T, B, 1) of 1/0 (see :func:`lengths_to_mask`).

    Example:
        >>> h, hn, cn = recurrent_layer("LSTM", x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    """
    xproj = linear(x, w_ih, b_ih)                    # every step's input part, one product
    m = None if mask is None else mask.astype(xproj.dtype, copy=False)
    last = 0 if reverse else x.shape[0] - 1
    if mode == "LSTM":
        hid = w_hh.shape[1]
        states = LSTMSequence.apply(xproj, h0, c0, w_hh, b_hh, mask=m, reverse=reverse)
        out = states[:, :, :hid]
        final = states[last]
        h_n, c_n = final[:, :hid], final[:, hid:]
    elif mode == "GRU":
        out = GRUSequence.apply(xproj, h0, w_hh, b_hh, mask=m, reverse=reverse)
        h_n, c_n = out[last], None
    elif mode in ("RNN_TANH", "RNN_RELU"):
        out = RNNSequence.apply(xproj, h0, w_hh, b_hh, mask=m, reverse=reverse,
                                nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
        h_n, c_n = out[last], None
    else:
        raise ValueError(f"recurrent_layer: mode must be one of {sorted(GATES)}, got {mode!r}")
    if m is not None:
        out = out * Tensor(m)
    return out, h_n, c_n


def _cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    out, h_n, c_n = recurrent_layer(mode, x.unsqueeze(0), h, c, w_ih, w_hh, b_ih, b_hh)
    return h_n if c_n is None else (h_n, c_n)


def lstm_cell(x, hx: tuple, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: x (B, in), hx = (h, c) each (B, H) -> (h', c').

    Example:
        >>> h, c = lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("LSTM", x, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh)


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: x (B, in), h (B, H) -> h'.

    Example:
        >>> h = gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("GRU", x, h, None, w_ih, w_hh, b_ih, b_hh)


def rnn_tanh_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Example:
        >>> h = rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("RNN_TANH", x, h, None, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step with relu, h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Example:
        >>> h = rnn_relu_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("RNN_RELU", x, h, None, w_ih, w_hh, b_ih, b_hh)
