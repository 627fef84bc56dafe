"""Recurrent layers: gradient checks of the fused sequence primitives and of multi-layer
bidirectional layers (float64), agreement with PyTorch (values and gradients, packed and
variable-length batches, cells), sequence utilities, long sequences, and errors."""
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence,
                                    pad_packed_sequence, pad_sequence, unpack_sequence,
                                    unpad_sequence)
from chainrule.ops.recurrent import lengths_to_mask, recurrent_layer

MODES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def leaf(rng, *shape, scale=1.0):
    return cr.tensor(rng.standard_normal(shape) * scale, requires_grad=True)


# ------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [4, 2, 1]])
def test_sequence_primitive_gradcheck(rng, mode, reverse, lengths):
    """Every input of one layer-direction (x, h0, c0, weights, biases), with and without a
    length mask, forwards and in reverse."""
    run, inputs = _layer_direction(rng, mode, reverse, lengths, steps=4, batch=3)
    assert cr.gradcheck(run, inputs)


def _layer_direction(rng, mode, reverse, lengths, steps, batch, inp=2, hid=2):
    """(run, inputs): one layer-direction as a function of its leaves x, h0, c0, w_ih,
    w_hh, b_ih, b_hh (c0 requires no grad except for the LSTM)."""
    gates = MODES[mode] * hid
    inputs = [leaf(rng, steps, batch, inp), leaf(rng, batch, hid), leaf(rng, batch, hid),
              leaf(rng, gates, inp, scale=0.7), leaf(rng, gates, hid, scale=0.7),
              leaf(rng, gates, scale=0.5), leaf(rng, gates, scale=0.5)]
    mask = None if lengths is None else lengths_to_mask(lengths, steps, np.float64)
    if mode != "LSTM":
        inputs[2].requires_grad = False

    def run(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        out, h_n, c_n = recurrent_layer(mode, x, h0, c0 if mode == "LSTM" else None,
                                        w_ih, w_hh, b_ih, b_hh, mask=mask, reverse=reverse)
        return (out, h_n) + ((c_n,) if mode == "LSTM" else ())
    return run, inputs


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("reverse,lengths", [(False, None), (True, [3, 1])])
def test_sequence_primitive_second_derivatives(rng, mode, reverse, lengths):
    """create_graph through a fused sequence differentiates its reference recurrence: the
    first derivative equals the fast rule's, and gradgradcheck passes on every input."""
    run, inputs = _layer_direction(rng, mode, reverse, lengths, steps=3, batch=2)
    outs = run(*inputs)
    ws = [cr.tensor(rng.standard_normal(o.shape)) for o in outs]
    used = [t for t in inputs if t.requires_grad]
    plain = cr.grad(list(outs), used, ws, retain_graph=True)
    graph = cr.grad(list(outs), used, ws, create_graph=True)
    for p, g in zip(plain, graph):
        np.testing.assert_allclose(g.numpy(), p.numpy(), rtol=1e-10, atol=1e-12)
        assert g.requires_grad
    assert cr.gradgradcheck(run, inputs)


@pytest.mark.parametrize("make", [
    lambda: nn.LSTM(2, 2, num_layers=2, bidirectional=True),
    lambda: nn.GRU(2, 2, num_layers=2, bidirectional=True, batch_first=True),
    lambda: nn.RNN(2, 2, num_layers=2, nonlinearity="relu", bidirectional=True, bias=False),
])
def test_multilayer_bidirectional_gradcheck(rng, make):
    model = make().double()
    params = list(model.parameters())
    x = leaf(rng, 3, 2, 2)                                     # (T, B, in) or (B, T, in)
    h0 = leaf(rng, 4, 3 if model.batch_first else 2, 2)        # (layers * directions, B, H)

    def run(x, h0, *ps):
        hx = (h0, h0 * 0.5) if model.mode == "LSTM" else h0
        out, h_n = model(x, hx)
        return (out,) + (tuple(h_n) if model.mode == "LSTM" else (h_n,))
    assert cr.gradcheck(run, (x, h0, *params))


def test_cells_gradcheck(rng):
    x, h, c = leaf(rng, 3, 2), leaf(rng, 3, 2), leaf(rng, 3, 2)
    for cell in (nn.LSTMCell(2, 2), nn.GRUCell(2, 2), nn.RNNCell(2, 2, nonlinearity="tanh")):
        cell.double()
        params = list(cell.parameters())
        if isinstance(cell, nn.LSTMCell):
            assert cr.gradcheck(lambda x, h, c, *ps: cell(x, (h, c)), (x, h, c, *params))
        else:
            assert cr.gradcheck(lambda x, h, *ps: cell(x, h), (x, h, *params))


# --------------------------------------------------------------------- against torch
def _torch_twin(torch, ours):
    """The same layer in PyTorch, float64, with our weights copied into it."""
    kind = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}.get(ours.mode, torch.nn.RNN)
    kwargs = dict(num_layers=ours.num_layers, bias=ours.bias, batch_first=ours.batch_first,
                  bidirectional=ours.bidirectional)
    if ours.mode.startswith("RNN"):
        kwargs["nonlinearity"] = ours.nonlinearity
    if ours.proj_size:
        kwargs["proj_size"] = ours.proj_size
    theirs = kind(ours.input_size, ours.hidden_size, **kwargs).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return theirs


