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

Second derivatives differentiate each sequence's ``reference``: the same recurrence written
step by step with engine operations (one graph node per gate operation per step).

Gate orders and formulas are PyTorch's:

* RNN:  h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu
* LSTM: gates i, f, g, o;  c' = f c + i g,  h' = o tanh(c')
* GRU:  gates r, z, n;  n = tanh(x_n + r (h W_hn^T + b_hn)),  h' = (1 - z) n + z h
"""
from __future__ import annotations

import numpy as np

from chainrule.backend import ArgumentError
from chainrule.autograd import Function
from chainrule.ops.elementwise import relu, sigmoid, tanh
from chainrule.ops.linalg import matmul
from chainrule.ops.nn import linear
from chainrule.ops.registry import S, op
from chainrule.ops.shape import chunk, stack
from chainrule.tensor import Tensor

__all__ = ["LSTMSequence", "GRUSequence", "RNNSequence", "recurrent_layer", "lstm_cell",
           "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "lengths_to_mask"]


# How the loops are made fast. Per time step the arrays are small ((B, G*H)), so the cost
# is the number of NumPy passes, not their size, and transcendental functions (about 20x a
# multiply) dominate what is not the matrix product. So:
#   * everything that does not depend on the state is done once for the whole sequence
#     before the loop (the hidden bias is folded into the input projection);
#   * the sigmoid gates are computed as 1 / (1 + exp(-z)) (one exp, one add, one reciprocal,
#     about 40% cheaper than through tanh); the minus sign is folded into the weights and the
#     projection beforehand, so the step starts from -z directly. The LSTM's tanh gate g uses
#     the same pass, as tanh(z) = 2 / (1 + exp(-2z)) - 1, fixed up on its quarter;
#   * every per-step result is written with ``out=`` into preallocated arrays, no temporaries;
#   * backward skips the per-step addition of the incoming gradient where it is zero (a head
#     on the last step only), and forms the weight gradient after the loop by two products
#     over all steps, without copying the previous states.
# exp may overflow to inf for very negative gates; 1 / (1 + inf) = 0 is the right limit,
# so that warning is silenced around the loops.


def _steps(n: int, reverse: bool) -> range:
    return range(n - 1, -1, -1) if reverse else range(n)


def _carry(new: np.ndarray, old: np.ndarray, m) -> np.ndarray:
    """new where the step is real, old where it is padding (m is (B, 1) of 1/0)."""
    if m is None:
        return new
    new -= old
    new *= m
    new += old
    return new


def _gate_scale(gates: int, hid: int, dtype, tanh_gate: int | None, tanh_factor: float):
    """Per-column factors applied to the gate pre-activations before the loop: -1 for a
    sigmoid gate (the loop takes exp directly), ``tanh_factor`` for the tanh gate."""
    scale = np.full(gates * hid, -1.0, dtype=dtype)
    if tanh_gate is not None:
        scale[tanh_gate * hid:(tanh_gate + 1) * hid] = tanh_factor
    return scale


def _prepared_input(xproj: np.ndarray, b_hh, scale, dtype, bias_cols=None) -> np.ndarray:
    """(xproj + b_hh) * scale as a new array: the whole sequence's part of every gate."""
    xs = np.multiply(xproj, scale, dtype=dtype)
    if b_hh is not None:
        if bias_cols is None:
            xs += b_hh * scale
        else:
            xs[..., bias_cols] += b_hh[bias_cols] * scale[bias_cols]
    return xs


def _nonzero_steps(g: np.ndarray) -> np.ndarray:
    """Which steps of a (T, B, H) gradient hold anything (one pass)."""
    return g.reshape(g.shape[0], -1).any(axis=1)


def _sigmoid_from_neg(a: np.ndarray) -> None:
    """a holds -z; replace it with sigmoid(z) = 1 / (1 + exp(-z)) in three passes."""
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


def _hidden_weight_grads(dpre: np.ndarray, states: np.ndarray, h0: np.ndarray, reverse: bool,
                         has_bias: bool):
    """dL/dW_hh = sum_t dpre_t^T h_{t-1} and dL/db_hh = sum_t dpre_t. The state before step t
    is ``states`` one step back (h0 at the first step), so the sum is one product over the
    steps that have a predecessor in ``states`` plus one for the first step."""
    t, b, gh = dpre.shape
    if reverse:
        rest, first, prev = dpre[:-1], dpre[-1], states[1:]
    else:
        rest, first, prev = dpre[1:], dpre[0], states[:-1]
    gw = first.T @ h0
    if t > 1:
        gw += rest.reshape(-1, gh).T @ prev.reshape(-1, prev.shape[-1])
    gb = np.ones(t * b, dtype=dpre.dtype) @ dpre.reshape(t * b, gh) if has_bias else None
    return gw, gb


class RNNSequence(Function):
    """States h_t (T, B, H) of an Elman RNN, given xproj (T, B, H), h0 (B, H), W_hh, b_hh."""

    @staticmethod
    def forward(ctx, xproj, h0, w_hh, b_hh, mask=None, reverse=False, nonlinearity="tanh"):
        dtype = np.result_type(xproj, h0, w_hh)
        w_t = np.ascontiguousarray(w_hh.T, dtype=dtype)
        xs = xproj + b_hh if b_hh is not None else xproj
        states = np.empty(xproj.shape, dtype=dtype)
        h = h0
        for t in _steps(xproj.shape[0], reverse):
            a = states[t]
            np.matmul(h, w_t, out=a)
            a += xs[t]
            if nonlinearity == "tanh":
                np.tanh(a, out=a)
            else:
                np.maximum(a, 0, out=a)
            _carry(a, h, None if mask is None else mask[t])
            h = a
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
        live = _nonzero_steps(g)
        dh = np.zeros(h0.shape, dtype=states.dtype)
        nxt = np.empty_like(dh)
        for t in _steps(states.shape[0], not reverse):
            if live[t]:
                dh += g[t]
            m = None if mask is None else mask[t]
            d, h = dpre[t], states[t]
            if nonlinearity == "tanh":
                np.multiply(h, h, out=d)
                np.subtract(1, d, out=d)
                d *= dh
            else:
                np.greater(h, 0, out=d)
                d *= dh
            if m is not None:
                d *= m
            np.matmul(d, w_hh, out=nxt)
            if m is not None:
                nxt += dh * (1 - m)
            dh, nxt = nxt, dh
        gw, gb = _hidden_weight_grads(dpre, states, h0, reverse, ctx.has_bias)
        return dpre, dh, gw, gb


    @staticmethod
    def reference(xproj, h0, w_hh, b_hh, mask=None, reverse=False, nonlinearity="tanh"):
        act = tanh if nonlinearity == "tanh" else relu
        states, h = [None] * xproj.shape[0], h0
        for t in _steps(xproj.shape[0], reverse):
            a = xproj[t] + _hidden_part(h, w_hh, b_hh)
            h = _carried(act(a), h, mask, t)
            states[t] = h
        return stack(states)


class LSTMSequence(Function):
    """States (2, T, B, H) of an LSTM: [h_t for every t], [c_t for every t], given
    xproj (T, B, 4H), h0, c0 (B, H), W_hh (4H, H), b_hh."""

    @staticmethod
    def forward(ctx, xproj, h0, c0, w_hh, b_hh, mask=None, reverse=False):
        steps, batch, four_h = xproj.shape
        hid = four_h // 4
        dtype = np.result_type(xproj, h0, c0, w_hh)
        scale = _gate_scale(4, hid, dtype, 2, -2.0)          # -z for i, f, o; -2z for g
        w_t = np.ascontiguousarray(w_hh.T * scale, dtype=dtype)
        xs = _prepared_input(xproj, b_hh, scale, dtype)
        states = np.empty((2, steps, batch, hid), dtype=dtype)
        acts = np.empty((steps, batch, four_h), dtype=dtype)     # i, f, g, o
        tanh_c = np.empty((steps, batch, hid), dtype=dtype)
        ig = np.empty((batch, hid), dtype=dtype)
        h, c = h0, c0
        with np.errstate(over="ignore"):
            for t in _steps(steps, reverse):
                a = acts[t]
                np.matmul(h, w_t, out=a)
                a += xs[t]
                _sigmoid_from_neg(a)                             # all four: 1 / (1 + e^-z')
                i, f, gg, o = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:3 * hid], a[:, 3 * hid:]
                gg *= 2                                          # tanh(z) = 2 sigmoid(2z) - 1
                gg -= 1
                c_new, h_new = states[1, t], states[0, t]
                np.multiply(f, c, out=c_new)                     # c' = f c + i g
                np.multiply(i, gg, out=ig)
                c_new += ig
                np.tanh(c_new, out=tanh_c[t])
                np.multiply(o, tanh_c[t], out=h_new)             # h' = o tanh(c')
                if mask is not None:
                    _carry(c_new, c, mask[t])
                    _carry(h_new, h, mask[t])
                h, c = h_new, c_new
        ctx.config = (mask, reverse)
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(h0, c0, w_hh, states, acts, tanh_c)
        return states

    @staticmethod
    def backward(ctx, g):
        # c = f c_prev + i g, h = o tanh(c):
        #   do = dh tanh(c);  dc += dh o (1 - tanh^2 c);  di = dc g;  df = dc c_prev;  dg = dc i
        #   pre-activation grads: sigmoid' = s (1 - s), tanh' = 1 - t^2
        #   dh_prev = dpre W_hh;  dc_prev = dc f  (plus the carried gradient at padded steps)
        h0, c0, w_hh, states, acts, tanh_c = ctx.saved_tensors
        mask, reverse = ctx.config
        steps, batch, four_h = acts.shape
        hid = four_h // 4
        gh, gc = g[0], g[1]
        live_h, live_c = _nonzero_steps(gh), _nonzero_steps(gc)
        dpre = np.empty_like(acts)
        deriv = np.empty((batch, four_h), dtype=acts.dtype)
        dh = np.zeros((batch, hid), dtype=acts.dtype)
        dc = np.zeros_like(dh)
        new_dh, dct = np.empty_like(dh), np.empty_like(dh)
        for t in _steps(steps, not reverse):
            if live_h[t]:
                dh += gh[t]
            if live_c[t]:
                dc += gc[t]
            k = t + 1 if reverse else t - 1
            c_prev = c0 if k < 0 or k >= steps else states[1, k]
            m = None if mask is None else mask[t]
            dhm, dcm = (dh, dc) if m is None else (dh * m, dc * m)
            a, d, tc = acts[t], dpre[t], tanh_c[t]
            i, f, gg, o = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:3 * hid], a[:, 3 * hid:]
            np.multiply(dhm, tc, out=d[:, 3 * hid:])                     # do
            np.multiply(tc, tc, out=dct)                     # dc_t = dc + dh o (1 - tc^2)
            np.subtract(1, dct, out=dct)
            dct *= o
            dct *= dhm
            dct += dcm
            np.multiply(dct, gg, out=d[:, :hid])                         # di
            np.multiply(dct, c_prev, out=d[:, hid:2 * hid])              # df
            np.multiply(dct, i, out=d[:, 2 * hid:3 * hid])               # dg
            np.multiply(a, a, out=deriv)                                 # s - s^2 for i, f, o
            np.subtract(a, deriv, out=deriv)
            dg_deriv = deriv[:, 2 * hid:3 * hid]                         # 1 - g^2 for g
            dg_deriv += 1
            dg_deriv -= gg
            d *= deriv
            np.matmul(d, w_hh, out=new_dh)
            if m is None:
                np.multiply(dct, f, out=dc)
            else:
                carried = dc * (1 - m)
                np.multiply(dct, f, out=dc)
                dc += carried
                new_dh += dh * (1 - m)
            dh, new_dh = new_dh, dh
        gw, gb = _hidden_weight_grads(dpre, states[0], h0, reverse, ctx.has_bias)
        return dpre, dh, dc, gw, gb


    @staticmethod
    def reference(xproj, h0, c0, w_hh, b_hh, mask=None, reverse=False):
        hs, cs = [None] * xproj.shape[0], [None] * xproj.shape[0]
        h, c = h0, c0
        for t in _steps(xproj.shape[0], reverse):
            i, f, g, o = chunk(xproj[t] + _hidden_part(h, w_hh, b_hh), 4, 1)
            c_new = sigmoid(f) * c + sigmoid(i) * tanh(g)
            h_new = sigmoid(o) * tanh(c_new)
            h, c = _carried(h_new, h, mask, t), _carried(c_new, c, mask, t)
            hs[t], cs[t] = h, c
        return stack([stack(hs), stack(cs)])


