"""Layers: finite-difference gradient checks in float64, and forward/backward against
PyTorch with the same weights (copied across with load_state_dict)."""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

from conftest import seed_from_test_name

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seeded(request):
    global RNG
    RNG = seed_from_test_name(request)


def rand(*shape):
    return RNG.standard_normal(shape)


def check_layer_grads(layer, x_shape, x=None):
    """gradcheck a float64 layer with respect to its input and every parameter."""
    layer.double()
    x = cr.tensor(rand(*x_shape) if x is None else x, requires_grad=True)
    params = [p for p in layer.parameters() if p.requires_grad]
    assert cr.gradcheck(lambda inp, *ps: layer(inp), (x, *params))


def against_torch(ours, theirs, x, train=None, compare_buffers=False, atol=1e-10):
    """Same weights, same float64 input: equal outputs and gradients (input and params)."""
    torch = pytest.importorskip("torch")
    theirs = theirs.double()
    ours.double()
    ours.load_state_dict(theirs.state_dict())
    if train is not None:
        ours.train(train)
        theirs.train(train)
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out_c, out_t = ours(xc), theirs(xt)
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), rtol=1e-9, atol=atol)
    g = rand(*out_t.shape)
    out_c.backward(cr.tensor(g))
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=atol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        tp = theirs_params[name]
        if tp.grad is None:
            assert p.grad is None or np.all(p.grad.numpy() == 0), name
        else:
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=atol,
                                       err_msg=name)
    if compare_buffers:
        for name, b in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name].numpy(), b.numpy(), rtol=1e-10,
                                       err_msg=name)


# ----------------------------------------------------------------------- linear
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_and_torch(bias):
    torch = pytest.importorskip("torch")
    check_layer_grads(nn.Linear(3, 2, bias=bias), (4, 3))
    check_layer_grads(nn.Linear(3, 2, bias=bias), (2, 2, 3))  # extra leading dims
    against_torch(nn.Linear(5, 4, bias=bias), torch.nn.Linear(5, 4, bias=bias), rand(6, 5))
    against_torch(nn.Linear(5, 4, bias=bias), torch.nn.Linear(5, 4, bias=bias), rand(2, 3, 5))


def test_linear_parameter_names_shapes_and_default_init_bounds():
    cr.manual_seed(0)
    layer = nn.Linear(64, 256)
    assert layer.weight.shape == (256, 64) and layer.bias.shape == (256,)
    assert layer.weight.dtype == np.float32
    bound = 1 / math.sqrt(64)  # PyTorch: kaiming_uniform_(a=sqrt(5)) -> U(-1/sqrt(in), 1/sqrt(in))
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # std of U(-b, b) is b/sqrt(3)
    assert abs(w.mean()) < 0.02 * bound
    torch = pytest.importorskip("torch")
    tw = torch.nn.Linear(64, 256).weight.detach().numpy()
    assert abs(tw.std() - w.std()) < 0.03 * bound
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64


def test_linear_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"input has 4 features.*\(2, 4\).*expects 3"):
        nn.Linear(3, 2)(cr.zeros(2, 4))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 2)


def test_identity_flatten_unflatten():
    torch = pytest.importorskip("torch")
    x = rand(2, 3, 4, 5)
    np.testing.assert_array_equal(nn.Identity(54, foo=1)(cr.tensor(x)).numpy(), x)
    check_layer_grads(nn.Flatten(), (2, 3, 2))
    check_layer_grads(nn.Unflatten(1, (2, 3)), (2, 6))
    against_torch(nn.Flatten(), torch.nn.Flatten(), x)
    against_torch(nn.Flatten(0, 2), torch.nn.Flatten(0, 2), x)
    against_torch(nn.Unflatten(1, (2, -1)), torch.nn.Unflatten(1, (2, -1)), rand(2, 6, 3))
    with pytest.raises(ValueError, match=r"cannot split dim 1 of size 6"):
        nn.Unflatten(1, (4, 2))(cr.zeros(2, 6))


# ------------------------------------------------------------------ activations
ACTIVATIONS = [
    ("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {"alpha": 0.7}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Sigmoid", {}),
    ("Tanh", {}), ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 3.0}),
    ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": -1}),
]