def _grads_match(torch, loss_c, loss_t, pairs):
    loss_c.backward()
    loss_t.backward()
    for name, a, b in pairs:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("batch_first", [False, True])
def test_layers_match_torch(rng, torch, mode, batch_first):
    kind = {"LSTM": nn.LSTM, "GRU": nn.GRU}.get(mode, nn.RNN)
    kwargs = {"nonlinearity": "relu" if mode == "RNN_RELU" else "tanh"} if mode.startswith("RNN") else {}
    ours = kind(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first, **kwargs).double()
    theirs = _torch_twin(torch, ours)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = rng.standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    h0, c0 = rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4))
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hc, ht = cr.tensor(h0, requires_grad=True), torch.tensor(h0, requires_grad=True)
    cc, ct = cr.tensor(c0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    if mode == "LSTM":
        (out_c, (hn_c, cn_c)), (out_t, (hn_t, cn_t)) = ours(xc, (hc, cc)), theirs(xt, (ht, ct))
    else:
        (out_c, hn_c), (out_t, hn_t) = ours(xc, hc), theirs(xt, ht)
        cn_c = cn_t = None
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hn_c.numpy(), hn_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = [np.random.default_rng(1).standard_normal(t.shape) for t in (out_t, hn_t)]
    loss_c = (out_c * cr.tensor(w[0])).sum() + (hn_c * cr.tensor(w[1])).sum()
    loss_t = (out_t * torch.tensor(w[0])).sum() + (hn_t * torch.tensor(w[1])).sum()
    pairs = [("input", xc, xt), ("h0", hc, ht)]
    if cn_c is not None:
        np.testing.assert_allclose(cn_c.numpy(), cn_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        loss_c = loss_c + (cn_c * cn_c).sum()
        loss_t = loss_t + (cn_t * cn_t).sum()
        pairs.append(("c0", cc, ct))
    pairs += [(n, p, q) for (n, p), q in zip(ours.named_parameters(), theirs.parameters())]
    _grads_match(torch, loss_c, loss_t, pairs)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_variable_lengths_match_torch_packed(rng, torch, mode):
    """lengths=, mask= and PackedSequence input all give PyTorch's packed results: final
    states at each sequence's own end, zero outputs past it, the reverse direction starting
    at each sequence's last element, and the same gradients."""
    kind = {"LSTM": nn.LSTM, "GRU": nn.GRU}.get(mode, nn.RNN)
    ours = kind(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    theirs = _torch_twin(torch, ours)
    lengths = [3, 6, 1, 4]
    x = rng.standard_normal((4, 6, 3))
    xt = torch.tensor(x, requires_grad=True)
    packed_t = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True,
                                                       enforce_sorted=False)
    out_pt, state_t = theirs(packed_t)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_pt, batch_first=True)
    hn_t = state_t[0] if mode == "LSTM" else state_t
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]

    def ours_padded(xc, how):
        if how == "lengths":
            return ours(xc, lengths=lengths)
        if how == "mask":
            return ours(xc, mask=mask)
        packed = pack_padded_sequence(xc, lengths, batch_first=True, enforce_sorted=False)
        out_p, state = ours(packed)
        assert isinstance(out_p, PackedSequence)
        np.testing.assert_allclose(out_p.data.numpy(), out_pt.data.detach().numpy(), atol=1e-12)
        np.testing.assert_array_equal(out_p.batch_sizes.numpy(), out_pt.batch_sizes.numpy())
        return pad_packed_sequence(out_p, batch_first=True)[0], state

    first = True
    for how in ("lengths", "mask", "packed"):
        xc = cr.tensor(x, requires_grad=True)
        out_c, state_c = ours_padded(xc, how)
        hn_c = state_c[0] if mode == "LSTM" else state_c
        np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(hn_c.numpy(), hn_t.detach().numpy(), atol=1e-12)
        if mode == "LSTM":
            np.testing.assert_allclose(state_c[1].numpy(), state_t[1].detach().numpy(), atol=1e-12)
        assert np.all(out_c.numpy()[~mask] == 0)
        loss_c = (out_c * out_c).sum() + hn_c.sum()
        ours.zero_grad()
        loss_c.backward()
        if first:
            ((out_t * out_t).sum() + hn_t.sum()).backward()
            first = False
        np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), atol=1e-10)
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-10, err_msg=name)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_match_torch(rng, torch, kind):
    ours = getattr(nn, kind)(3, 4).double()
    theirs = getattr(torch.nn, kind)(3, 4).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hc, ht = cr.tensor(h, requires_grad=True), torch.tensor(h, requires_grad=True)
    if kind == "LSTMCell":
        (h1c, c1c), (h1t, c1t) = ours(xc, (hc, cr.tensor(c))), theirs(xt, (ht, torch.tensor(c)))
        loss_c, loss_t = (h1c * c1c).sum(), (h1t * c1t).sum()
        np.testing.assert_allclose(c1c.numpy(), c1t.detach().numpy(), atol=1e-12)
    else:
        h1c, h1t = ours(xc, hc), theirs(xt, ht)
        loss_c, loss_t = (h1c * h1c).sum(), (h1t * h1t).sum()
    np.testing.assert_allclose(h1c.numpy(), h1t.detach().numpy(), atol=1e-12)
    pairs = [("x", xc, xt), ("h", hc, ht)] + [
        (n, p, q) for (n, p), q in zip(ours.named_parameters(), theirs.parameters())]
    _grads_match(torch, loss_c, loss_t, pairs)
    # Without a state (zeros), and unbatched.
    no_state_c, no_state_t = ours(cr.tensor(x[0])), theirs(torch.tensor(x[0]))
    if kind == "LSTMCell":
        no_state_c, no_state_t = no_state_c[0], no_state_t[0]
    assert no_state_c.shape == (4,)
    np.testing.assert_allclose(no_state_c.numpy(), no_state_t.detach().numpy(), atol=1e-12)