class GRUSequence(Function):
    """States h_t (T, B, H) of a GRU, given xproj (T, B, 3H), h0 (B, H), W_hh, b_hh."""

    @staticmethod
    def forward(ctx, xproj, h0, w_hh, b_hh, mask=None, reverse=False):
        steps, batch, three_h = xproj.shape
        hid = three_h // 3
        dtype = np.result_type(xproj, h0, w_hh)
        scale = _gate_scale(3, hid, dtype, 2, 1.0)           # -z for r, z; n stays as is
        w_t = np.ascontiguousarray(w_hh.T * scale, dtype=dtype)
        # b_hn sits inside r * (h W_hn^T + b_hn), so only the r, z part folds into xs.
        xs = _prepared_input(xproj, b_hh, scale, dtype, bias_cols=slice(0, 2 * hid))
        b_hn = None if b_hh is None else b_hh[2 * hid:]
        states = np.empty((steps, batch, hid), dtype=dtype)
        acts = np.empty((steps, batch, three_h), dtype=dtype)      # r, z, n
        hidden_n = np.empty((steps, batch, hid), dtype=dtype)      # h W_hn^T + b_hn
        hp = np.empty((batch, three_h), dtype=dtype)
        h = h0
        with np.errstate(over="ignore"):
            for t in _steps(steps, reverse):
                np.matmul(h, w_t, out=hp)
                a, x_t = acts[t], xs[t]
                rz = a[:, :2 * hid]
                np.add(hp[:, :2 * hid], x_t[:, :2 * hid], out=rz)
                _sigmoid_from_neg(rz)
                r, z, n = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:]
                hn = hidden_n[t]
                if b_hn is None:
                    np.copyto(hn, hp[:, 2 * hid:])
                else:
                    np.add(hp[:, 2 * hid:], b_hn, out=hn)
                np.multiply(r, hn, out=n)                          # n = tanh(x_n + r hn)
                n += x_t[:, 2 * hid:]
                np.tanh(n, out=n)
                h_new = states[t]                                  # h' = n + z (h - n)
                np.subtract(h, n, out=h_new)
                h_new *= z
                h_new += n
                _carry(h_new, h, None if mask is None else mask[t])
                h = h_new
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
        steps, batch, three_h = acts.shape
        hid = three_h // 3
        live = _nonzero_steps(g)
        dx = np.empty_like(acts)
        dhp = np.empty_like(acts)
        dh = np.zeros((batch, hid), dtype=acts.dtype)
        new_dh, dn, tmp = np.empty_like(dh), np.empty_like(dh), np.empty_like(dh)
        for t in _steps(steps, not reverse):
            if live[t]:
                dh += g[t]
            k = t + 1 if reverse else t - 1
            h_prev = h0 if k < 0 or k >= steps else states[k]
            m = None if mask is None else mask[t]
            dhm = dh if m is None else dh * m
            a, d, e = acts[t], dx[t], dhp[t]
            r, z, n = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:]
            dar, daz, dan = d[:, :hid], d[:, hid:2 * hid], d[:, 2 * hid:]
            np.subtract(1, z, out=dn)                              # dn = dh (1 - z)
            dn *= dhm
            np.multiply(n, n, out=dan)                             # dan = dn (1 - n^2)
            np.subtract(1, dan, out=dan)
            dan *= dn
            np.subtract(h_prev, n, out=daz)                        # daz = dh (h_prev - n) z (1 - z)
            daz *= z
            daz *= dn
            np.multiply(dan, hidden_n[t], out=dar)                 # dar = dan hn r (1 - r)
            np.subtract(1, r, out=tmp)
            tmp *= r
            dar *= tmp
            e[:, :2 * hid] = d[:, :2 * hid]
            np.multiply(dan, r, out=e[:, 2 * hid:])
            np.matmul(e, w_hh, out=new_dh)
            np.multiply(dhm, z, out=tmp)
            new_dh += tmp
            if m is not None:
                new_dh += dh * (1 - m)
            dh, new_dh = new_dh, dh
        gw, gb = _hidden_weight_grads(dhp, states, h0, reverse, ctx.has_bias)
        return dx, dh, gw, gb


    @staticmethod
    def reference(xproj, h0, w_hh, b_hh, mask=None, reverse=False):
        states, h = [None] * xproj.shape[0], h0
        for t in _steps(xproj.shape[0], reverse):
            xr, xz, xn = chunk(xproj[t], 3, 1)
            hr, hz, hn = chunk(_hidden_part(h, w_hh, b_hh), 3, 1)
            r, z = sigmoid(xr + hr), sigmoid(xz + hz)
            n = tanh(xn + r * hn)
            h = _carried((1 - z) * n + z * h, h, mask, t)
            states[t] = h
        return stack(states)


