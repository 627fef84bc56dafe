"""Convolutions: finite-difference gradient checks of every primitive (float64), second
derivatives, agreement with PyTorch for the same weights, the layers' parameters and
initialisation, argument errors, and channel dropout."""
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d


def leaf(rng, *shape):
    return cr.tensor(rng.standard_normal(shape), requires_grad=True)


# ------------------------------------------------------------------ gradient checks
# (N, C, H, W, out, kernel, stride, padding, dilation, groups, bias)
CONV2D_CASES = [
    (2, 2, 5, 4, 3, 3, 1, 0, 1, 1, True),
    (1, 2, 6, 5, 2, 3, 2, 1, 1, 1, False),
    (1, 4, 7, 6, 4, (3, 2), (2, 1), (1, 2), (2, 1), 2, True),
    (1, 2, 5, 6, 2, (2, 4), 1, "same", (2, 1), 1, True),     # odd total padding: asymmetric
    (1, 3, 5, 5, 3, 3, 1, "valid", 1, 3, True),              # depthwise
    (1, 2, 7, 7, 2, 2, 3, 2, 2, 1, True),                    # stride larger than the kernel
]


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_gradcheck(rng, case):
    n, c, h, w, o, k, s, p, d, g, bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x, wt = leaf(rng, n, c, h, w), leaf(rng, o, c // g, kh, kw)
    b = leaf(rng, o) if bias else None
    inputs = (x, wt) + ((b,) if bias else ())
    assert cr.gradcheck(lambda x, w, *b: conv2d(x, w, b[0] if b else None, s, p, d, g), inputs)


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 2), (1, "same", 2, 1), (3, 2, 2, 1)])
def test_conv1d_gradcheck(rng, stride, padding, dilation, groups):
    x, w, b = leaf(rng, 2, 2, 9), leaf(rng, 4, 2 // groups, 3), leaf(rng, 4)
    assert cr.gradcheck(lambda x, w, b: conv1d(x, w, b, stride, padding, dilation, groups),
                        (x, w, b))


# (C_in, C_out, kernel, stride, padding, output_padding, groups, dilation)
TRANSPOSE_CASES = [
    (2, 3, 3, 1, 0, 0, 1, 1),
    (2, 2, 3, 2, 1, 1, 1, 1),
    (4, 2, (2, 3), (2, 3), (1, 0), (1, 2), 2, 1),
    (2, 2, 3, 1, 1, 2, 1, 3),          # output_padding >= stride is allowed when below dilation
    (2, 4, 2, 2, 0, 1, 2, 2),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_gradcheck(rng, case):
    ci, co, k, s, p, op, g, d = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w, b = leaf(rng, 1, ci, 3, 4), leaf(rng, ci, co // g, kh, kw), leaf(rng, co)
    assert cr.gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, s, p, op, g, d), (x, w, b))


def test_conv_transpose1d_gradcheck(rng):
    x, w, b = leaf(rng, 2, 2, 4), leaf(rng, 2, 3, 3), leaf(rng, 3)
    assert cr.gradcheck(lambda x, w, b: conv_transpose1d(x, w, b, 2, 1, 1), (x, w, b))


def test_second_derivatives(rng):
    """Each backward map is itself a recorded primitive, so gradients of gradients work."""
    x, w = leaf(rng, 1, 2, 5, 5), leaf(rng, 4, 1, 3, 3)
    assert cr.gradgradcheck(lambda x, w: conv2d(x, w, None, 2, 1, 1, 2), (x, w))
    wt = leaf(rng, 2, 2, 3, 3)
    assert cr.gradgradcheck(lambda x, w: conv_transpose2d(x, w, None, 2, 1, 1, 2), (x, wt))


def test_gradient_penalty_through_conv(rng):
    """d/dw of ||d out/d x||^2 (a WGAN-GP style penalty) matches finite differences."""
    x, w = leaf(rng, 1, 1, 4, 4), leaf(rng, 2, 1, 2, 2)

    def penalty(w):
        with cr.enable_grad():      # gradcheck's numeric pass runs under no_grad
            y = conv2d(x, w, padding=1).tanh().sum()
            gx, = cr.grad(y, x, create_graph=True)
            return (gx * gx).sum()
    assert cr.gradcheck(penalty, (w,))


# --------------------------------------------------------------------- against torch
@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_matches_torch(rng, torch, case):
    n, c, h, w, o, k, s, p, d, g, bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((n + 1, c, h + 3, w + 2))
    wt, b = rng.standard_normal((o, c // g, kh, kw)), rng.standard_normal(o)
    arrays = (x, wt, b) if bias else (x, wt)
    _compare(torch, lambda x, w, *b: conv2d(x, w, b[0] if b else None, s, p, d, g),
             lambda x, w, *b: torch.nn.functional.conv2d(x, w, b[0] if b else None, s, p, d, g),
             *arrays)


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_torch(rng, torch, case):
    ci, co, k, s, p, op, g, d = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((2, ci, 4, 5))
    wt, b = rng.standard_normal((ci, co // g, kh, kw)), rng.standard_normal(co)
    _compare(torch, lambda x, w, b: conv_transpose2d(x, w, b, s, p, op, g, d),
             lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, s, p, op, g, d),
             x, wt, b)


def test_conv1d_and_transpose1d_match_torch(rng, torch):
    tf = torch.nn.functional
    x, w, b = rng.standard_normal((3, 4, 11)), rng.standard_normal((6, 2, 4)), rng.standard_normal(6)
    _compare(torch, lambda x, w, b: conv1d(x, w, b, 1, "same", 2, 2),
             lambda x, w, b: tf.conv1d(x, w, b, 1, "same", 2, 2), x, w, b)
    _compare(torch, lambda x, w, b: conv1d(x, w, b, 3, 1, 1, 2),
             lambda x, w, b: tf.conv1d(x, w, b, 3, 1, 1, 2), x, w, b)
    wt = rng.standard_normal((4, 3, 3))
    _compare(torch, lambda x, w, b: conv_transpose1d(x, w, b, 2, 1, 1),
             lambda x, w, b: tf.conv_transpose1d(x, w, b, 2, 1, 1), x, wt, b[:3])


def test_unbatched_input_matches_torch(rng, torch):
    x, w = rng.standard_normal((3, 6, 6)), rng.standard_normal((2, 3, 3, 3))
    ours = conv2d(cr.tensor(x), cr.tensor(w), padding=1)
    theirs = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1)
    assert ours.shape == (2, 6, 6)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-12)


def test_float32_gradient_of_a_broadcast_loss_matches_torch(rng, torch):
    """``out.sum().backward()`` hands the conv a broadcast (zero-stride) gradient."""
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    xc, wc = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    conv2d(xc, wc, padding=1, stride=2).sum().backward()
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, padding=1, stride=2).sum().backward()
    assert xc.grad.dtype == np.float32 and wc.grad.dtype == np.float32
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(wc.grad.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-4)


def _compare(torch, ours_fn, theirs_fn, *arrays):
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    with warnings.catch_warnings():     # torch notes that even 'same' kernels copy the input
        warnings.simplefilter("ignore", UserWarning)
        out_t = theirs_fn(*theirs)
    out_c = ours_fn(*ours)
    assert out_c.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = np.random.default_rng(7).standard_normal(out_c.shape)
    (out_c * cr.tensor(g)).sum().backward()
    out_t.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------- layers
@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
    lambda m: m.Conv2d(3, 5, (2, 3), padding="same", dilation=(1, 2), bias=False),
    lambda m: m.Conv1d(4, 4, 5, padding=2, groups=4),
    lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    lambda m: m.ConvTranspose1d(3, 2, 4, stride=2, padding=1, dilation=2),
])
def test_layers_match_torch(rng, torch, make):
    ours, theirs = make(nn), make(torch.nn).double()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.double().load_state_dict(theirs.state_dict())
    spatial = (7, 6) if isinstance(ours, (nn.Conv2d, nn.ConvTranspose2d)) else (9,)
    x = rng.standard_normal((2, ours.in_channels) + spatial)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_c, out_t = ours(xc), theirs(xt)
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), atol=1e-10)
    out_c.sum().backward()
    out_t.sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), atol=1e-10)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-10, err_msg=name)
    assert repr(ours) == repr(theirs)