@pytest.mark.parametrize("name,kwargs", ACTIVATIONS)
def test_activation_gradcheck_and_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    x = rand(3, 4, 2)
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences off the kinks
    check_layer_grads(getattr(nn, name)(**kwargs), x.shape, x)
    against_torch(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), x * 3)


def test_functional_activations_match_modules():
    x = cr.tensor(rand(4, 3))
    np.testing.assert_allclose(F.relu(x).numpy(), nn.ReLU()(x).numpy())
    np.testing.assert_allclose(F.elu(x, 0.5).numpy(), nn.ELU(0.5)(x).numpy())
    np.testing.assert_allclose(F.softmax(x, dim=0).numpy().sum(0), np.ones(3), rtol=1e-12)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        implicit = F.softmax(x)
    np.testing.assert_allclose(implicit.numpy(), F.softmax(x, 1).numpy())
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")


# ---------------------------------------------------------------------- dropout
def test_dropout_train_eval_scaling_and_seed():
    drop = nn.Dropout(0.25)
    x = cr.ones(400, 50, requires_grad=True)
    cr.manual_seed(3)
    y = drop(x)
    vals = np.unique(y.numpy())
    np.testing.assert_allclose(vals, [0.0, 1 / 0.75], rtol=1e-6)
    kept = (y.numpy() != 0).mean()
    assert abs(kept - 0.75) < 0.01
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy())  # gradient is mask / (1 - p)
    cr.manual_seed(3)
    np.testing.assert_array_equal(drop(x).numpy(), y.numpy())  # same seed, same mask
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 0.5, training=False) is x
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    assert F.dropout(x, 0.0) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_gradcheck_with_fixed_mask():
    x = cr.tensor(rand(5, 4), requires_grad=True)

    def fn(t):
        cr.manual_seed(7)  # the same mask on every evaluation
        return F.dropout(t, 0.3)
    assert cr.gradcheck(fn, x)


# ------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm1d_gradcheck_train_and_eval(shape):
    bn = nn.BatchNorm1d(3)
    with cr.no_grad():
        bn.weight.copy_(rand(3))
        bn.bias.copy_(rand(3))
    check_layer_grads(bn, shape)
    bn.eval()
    bn.running_var.copy_(np.abs(rand(3)) + 0.5)
    check_layer_grads(bn, shape)


def test_batchnorm_second_derivatives():
    bn = nn.BatchNorm1d(3).double()
    x = cr.tensor(rand(5, 3), requires_grad=True)
    assert cr.gradgradcheck(lambda t, w, b: bn(t) ** 2, (x, bn.weight, bn.bias))


@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False},
                                    {"track_running_stats": False}, {"bias": False},
                                    {"momentum": 0.3, "eps": 1e-3}])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
def test_batchnorm1d_matches_torch_over_steps(kwargs, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm1d(3, **kwargs), torch.nn.BatchNorm1d(3, **kwargs).double()
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rand(3)))
            if theirs.bias is not None:
                theirs.bias.copy_(torch.tensor(rand(3)))
    for step in range(3):  # running statistics (incl. cumulative average) evolve the same
        against_torch(ours, theirs, rand(*shape) * 2 + 1, train=True, compare_buffers=True)
        theirs.zero_grad()
        ours.zero_grad()
    against_torch(ours, theirs, rand(*shape), train=False, compare_buffers=True)


def test_batchnorm2d_matches_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.BatchNorm2d(2).double()
    ours = nn.BatchNorm2d(2)
    against_torch(ours, theirs, rand(3, 2, 4, 3), train=True, compare_buffers=True)
    against_torch(ours, theirs, rand(3, 2, 4, 3), train=False)
    check_layer_grads(nn.BatchNorm2d(2), (3, 2, 2, 2))


