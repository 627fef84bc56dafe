"""MultiheadAttention and the Transformer layers against their PyTorch twins: the same
weights (copied across with load_state_dict), float64, equal outputs, attention weights and
gradients of every input and parameter; parameter names, shapes and initialisation; masks.
(The functional forms, scaled_dot_product_attention and multi_head_attention_forward, get
their gradient checks and PyTorch comparisons from the op registry.)"""
import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape)


def run_twins(ours, theirs, inputs: dict, call, train: bool = True):
    """Copy theirs' weights into ours (float64), call both with the same inputs (floating
    arrays become leaves that require grad, bool arrays masks), and compare every output
    and the gradients of a random weighting of them."""
    theirs = theirs.double().train(train)
    ours.double().train(train)
    ours.load_state_dict(theirs.state_dict())
    leaves_c, leaves_t = {}, {}
    for name, value in inputs.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not name.endswith("mask"):
            leaves_c[name] = cr.tensor(value, requires_grad=True)
            leaves_t[name] = torch.tensor(value, requires_grad=True)
        else:
            leaves_c[name] = None if value is None else cr.tensor(value)
            leaves_t[name] = None if value is None else torch.tensor(value)
    outs_c, outs_t = call(ours, leaves_c), call(theirs, leaves_t)
    outs_c = outs_c if isinstance(outs_c, tuple) else (outs_c,)
    outs_t = outs_t if isinstance(outs_t, tuple) else (outs_t,)
    loss_c, loss_t = 0, 0
    for a, b in zip(outs_c, outs_t):
        if b is None:
            assert a is None
            continue
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-11)
        w = rand(*b.shape)
        loss_c = loss_c + (a * cr.tensor(w)).sum()
        loss_t = loss_t + (b * torch.tensor(w)).sum()
    loss_c.backward()
    loss_t.backward()
    for name, leaf in leaves_c.items():
        if leaf is not None and leaf.requires_grad:
            np.testing.assert_allclose(leaf.grad.numpy(), leaves_t[name].grad.numpy(),
                                       rtol=1e-8, atol=1e-10, err_msg=name)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        g = theirs_params[name].grad
        np.testing.assert_allclose(p.grad.numpy(), g.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    return outs_c


# ------------------------------------------------------------------ MultiheadAttention
def _state_shapes(module):
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


@pytest.mark.parametrize("kwargs", [dict(), dict(kdim=3, vdim=5), dict(bias=False),
                                    dict(add_bias_kv=True, add_zero_attn=True)])
def test_mha_parameters_and_init_match_torch(kwargs):
    ours, theirs = nn.MultiheadAttention(8, 2, **kwargs), torch.nn.MultiheadAttention(8, 2, **kwargs)
    assert _state_shapes(ours) == _state_shapes(theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    if ours.in_proj_bias is not None:
        assert np.all(ours.in_proj_bias.numpy() == 0) and np.all(ours.out_proj.bias.numpy() == 0)
    w = ours.in_proj_weight if ours.in_proj_weight is not None else ours.q_proj_weight
    bound = np.sqrt(6 / sum(w.shape))                  # Xavier-uniform
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > bound / 2


MHA_CASES = {
    "plain": (dict(), dict(), (4, 2, 8), (5, 2, 8)),
    "batch_first_padding": (dict(batch_first=True),
                            dict(key_padding_mask=np.array([[0, 0, 0, 1, 1], [0] * 5], bool)),
                            (2, 4, 8), (2, 5, 8)),
    "kdim_vdim_float_mask": (dict(kdim=3, vdim=5), dict(attn_mask="float"), (4, 2, 8), (5, 2, 3)),
    "bias_kv_zero_attn_heads": (dict(add_bias_kv=True, add_zero_attn=True),
                                dict(attn_mask="bool", average_attn_weights=False),
                                (4, 2, 8), (5, 2, 8)),
    "no_bias_no_weights": (dict(bias=False), dict(need_weights=False), (4, 2, 8), (5, 2, 8)),
    "unbatched": (dict(), dict(attn_mask="float"), (4, 8), (5, 8)),
}


@pytest.mark.parametrize("case", sorted(MHA_CASES))
def test_mha_matches_torch(case):
    ctor, call_kwargs, q_shape, k_shape = MHA_CASES[case]
    ours, theirs = nn.MultiheadAttention(8, 2, **ctor), torch.nn.MultiheadAttention(8, 2, **ctor)
    if ctor.get("add_bias_kv"):
        with torch.no_grad():                       # bias_k starts random; make it count
            theirs.bias_k.normal_()
    v_shape = k_shape[:-1] + (ctor.get("vdim", 8),)
    inputs = {"query": rand(*q_shape), "key": rand(*k_shape), "value": rand(*v_shape)}
    mask = call_kwargs.get("attn_mask")
    if mask == "float":
        inputs["attn_mask"] = rand(q_shape[0], k_shape[0])
    elif mask == "bool":
        inputs["attn_mask"] = np.triu(np.ones((q_shape[0], k_shape[0]), bool), 2)
    if "key_padding_mask" in call_kwargs:
        inputs["key_padding_mask"] = call_kwargs["key_padding_mask"]
    options = {k: v for k, v in call_kwargs.items() if k not in ("attn_mask", "key_padding_mask")}
    out, weights = run_twins(ours, theirs, inputs, lambda m, a: m(**a, **options))
    assert (weights is None) == (options.get("need_weights") is False)


def test_mha_self_attention_batch_first_and_dropout():
    ours, theirs = nn.MultiheadAttention(8, 4, batch_first=True), torch.nn.MultiheadAttention(8, 4, batch_first=True)
    x = rand(2, 5, 8)
    run_twins(ours, theirs, {"x": x}, lambda m, a: m(a["x"], a["x"], a["x"]))
    drop = nn.MultiheadAttention(8, 4, dropout=0.5, batch_first=True)
    xc = cr.tensor(x.astype(np.float32))
    cr.manual_seed(0)
    train_out = drop(xc, xc, xc)[0]
    eval_out = drop.eval()(xc, xc, xc)[0]
    assert not np.allclose(train_out.numpy(), eval_out.numpy())
    np.testing.assert_array_equal(eval_out.numpy(), drop(xc, xc, xc)[0].numpy())


def test_mha_errors():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(4\)"):
        nn.MultiheadAttention(10, 4)
    mha = nn.MultiheadAttention(8, 2)
    x = cr.randn(4, 2, 8)
    with pytest.raises(ValueError, match="need attn_mask if specifying the is_causal hint"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match=r"2-D attn_mask should be of size \(4, 4\)"):
        mha(x, x, x, attn_mask=cr.zeros(3, 4))
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(2, 4\)"):
        mha(x, x, x, key_padding_mask=cr.zeros(2, 3).bool())
    with pytest.raises(TypeError, match="bool or floating-point mask"):
        mha(x, x, x, attn_mask=cr.zeros(4, 4, dtype=cr.int64))


# ------------------------------------------------------------------------- Transformer
LAYER_CASES = {
    "post_norm_relu": dict(),
    "pre_norm_gelu_batch_first": dict(norm_first=True, activation="gelu", batch_first=True),
    "callable_activation_no_bias": dict(activation=torch.tanh, bias=False),
}


def _activation_for_ours(kwargs):
    out = dict(kwargs)
    if out.get("activation") is torch.tanh:
        out["activation"] = cr.tanh
    return out


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_encoder_layer_matches_torch(case):
    kwargs = dict(d_model=8, nhead=2, dim_feedforward=12, dropout=0.0, **LAYER_CASES[case])
    ours = nn.TransformerEncoderLayer(**_activation_for_ours(kwargs))
    theirs = torch.nn.TransformerEncoderLayer(**kwargs)
    assert _state_shapes(ours) == _state_shapes(theirs)
    shape = (2, 5, 8) if kwargs.get("batch_first") else (5, 2, 8)
    inputs = {"src": rand(*shape), "src_mask": np.triu(np.ones((5, 5), bool), 1),
              "src_key_padding_mask": np.array([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]], bool)}
    run_twins(ours, theirs, inputs, lambda m, a: m(**a, is_causal=True))


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_decoder_layer_matches_torch(case):
    kwargs = dict(d_model=8, nhead=2, dim_feedforward=12, dropout=0.0, **LAYER_CASES[case])
    ours = nn.TransformerDecoderLayer(**_activation_for_ours(kwargs))
    theirs = torch.nn.TransformerDecoderLayer(**kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    first = kwargs.get("batch_first")
    inputs = {"tgt": rand(*((2, 4, 8) if first else (4, 2, 8))),
              "memory": rand(*((2, 6, 8) if first else (6, 2, 8))),
              "tgt_mask": np.triu(np.ones((4, 4), bool), 1),
              "memory_key_padding_mask": np.array([[0] * 6, [0, 0, 0, 0, 1, 1]], bool)}
    run_twins(ours, theirs, inputs, lambda m, a: m(**a))


def test_transformer_matches_torch_with_masks():
    kwargs = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                  dim_feedforward=10, dropout=0.0, batch_first=True)
    ours, theirs = nn.Transformer(**kwargs), torch.nn.Transformer(**kwargs)
    assert _state_shapes(ours) == _state_shapes(theirs)
    pad = np.array([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]], bool)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=cr.float64).numpy()
    np.testing.assert_array_equal(tgt_mask, torch.nn.Transformer.generate_square_subsequent_mask(
        4, dtype=torch.float64).numpy())
    inputs = {"src": rand(2, 6, 8), "tgt": rand(2, 4, 8), "tgt_mask": tgt_mask,
              "src_key_padding_mask": pad, "memory_key_padding_mask": pad}
    run_twins(ours, theirs, inputs, lambda m, a: m(**a, tgt_is_causal=True))
    # Every weight matrix starts Xavier-uniform; the stacked layers are independent copies.
    fresh = nn.Transformer(**kwargs)
    w = fresh.decoder.layers[0].linear1.weight.numpy()
    assert np.abs(w).max() <= np.sqrt(6 / sum(w.shape))
    layers = fresh.encoder.layers
    assert layers[0].linear1.weight is not layers[1].linear1.weight
    assert not np.array_equal(layers[0].linear1.weight.numpy(), layers[1].linear1.weight.numpy())