def test_unbatched_input_matches_torch(rng, torch):
    ours = nn.LSTM(3, 4, num_layers=2).double()
    theirs = _torch_twin(torch, ours)
    x = rng.standard_normal((5, 3))
    out_c, (hn_c, cn_c) = ours(cr.tensor(x))
    out_t, (hn_t, cn_t) = theirs(torch.tensor(x))
    assert out_c.shape == (5, 4) and hn_c.shape == (2, 4)
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(cn_c.numpy(), cn_t.detach().numpy(), atol=1e-12)


def test_float32_runs_in_float32(rng):
    lstm = nn.LSTM(3, 4, batch_first=True)
    x = cr.tensor(rng.standard_normal((2, 5, 3)).astype(np.float32), requires_grad=True)
    out, (h, c) = lstm(x)
    (out.sum() + c.sum()).backward()
    assert out.dtype == h.dtype == np.float32
    assert x.grad.dtype == lstm.weight_hh_l0.grad.dtype == np.float32


# ---------------------------------------------------------------- parameters and init
def test_parameter_names_shapes_and_init(torch):
    cr.manual_seed(0)
    ours = nn.GRU(5, 8, num_layers=2, bidirectional=True)
    theirs = torch.nn.GRU(5, 8, num_layers=2, bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    bound = 1 / np.sqrt(8)
    values = np.concatenate([p.numpy().ravel() for p in ours.parameters()])
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
    assert abs(values.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert len(ours.all_weights) == 4 and len(ours.all_weights[0]) == 4
    assert [p.shape for p in nn.LSTM(2, 3, bias=False).parameters()] == [(12, 2), (12, 3)]
    assert repr(nn.LSTM(2, 3, num_layers=2, batch_first=True, dropout=0.5)) == \
        repr(torch.nn.LSTM(2, 3, num_layers=2, batch_first=True, dropout=0.5))


def test_dropout_between_layers():
    lstm = nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = cr.randn(4, 2, 3)
    lstm.eval()
    np.testing.assert_array_equal(lstm(x)[0].numpy(), lstm(x)[0].numpy())
    evaluated = lstm(x)[0].numpy()
    lstm.train()
    cr.manual_seed(1)
    a = lstm(x)[0].numpy()
    cr.manual_seed(1)
    np.testing.assert_array_equal(lstm(x)[0].numpy(), a)        # seeded
    assert not np.allclose(a, evaluated)
    one_layer = nn.GRU(3, 8, dropout=0.0).train()
    np.testing.assert_array_equal(one_layer(x)[0].numpy(), one_layer(x)[0].numpy())


# --------------------------------------------------------------- sequence utilities
def test_pad_and_pack_match_torch(rng, torch):
    tr = torch.nn.utils.rnn
    seqs = [rng.standard_normal((n, 2)) for n in (3, 5, 1)]
    ours = [cr.tensor(s, requires_grad=True) for s in seqs]
    theirs = [torch.tensor(s, requires_grad=True) for s in seqs]
    for kw in (dict(), dict(batch_first=True, padding_value=-1.0),
               dict(batch_first=True, padding_side="left")):
        np.testing.assert_array_equal(pad_sequence(ours, **kw).numpy(),
                                      tr.pad_sequence(theirs, **kw).detach().numpy())
    packed_c = pack_sequence(ours, enforce_sorted=False)
    packed_t = tr.pack_sequence(theirs, enforce_sorted=False)
    np.testing.assert_array_equal(packed_c.data.numpy(), packed_t.data.detach().numpy())
    np.testing.assert_array_equal(packed_c.batch_sizes.numpy(), packed_t.batch_sizes.numpy())
    np.testing.assert_array_equal(packed_c.sorted_indices.numpy(), packed_t.sorted_indices.numpy())
    np.testing.assert_array_equal(packed_c.unsorted_indices.numpy(), packed_t.unsorted_indices.numpy())
    padded_c, lengths_c = pad_packed_sequence(packed_c, batch_first=True, padding_value=9.0,
                                              total_length=6)
    padded_t, lengths_t = tr.pad_packed_sequence(packed_t, batch_first=True, padding_value=9.0,
                                                 total_length=6)
    np.testing.assert_array_equal(padded_c.numpy(), padded_t.detach().numpy())
    np.testing.assert_array_equal(lengths_c.numpy(), lengths_t.numpy())
    np.testing.assert_array_equal(packed_c.lengths(), [3, 5, 1])
    # Gradients flow back through packing and unpacking to every sequence.
    (padded_c * padded_c).sum().backward()
    (padded_t * padded_t).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())
    back = unpack_sequence(packed_c)
    assert [s.shape for s in back] == [(3, 2), (5, 2), (1, 2)]
    np.testing.assert_array_equal(back[1].numpy(), seqs[1])
    cut = unpad_sequence(pad_sequence(ours), [3, 5, 1])
    np.testing.assert_array_equal(cut[2].numpy(), seqs[2])


def test_sequence_utility_errors():
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        pack_padded_sequence(cr.randn(4, 2, 1), [2, 4])
    with pytest.raises(ValueError, match="exceeds the padded length"):
        pack_padded_sequence(cr.randn(4, 2, 1), [5, 4])
    with pytest.raises(ValueError, match="at least one step"):
        pack_padded_sequence(cr.randn(4, 2, 1), [4, 0])
    with pytest.raises(ValueError, match="sequence 1 has shape"):
        pad_sequence([cr.randn(3, 2), cr.randn(2, 3)])
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(pack_sequence([cr.randn(3, 2)]), total_length=2)


# --------------------------------------------------------------------- long sequences
def _long_backward(steps: int) -> None:
    cr.manual_seed(0)
    lstm = nn.LSTM(2, 4)
    x = cr.randn(steps, 1, 2)
    out, (h, c) = lstm(x)
    (h.sum() + out[0].sum()).backward()
    grad = lstm.weight_hh_l0.grad.numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_thousand_step_backprop_with_linear_memory():
    """1,000 and 2,000 steps backpropagate (the graph has one node per layer, the BPTT loop
    runs inside it), and the peak memory grows linearly with the length."""
    peaks = []
    for steps in (1000, 2000):
        tracemalloc.start()
        _long_backward(steps)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 2.5 * peaks[0], f"peak memory {peaks} is not linear in the length"


def test_long_cell_loop_backprops():
    """A hand-written loop over LSTMCell builds a 2,000-step graph (some 10,000 nodes);
    the backward pass is iterative, so no recursion limit is hit."""
    cell = nn.LSTMCell(1, 2)
    h = c = cr.zeros(1, 2)
    xs = cr.randn(2000, 1, 1)
    for t in range(2000):
        h, c = cell(xs[t], (h, c))
    h.sum().backward()
    assert np.all(np.isfinite(cell.weight_ih.grad.numpy()))


# ----------------------------------------------------------------- projected LSTM
def test_projected_lstm_matches_torch(rng, torch):
    """proj_size: parameter names and shapes (weight_hr, a (4H, P) weight_hh), outputs and
    states (h with P features, c with H), and every gradient, two bidirectional layers."""
    ours = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, batch_first=True).double()
    theirs = _torch_twin(torch, ours)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert "proj_size=2" in repr(ours)
    x, h0, c0 = rng.standard_normal((2, 4, 3)), rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 5))
    leaves_c = [cr.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    leaves_t = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    out_c, (hn_c, cn_c) = ours(leaves_c[0], tuple(leaves_c[1:]))
    out_t, (hn_t, cn_t) = theirs(leaves_t[0], tuple(leaves_t[1:]))
    for a, b in ((out_c, out_t), (hn_c, hn_t), (cn_c, cn_t)):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss_c = (out_c * out_c).sum() + hn_c.sum() + (cn_c * cn_c).sum()
    loss_t = (out_t * out_t).sum() + hn_t.sum() + (cn_t * cn_t).sum()
    pairs = [(n, a, b) for n, a, b in zip(("x", "h0", "c0"), leaves_c, leaves_t)]
    pairs += [(n, p, q) for (n, p), q in zip(ours.named_parameters(), theirs.parameters())]
    _grads_match(torch, loss_c, loss_t, pairs)
    # Variable lengths: padded steps carry the state and output zeros, as packed in PyTorch.
    lengths = [4, 2]
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths),
                                                     batch_first=True)
    out_pt, (hn_pt, _) = theirs(packed)
    out_pt = torch.nn.utils.rnn.pad_packed_sequence(out_pt, batch_first=True)[0]
    out_l, (hn_l, _) = ours(cr.tensor(x), lengths=lengths)
    np.testing.assert_allclose(out_l.numpy(), out_pt.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(hn_l.numpy(), hn_pt.detach().numpy(), atol=1e-12)


def test_projected_lstm_gradcheck_and_cost(rng):
    lstm = nn.LSTM(2, 3, proj_size=1, bidirectional=True).double()
    x = cr.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    params = list(lstm.parameters())
    assert cr.gradcheck(lambda inp, *ps: lstm(inp)[0], (x, *params))
    # per step and direction: 4 gates x 3 hidden x (2 inputs + 1 state) + 1 x 3 projection
    assert lstm.forward_macs((x,), lstm(x)) == 3 * 2 * 2 * (4 * 3 * (2 + 1) + 1 * 3)


# ---------------------------------------------------------------------------- errors
def test_argument_errors():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match="input has 2 features"):
        lstm(cr.randn(5, 2, 2))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 2, 4\)"):
        lstm(cr.randn(5, 2, 3), (cr.zeros(1, 2, 4), cr.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match="tuple"):
        lstm(cr.randn(5, 2, 3), cr.zeros(2, 2, 4))
    with pytest.raises(TypeError, match="single tensor"):
        nn.GRU(3, 4)(cr.randn(5, 2, 3), (cr.zeros(1, 2, 4), cr.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="lengths must lie in"):
        lstm(cr.randn(5, 2, 3), lengths=[6, 2])
    with pytest.raises(ValueError, match=r"lengths has shape \(3,\)"):
        lstm(cr.randn(5, 2, 3), lengths=[5, 2, 1])
    with pytest.raises(ValueError, match="not both"):
        lstm(cr.randn(5, 2, 3), lengths=[5, 2], mask=np.ones((5, 2)))
    with pytest.raises(ValueError, match="proj_size .4. has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.RNNBase("GRU", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 2, 2\)"):
        nn.LSTM(3, 4, num_layers=2, proj_size=2)(cr.randn(5, 2, 3),
                                                 (cr.zeros(2, 2, 4), cr.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="3-D input"):
        lstm(cr.randn(5))
