"""Pooling: gradient checks (float64), second derivatives, agreement with PyTorch (values,
gradients, tie-breaking, NaN, indices), the layers, and argument errors."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.ops.pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d,
                                avg_pool2d, max_pool1d, max_pool2d)


def separated(rng, *shape):
    """Distinct values at least 0.1 apart: finite differences never flip a maximum."""
    n = int(np.prod(shape))
    return cr.tensor((rng.permutation(n) * 0.1 - n * 0.05).reshape(shape), requires_grad=True)


MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=1, padding=1),                       # overlapping windows
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
]

AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=1, divisor_override=4),
]


@pytest.mark.parametrize("kw", MAX_CASES)
def test_max_pool2d_gradcheck(rng, kw):
    x = separated(rng, 2, 2, 5, 6)
    assert cr.gradcheck(lambda x: max_pool2d(x, **kw), x)


@pytest.mark.parametrize("kw", AVG_CASES)
def test_avg_pool2d_gradcheck(rng, kw):
    x = cr.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    assert cr.gradcheck(lambda x: avg_pool2d(x, **kw), x)


@pytest.mark.parametrize("size", [(3, 4), 2, (1, 1), (None, 4), (5, 6)])
def test_adaptive_avg_pool2d_gradcheck(rng, size):
    x = cr.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    assert cr.gradcheck(lambda x: adaptive_avg_pool2d(x, size), x)


def test_1d_pools_gradcheck(rng):
    x = separated(rng, 2, 3, 9)
    assert cr.gradcheck(lambda x: max_pool1d(x, 3, 2, 1), x)
    assert cr.gradcheck(lambda x: avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), x)
    assert cr.gradcheck(lambda x: adaptive_avg_pool1d(x, 4), x)


def test_second_derivatives(rng):
    x = separated(rng, 1, 2, 5, 5)
    assert cr.gradgradcheck(lambda x: max_pool2d(x, 3, 2, 1) ** 2, x)
    assert cr.gradgradcheck(lambda x: avg_pool2d(x, 3, 2, 1, count_include_pad=False) ** 2, x)
    assert cr.gradgradcheck(lambda x: adaptive_avg_pool2d(x, 3) ** 2, x)


# --------------------------------------------------------------------- against torch
def _against_torch(torch, ours, theirs, x):
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_c, out_t = ours(xc), theirs(xt)
    idx_c = idx_t = None
    if isinstance(out_c, tuple):
        (out_c, idx_c), (out_t, idx_t) = out_c, out_t
    assert out_c.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    if idx_c is not None:
        assert idx_c.dtype == np.int64
        np.testing.assert_array_equal(idx_c.numpy(), idx_t.numpy())
    g = np.random.default_rng(3).standard_normal(out_c.shape)
    (out_c * cr.tensor(g)).sum().backward()
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", MAX_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2d_matches_torch(rng, torch, kw, ties):
    """With ties (small integers) the gradient must go to the same (first) maximum."""
    x = rng.standard_normal((2, 3, 7, 8))
    if ties:
        x = np.round(x)
    kw = dict(kw, return_indices=True)
    _against_torch(torch, lambda t: max_pool2d(t, **kw),
                   lambda t: torch.nn.functional.max_pool2d(t, **kw), x)


@pytest.mark.parametrize("kw", AVG_CASES)
def test_avg_pool2d_matches_torch(rng, torch, kw):
    _against_torch(torch, lambda t: avg_pool2d(t, **kw),
                   lambda t: torch.nn.functional.avg_pool2d(t, **kw), rng.standard_normal((2, 3, 7, 8)))


@pytest.mark.parametrize("size", [(3, 4), 5, (1, 1), (None, 3), (2, 4), (7, 8), (9, 11)])
def test_adaptive_avg_pool2d_matches_torch(rng, torch, size):
    _against_torch(torch, lambda t: adaptive_avg_pool2d(t, size),
                   lambda t: torch.nn.functional.adaptive_avg_pool2d(t, size),
                   rng.standard_normal((2, 3, 7, 8)))


def test_1d_and_unbatched_match_torch(rng, torch):
    tf = torch.nn.functional
    x = np.round(rng.standard_normal((2, 3, 11)) * 2)
    _against_torch(torch, lambda t: max_pool1d(t, 3, 2, 1, 1, True, True),
                   lambda t: tf.max_pool1d(t, 3, 2, 1, 1, True, True), x)
    _against_torch(torch, lambda t: avg_pool1d(t, 4, 3, 2, True, False),
                   lambda t: tf.avg_pool1d(t, 4, 3, 2, True, False), x)
    _against_torch(torch, lambda t: adaptive_avg_pool1d(t, 4),
                   lambda t: tf.adaptive_avg_pool1d(t, 4), x)
    _against_torch(torch, lambda t: max_pool2d(t, 2, return_indices=True),
                   lambda t: tf.max_pool2d(t, 2, return_indices=True), x)      # (C, H, W)
    _against_torch(torch, lambda t: adaptive_avg_pool2d(t, (2, 3)),
                   lambda t: tf.adaptive_avg_pool2d(t, (2, 3)), x)


def test_nan_propagates_and_takes_the_gradient_like_torch(torch):
    x = np.array([[[[1.0, np.nan, 3.0, np.nan], [0.0, 5.0, np.nan, 2.0]]]])
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_c, out_t = max_pool2d(xc, (2, 2)), torch.nn.functional.max_pool2d(xt, (2, 2))
    assert np.isnan(out_c.numpy()).all() and torch.isnan(out_t).all()
    out_c.sum().backward()
    out_t.sum().backward()
    np.testing.assert_array_equal(xc.grad.numpy(), xt.grad.numpy())


def test_indices_without_grad():
    x = cr.tensor([[[[1.0, 4.0], [3.0, 2.0]]]])
    with cr.no_grad():
        out, idx = max_pool2d(x, 2, return_indices=True)
    assert out.item() == 4.0 and idx.item() == 1


# ---------------------------------------------------------------------------- layers
@pytest.mark.parametrize("make", [
    lambda m: m.MaxPool2d(3, stride=2, padding=1),
    lambda m: m.MaxPool2d(2, ceil_mode=True),
    lambda m: m.MaxPool1d(2),
    lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    lambda m: m.AvgPool1d(3),
    lambda m: m.AdaptiveAvgPool2d((3, 5)),
    lambda m: m.AdaptiveAvgPool1d(3),
])
def test_layers_match_torch(rng, torch, make):
    ours, theirs = make(nn), make(torch.nn)
    shape = (2, 3, 7, 9) if "2d" in type(ours).__name__ else (2, 3, 10)
    _against_torch(torch, ours, theirs, rng.standard_normal(shape))
    assert list(ours.parameters()) == []


def test_layer_defaults_and_repr():
    pool = nn.MaxPool2d(3)
    assert pool.stride == 3
    assert pool(cr.randn(1, 2, 9, 9)).shape == (1, 2, 3, 3)
    assert repr(pool) == ("MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, "
                          "ceil_mode=False)")
    out, idx = nn.MaxPool2d(2, return_indices=True)(cr.randn(1, 1, 4, 4))
    assert out.shape == idx.shape == (1, 1, 2, 2)
    assert repr(nn.AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(output_size=1)"
    assert F.adaptive_avg_pool2d(cr.ones(2, 3, 5, 5), 1).shape == (2, 3, 1, 1)


def test_float32_stays_float32():
    x = cr.randn(2, 3, 8, 8, requires_grad=True)
    y = F.max_pool2d(x, 2) + F.avg_pool2d(x, 2) + F.adaptive_avg_pool2d(x, 4)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


# ---------------------------------------------------------------------------- errors
def test_argument_errors():
    x = cr.randn(1, 1, 5, 5)
    with pytest.raises(ValueError, match="at most half of the kernel"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="smaller than the"):
        max_pool2d(x, 7)
    with pytest.raises(ValueError, match="must be positive"):
        avg_pool2d(x, 2, stride=0)
    with pytest.raises(TypeError, match="kernel_size"):
        max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="4-D"):
        max_pool2d(cr.randn(5, 5), 2)
    with pytest.raises(ValueError, match="output_size must be positive"):
        adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="divisor_override"):
        avg_pool2d(x, 2, divisor_override=0)