def test_encoder_stack_with_causal_mask_and_norm():
    layer_kwargs = dict(d_model=8, nhead=4, dim_feedforward=16, dropout=0.0, norm_first=True)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer_kwargs), 2, nn.LayerNorm(8))
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**layer_kwargs), 2,
                                         torch.nn.LayerNorm(8), enable_nested_tensor=False)
    mask = np.triu(np.full((5, 5), -np.inf), 1)
    run_twins(ours, theirs, {"src": rand(5, 3, 8), "mask": mask},
              lambda m, a: m(a["src"], mask=a["mask"], is_causal=True))
    # Causal: the first position's output does not depend on the later positions.
    x = cr.randn(5, 1, 8, dtype=cr.float64)
    y = x.numpy().copy()
    y[3:] += 1.0
    out_x, out_y = ours(x, mask=cr.tensor(mask)), ours(cr.tensor(y), mask=cr.tensor(mask))
    np.testing.assert_allclose(out_x.numpy()[:3], out_y.numpy()[:3], atol=1e-12)
    with pytest.raises(ValueError, match="need attn_mask"):
        ours(x, is_causal=True)


def test_transformer_summary_counts_attention():
    """The summary's rows are the innermost modules that ran: MultiheadAttention (whose
    output projection weights it uses directly) counts its own products."""
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True)
    s = cr.explain.summary(layer, (5, 8), batch_size=3)
    types = [r.type for r in s.rows]
    assert types[0] == "MultiheadAttention" and "Linear" in types and s.complete
    e, length, batch = 8, 5, 3
    assert s.rows[0].macs_forward == batch * length * e * e * 4 + 2 * batch * length * length * e
    assert s.total_params == sum(p.numel() for p in layer.parameters())
    assert sum(r.params for r in s.rows) == s.total_params


def test_deepcopy_of_a_layer_is_independent():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    twin = copy.deepcopy(layer)
    assert twin.self_attn.in_proj_weight is not layer.self_attn.in_proj_weight
    np.testing.assert_array_equal(twin.self_attn.in_proj_weight.numpy(),
                                  layer.self_attn.in_proj_weight.numpy())