def test_batchnorm_modes_buffers_and_errors():
    bn = nn.BatchNorm1d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    x = cr.tensor(rand(16, 4) * 3 + 2)
    y = bn(x).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(0), 1, atol=1e-3)
    assert int(bn.num_batches_tracked.item()) == 1
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.numpy().mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.numpy().var(0, ddof=1), rtol=1e-5)
    bn.eval()
    frozen = bn.running_mean.numpy().copy()
    bn(x)
    np.testing.assert_array_equal(bn.running_mean.numpy(), frozen)  # eval leaves them alone
    assert int(bn.num_batches_tracked.item()) == 1
    no_stats = nn.BatchNorm1d(4, track_running_stats=False)
    assert list(no_stats.state_dict()) == ["weight", "bias"]
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D"):
        bn(cr.zeros(2, 4, 1, 1))
    with pytest.raises(ValueError, match="expected 4 channels"):
        bn(cr.zeros(2, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn.train()(cr.zeros(1, 4))


# ------------------------------------------------------------------- layer norm
@pytest.mark.parametrize("kwargs,shape,norm_shape", [
    ({}, (3, 4), 4), ({}, (2, 3, 4), (3, 4)), ({"elementwise_affine": False}, (3, 5), 5),
    ({"bias": False}, (2, 2, 3), 3), ({"eps": 1e-2}, (4, 3), (3,))])
def test_layernorm_gradcheck_and_torch(kwargs, shape, norm_shape):
    torch = pytest.importorskip("torch")
    ln = nn.LayerNorm(norm_shape, **kwargs)
    if ln.weight is not None:
        with cr.no_grad():
            ln.weight.copy_(rand(*ln.weight.shape))
    check_layer_grads(ln, shape)
    theirs = torch.nn.LayerNorm(norm_shape, **kwargs).double()
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rand(*theirs.weight.shape)))
            if theirs.bias is not None:
                theirs.bias.copy_(torch.tensor(rand(*theirs.bias.shape)))
    against_torch(nn.LayerNorm(norm_shape, **kwargs), theirs, rand(*shape) * 3 + 1)


def test_layernorm_second_derivatives_and_errors():
    ln = nn.LayerNorm(3).double()
    x = cr.tensor(rand(2, 3), requires_grad=True)
    assert cr.gradgradcheck(lambda t, w, b: ln(t) ** 2, (x, ln.weight, ln.bias))
    assert list(ln.state_dict()) == ["weight", "bias"]
    with pytest.raises(ValueError, match=r"does not end in the normalized_shape \(3,\)"):
        ln(cr.zeros(2, 4))


def test_norm_layers_are_stable_for_constant_input():
    y = nn.LayerNorm(4)(cr.full((2, 4), 1e4))
    assert np.all(np.isfinite(y.numpy())) and np.allclose(y.numpy(), 0)


# -------------------------------------------------------------------- embedding
def test_embedding_forward_backward_matches_torch_with_repeats_and_padding():
    torch = pytest.importorskip("torch")
    idx = np.array([[1, 2, 1, 0], [4, 1, 0, 3]])
    theirs = torch.nn.Embedding(6, 3, padding_idx=0).double()
    ours = nn.Embedding(6, 3, padding_idx=0).double()
    ours.load_state_dict(theirs.state_dict())
    out_c, out_t = ours(cr.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy())
    g = rand(2, 4, 3)
    out_c.backward(cr.tensor(g))
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
    assert np.all(ours.weight.grad.numpy()[0] == 0)  # the padding row gets no gradient
    np.testing.assert_allclose(ours.weight.grad.numpy()[1], g[0, 0] + g[0, 2] + g[1, 1])


def test_embedding_gradcheck_init_and_errors():
    emb = nn.Embedding(5, 2, padding_idx=-1).double()
    assert emb.padding_idx == 4 and np.all(emb.weight.numpy()[4] == 0)
    # (the padding row is excluded from the gradient on purpose, so it is left out here;
    # the PyTorch comparison above covers it)
    idx = cr.tensor([[0, 3, 3], [2, 1, 0]])
    assert cr.gradcheck(lambda w: emb(idx), (emb.weight,))
    assert cr.gradgradcheck(lambda w: emb(idx) ** 2, (emb.weight,))
    cr.manual_seed(0)
    big = nn.Embedding(1000, 64).weight.numpy()
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01  # N(0, 1) as PyTorch
    assert repr(emb) == "Embedding(5, 2, padding_idx=4)"
    with pytest.raises(IndexError, match="index 5 is out of range for 5 embeddings"):
        emb(cr.tensor([1, 5]))
    with pytest.raises(TypeError, match="integer indices"):
        emb(cr.tensor([1.0]))
    with pytest.raises(ValueError, match="padding_idx 7"):
        nn.Embedding(5, 2, padding_idx=7)
    pre = nn.Embedding.from_pretrained(cr.tensor(np.eye(3)))
    assert not pre.weight.requires_grad and pre(cr.tensor([2])).tolist() == [[0.0, 0.0, 1.0]]


