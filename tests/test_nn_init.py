"""Initialisers: formulas and statistics against PyTorch's, in place, seeded."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import init


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name in ["linear", "conv2d", "sigmoid", "tanh", "relu", "selu", "leaky_relu"]:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("fn,kwargs,expected_std", [
    ("uniform_", {"a": -0.3, "b": 0.3}, 0.3 / math.sqrt(3)),
    ("normal_", {"mean": 0.0, "std": 0.2}, 0.2),
    ("xavier_uniform_", {}, math.sqrt(2 / (200 + 100))),
    ("xavier_normal_", {"gain": 2.0}, 2 * math.sqrt(2 / (200 + 100))),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(200)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(100)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, 1 / math.sqrt(200) / math.sqrt(3)),
])
def test_random_initialisers_have_torch_statistics(fn, kwargs, expected_std):
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    ours = getattr(init, fn)(cr.empty(100, 200), **kwargs)
    theirs = getattr(torch.nn.init, fn)(torch.empty(100, 200), **kwargs).numpy()
    assert ours.dtype == np.float32
    assert ours.numpy().std() == pytest.approx(expected_std, rel=0.02)
    assert theirs.std() == pytest.approx(expected_std, rel=0.02)
    if "uniform" in fn:  # same support
        assert np.abs(ours.numpy()).max() <= np.abs(theirs).max() * 1.01 + 1e-7
        assert np.abs(ours.numpy()).max() >= np.abs(theirs).max() * 0.99


def test_fans_for_conv_shaped_weights():
    w = init.kaiming_normal_(cr.empty(64, 16, 3, 3), nonlinearity="relu")  # fan_in = 16*9
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.03)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(cr.empty(5))
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_uniform_(cr.empty(2, 2), mode="fan_avg")


def test_deterministic_initialisers():
    assert np.all(init.zeros_(cr.empty(2, 3)).numpy() == 0)
    assert np.all(init.ones_(cr.empty(2, 3)).numpy() == 1)
    assert np.all(init.constant_(cr.empty(4), 0.5).numpy() == 0.5)
    np.testing.assert_array_equal(init.eye_(cr.empty(2, 3)).numpy(), np.eye(2, 3))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(cr.empty(2, 2, 2))


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (3, 2, 2)])
def test_orthogonal(shape):
    w = init.orthogonal_(cr.empty(*shape, dtype=np.float64), gain=2.0).numpy().reshape(shape[0], -1)
    if w.shape[0] <= w.shape[1]:
        np.testing.assert_allclose(w @ w.T, 4 * np.eye(w.shape[0]), atol=1e-10)
    else:
        np.testing.assert_allclose(w.T @ w, 4 * np.eye(w.shape[1]), atol=1e-10)


def test_initialisers_work_in_place_on_parameters_and_are_seeded():
    p = cr.nn.Parameter(cr.zeros(3, 4))
    cr.manual_seed(5)
    out = init.normal_(p)
    assert out is p and p.requires_grad and p.grad_fn is None
    first = p.numpy().copy()
    cr.manual_seed(5)
    init.normal_(p)
    np.testing.assert_array_equal(p.numpy(), first)
    gen = np.random.default_rng(1)
    a = init.uniform_(cr.empty(3), generator=gen).numpy().copy()
    b = init.uniform_(cr.empty(3), generator=np.random.default_rng(1)).numpy()
    np.testing.assert_array_equal(a, b)