def test_conv_layer_gradcheck(rng):
    layer = nn.Conv2d(2, 2, 2, stride=1, padding=1).double()
    x = leaf(rng, 1, 2, 3, 3)
    assert cr.gradcheck(lambda x, w, b: layer(x), (x, layer.weight, layer.bias))


def test_conv_transpose_output_size_matches_torch(rng, torch):
    ours = nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1).double()
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1).double()
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((1, 2, 4, 4))
    for size in [(10, 10), (11, 12), (1, 3, 12, 10)]:
        out_c = ours(cr.tensor(x), output_size=size)
        out_t = theirs(torch.tensor(x), output_size=size)
        assert out_c.shape == tuple(out_t.shape) == (1, 3) + tuple(size[-2:])
        np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="not reachable"):
        ours(cr.tensor(x), output_size=(13, 10))


def test_default_init_is_torchs():
    """kaiming_uniform_(a=sqrt(5)): weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = weight.shape[1] * kernel area (for transposed convs too, as in PyTorch)."""
    cr.manual_seed(3)
    for layer, fan_in in [(nn.Conv2d(16, 32, 3), 16 * 9), (nn.Conv2d(16, 32, 3, groups=4), 4 * 9),
                          (nn.ConvTranspose2d(16, 32, 3), 32 * 9), (nn.Conv1d(8, 64, 5), 8 * 5)]:
        bound = 1 / math.sqrt(fan_in)
        w = layer.weight.numpy()
        assert w.dtype == np.float32
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
        assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
        assert np.abs(layer.bias.numpy()).max() <= bound
    first = nn.Conv2d(2, 2, 3).weight.numpy().copy()
    cr.manual_seed(3)
    nn.Conv2d(16, 32, 3)
    nn.Conv2d(16, 32, 3, groups=4)
    nn.ConvTranspose2d(16, 32, 3)
    nn.Conv1d(8, 64, 5)
    np.testing.assert_array_equal(nn.Conv2d(2, 2, 3).weight.numpy(), first)   # seeded