# ----------------------------------------------------------------- other functional
def test_one_hot_and_pad():
    torch = pytest.importorskip("torch")
    t = np.array([[0, 2], [1, 1]])
    np.testing.assert_array_equal(F.one_hot(cr.tensor(t), 4).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(t), 4).numpy())
    assert F.one_hot(cr.tensor([0, 3])).shape == (2, 4) and F.one_hot(cr.tensor([1])).dtype == np.int64
    with pytest.raises(ValueError, match="out of range for num_classes=2"):
        F.one_hot(cr.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(cr.tensor([-1]))
    x = rand(2, 3)
    np.testing.assert_array_equal(F.pad(cr.tensor(x), (1, 2), value=5.0).numpy(),
                                  torch.nn.functional.pad(torch.tensor(x), (1, 2), value=5.0).numpy())
    assert cr.gradcheck(lambda a: F.pad(a, (1, 0, 0, 2)), cr.tensor(x, requires_grad=True))


def test_functional_norms_check_parameter_shapes():
    with pytest.raises(ValueError, match=r"weight has shape \(2,\), expected \(3,\)"):
        F.batch_norm(cr.zeros(4, 3), None, None, cr.ones(2), training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        F.batch_norm(cr.zeros(4, 3), None, None)
    with pytest.raises(ValueError, match=r"bias has shape \(4,\), expected \(3,\)"):
        F.layer_norm(cr.zeros(2, 3), (3,), None, cr.zeros(4))


@pytest.mark.parametrize("cls,shape", [(cr.nn.BatchNorm1d, (8, 3)), (cr.nn.BatchNorm2d, (4, 3, 2, 2))])
def test_batchnorm_resets_running_stats_and_parameters(cls, shape):
    bn = cls(3)
    with cr.no_grad():
        bn.weight.mul_(3.0)
        bn.bias.add_(1.0)
    for _ in range(3):
        bn(cr.randn(*shape) * 5 + 2)
    assert bn.num_batches_tracked.item() == 3 and not np.allclose(bn.running_mean.numpy(), 0)
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)
    assert bn.num_batches_tracked.item() == 0
    assert not np.allclose(bn.weight.numpy(), 1)       # parameters untouched by that reset
    bn(cr.randn(*shape))
    bn.reset_parameters()
    np.testing.assert_array_equal(bn.weight.numpy(), 1)
    np.testing.assert_array_equal(bn.bias.numpy(), 0)
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0)
    assert bn.num_batches_tracked.item() == 0


# ------------------------------------- group and instance norm, PReLU, Upsample
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_gradcheck_and_torch(affine):
    torch = pytest.importorskip("torch")
    check_layer_grads(nn.GroupNorm(2, 4, affine=affine), (3, 4, 5))
    ours, theirs = nn.GroupNorm(2, 4, affine=affine), torch.nn.GroupNorm(2, 4, affine=affine)
    if affine:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-1, 1)
    against_torch(ours, theirs, rand(3, 4, 2, 3))
    assert repr(ours) == repr(theirs).replace("torch.nn.", "")
    assert ours.forward_macs((cr.zeros(3, 4, 5),), cr.zeros(3, 4, 5)) == 2 * 60
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups \(2\)"):
        nn.GroupNorm(2, 5)


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (3, 4, 5)), ("InstanceNorm2d", (2, 4, 3, 3)),
                                       ("InstanceNorm3d", (2, 4, 2, 2, 3))])
def test_instancenorm_modes_and_running_stats_match_torch(cls, shape):
    """Training (batch statistics, running ones updated), then eval (running statistics),
    with affine parameters; and the default (no parameters, no running statistics) on
    unbatched input."""
    torch = pytest.importorskip("torch")
    ours = getattr(nn, cls)(4, affine=True, track_running_stats=True, momentum=0.3)
    theirs = getattr(torch.nn, cls)(4, affine=True, track_running_stats=True, momentum=0.3)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    against_torch(ours, theirs, rand(*shape) * 2 + 1, train=True, compare_buffers=True)
    against_torch(ours, theirs, rand(*shape), train=False)
    plain, plain_t = getattr(nn, cls)(4), getattr(torch.nn, cls)(4)
    assert plain.weight is None and plain.running_mean is None
    x = rand(*shape[1:])
    np.testing.assert_allclose(plain(cr.tensor(x)).numpy(), plain_t(torch.tensor(x)).numpy(),
                               atol=1e-12)
    assert repr(ours) == repr(theirs)
    check_layer_grads(getattr(nn, cls)(4, affine=True), shape)