def _hidden_part(h, w_hh, b_hh):
    """h W_hh^T + b_hh, recorded (for the references)."""
    out = matmul(h, w_hh.mT)
    return out if b_hh is None else out + b_hh


def _carried(new, old, mask, t: int):
    """new at real steps, old at padded ones (mask[t] is (B, 1) of 1/0), recorded."""
    if mask is None:
        return new
    m = mask[t]
    return new * m + old * (1 - m)


# ------------------------------------------------------------------------ public forms
GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def lengths_to_mask(lengths, steps: int, dtype=np.float32) -> np.ndarray:
    """(T, B, 1) of 1.0 where t < lengths[b], else 0.0."""
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ArgumentError(f"lengths must be a 1-D sequence of ints, got {lengths!r}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > steps):
        raise ArgumentError(f"lengths must lie in 1..{steps} (the padded length), "
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
        states = LSTMSequence.apply(xproj, h0, c0, w_hh, b_hh, mask=m, reverse=reverse)
        out = states[0]
        h_n, c_n = out[last], states[1, last]
    elif mode == "GRU":
        out = GRUSequence.apply(xproj, h0, w_hh, b_hh, mask=m, reverse=reverse)
        h_n, c_n = out[last], None
    elif mode in ("RNN_TANH", "RNN_RELU"):
        out = RNNSequence.apply(xproj, h0, w_hh, b_hh, mask=m, reverse=reverse,
                                nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
        h_n, c_n = out[last], None
    else:
        raise ArgumentError(f"recurrent_layer: mode must be one of {sorted(GATES)}, got {mode!r}")
    if m is not None:
        out = out * Tensor(m)
    return out, h_n, c_n


def _cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    out, h_n, c_n = recurrent_layer(mode, x.unsqueeze(0), h, c, w_ih, w_hh, b_ih, b_hh)
    return h_n if c_n is None else (h_n, c_n)


def _cell_samples(gates: int, with_c: bool):
    def samples(s):
        h = s.real(3, 4)
        hx = (h, s.real(3, 4)) if with_c else h
        return [S(s.real(3, 2), hx, s.real(gates * 4, 2), s.real(gates * 4, 4),
                  s.real(gates * 4), s.real(gates * 4)),
                S(s.real(2, 2), (s.real(2, 4), s.real(2, 4)) if with_c else s.real(2, 4),
                  s.real(gates * 4, 2), s.real(gates * 4, 4))]
    return samples


@op(method=False, dtypes="floating", samples=_cell_samples(4, True))
def lstm_cell(x, hx: tuple, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: x (B, in), hx = (h, c) each (B, H) -> (h', c').

    Example:
        >>> h, c = lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("LSTM", x, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh)


@op(method=False, dtypes="floating", samples=_cell_samples(3, False))
def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: x (B, in), h (B, H) -> h'.

    Example:
        >>> h = gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("GRU", x, h, None, w_ih, w_hh, b_ih, b_hh)


@op(method=False, dtypes="floating", samples=_cell_samples(1, False))
def rnn_tanh_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Example:
        >>> h = rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("RNN_TANH", x, h, None, w_ih, w_hh, b_ih, b_hh)


@op(method=False, dtypes="floating", samples=_cell_samples(1, False))
def rnn_relu_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step with relu, h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Example:
        >>> h = rnn_relu_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    """
    return _cell("RNN_RELU", x, h, None, w_ih, w_hh, b_ih, b_hh)