# ---------------------------------------------------------------------------- errors
def test_argument_errors():
    with pytest.raises(ValueError, match="padding_mode='reflect' is not supported"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(TypeError, match="kernel_size"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="padding must be"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match=r"input has 2 channels .* expects 3"):
        nn.Conv2d(3, 4, 3)(cr.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        conv2d(cr.randn(1, 1, 2, 2), cr.randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="4-D input"):
        conv2d(cr.randn(5, 5), cr.randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(cr.randn(1, 1, 3, 3), cr.randn(1, 1, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="bias must have shape"):
        conv2d(cr.randn(1, 1, 3, 3), cr.randn(2, 1, 3, 3), cr.randn(3))


# ------------------------------------------------------------------- channel dropout
def test_dropout2d_drops_whole_channels():
    cr.manual_seed(0)
    x = cr.ones(8, 16, 4, 5, requires_grad=True)
    y = F.dropout2d(x, 0.5)
    per_channel = y.numpy().reshape(8, 16, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))     # all or nothing
    dropped = (per_channel[:, :, 0] == 0).mean()
    assert 0.3 < dropped < 0.7
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())     # d(x m)/dx = m


def test_dropout_modules_train_and_eval():
    drop = nn.Dropout2d(0.3)
    x = cr.randn(4, 6, 3, 3)
    assert drop.eval()(x) is x
    cr.manual_seed(5)
    a = drop.train()(x).numpy()
    cr.manual_seed(5)
    np.testing.assert_array_equal(drop(x).numpy(), a)                  # seeded
    assert F.dropout2d(x, 0.0) is x
    assert np.all(F.dropout2d(x, 1.0).numpy() == 0)
    y = nn.Dropout1d(0.5)(cr.ones(3, 10, 7)).numpy()
    assert np.all(y.min(axis=2) == y.max(axis=2))
    y = F.dropout1d(cr.ones(10, 7), 0.5).numpy()                        # unbatched (C, L)
    assert np.all(y.min(axis=1) == y.max(axis=1))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match="4-D"):
        F.dropout2d(cr.ones(3, 3), 0.5)
    assert repr(nn.Dropout2d(0.3)) == "Dropout2d(p=0.3, inplace=False)"


def test_batchnorm2d_in_a_conv_stack_matches_torch(rng, torch):
    """Conv -> BatchNorm2d -> ReLU -> MaxPool, in training and eval mode, against PyTorch."""
    def build(m):
        return m.Sequential(m.Conv2d(2, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(),
                            m.MaxPool2d(2))
    ours, theirs = build(nn).double(), build(torch.nn).double()
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((4, 2, 6, 6))
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out_c, out_t = ours(xc), theirs(xt)
        np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), atol=1e-10)
        (out_c * out_c).sum().backward()
        (out_t * out_t).sum().backward()
        np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), atol=1e-9)
    np.testing.assert_allclose(ours[1].running_var.numpy(), theirs[1].running_var.numpy(), atol=1e-12)