def test_instancenorm_errors():
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D"):
        nn.InstanceNorm1d(3)(cr.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="to match num_features"):
        nn.InstanceNorm1d(3, affine=True)(cr.zeros(2, 4, 5))
    with pytest.warns(UserWarning, match="num_features is not used"):
        nn.InstanceNorm1d(3)(cr.randn(2, 4, 5))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(cr.zeros(2, 3, 1))


def test_prelu_gradcheck_and_torch():
    torch = pytest.importorskip("torch")
    check_layer_grads(nn.PReLU(3), (2, 3, 4))
    for n, shape in ((1, (4, 5)), (3, (2, 3, 4, 4))):
        theirs = torch.nn.PReLU(n)
        with torch.no_grad():
            theirs.weight.uniform_(-0.5, 0.5)
        against_torch(nn.PReLU(n), theirs, rand(*shape))
    layer = nn.PReLU(4, init=0.1)
    assert repr(layer) == "PReLU(num_parameters=4)" and np.all(layer.weight.numpy() == np.float32(0.1))
    with pytest.raises(ValueError, match="weight has 4 elements but the input"):
        layer(cr.zeros(2, 3))


def test_prelu_gradients_at_zero_and_at_infinity_are_pytorchs():
    torch = pytest.importorskip("torch")
    for x, w in (([np.inf, -1.0, 0.0, 2.0, -0.0], [0.25]), ([3.0, -1.0, 0.0], [np.inf]),
                 ([[-np.inf, 2.0], [0.0, -1.0]], [0.5, -2.0])):
        ours = [cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)]
        theirs = [torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)]
        F.prelu(*ours).sum().backward()
        torch.nn.functional.prelu(*theirs).sum().backward()
        for a, b in zip(ours, theirs):      # 0 * inf on the branch not taken is no nan
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_prelu_refuses_mixed_floating_dtypes_as_pytorch():
    with pytest.raises(RuntimeError, match="input is float32 and weight is float64"):
        F.prelu(cr.ones(3), cr.ones(1, dtype=np.float64))


@pytest.mark.parametrize("kwargs,shape", [
    (dict(scale_factor=2), (2, 3, 4, 5)), (dict(size=7, mode="linear"), (2, 3, 4)),
    (dict(scale_factor=(2, 1.5), mode="bilinear", align_corners=True), (1, 2, 3, 4)),
    (dict(size=(5, 3), mode="bicubic"), (1, 2, 4, 4)), (dict(size=(2, 3), mode="area"), (1, 2, 5, 6)),
    (dict(scale_factor=0.5, mode="nearest-exact"), (1, 2, 6, 4))])
def test_upsample_matches_torch(kwargs, shape):
    torch = pytest.importorskip("torch")
    against_torch(nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs), rand(*shape))
    assert repr(nn.Upsample(**kwargs)) == repr(torch.nn.Upsample(**kwargs))


def test_upsampling_shorthands_and_costs():
    torch = pytest.importorskip("torch")
    x = rand(1, 2, 3, 3)
    for name in ("UpsamplingNearest2d", "UpsamplingBilinear2d"):
        against_torch(getattr(nn, name)(scale_factor=2), getattr(torch.nn, name)(scale_factor=2), x)
    up, small = nn.Upsample(scale_factor=2, mode="bilinear"), cr.zeros(1, 2, 3, 3)
    assert up.forward_macs((small,), up(small)) == 2 * 36 * 4     # 4 weights per output
    assert nn.Upsample(scale_factor=2).forward_macs((small,), up(small)) == 0
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(cr.zeros(1, 1, 4), 3, align_corners=True)
    with pytest.raises(ValueError, match="bilinear mode needs 4D input"):
        F.interpolate(cr.zeros(1, 1, 4), 3, mode="bilinear")
    with pytest.raises(ValueError, match="exactly one of size or scale_factor"):
        F.interpolate(cr.zeros(1, 1, 4))
