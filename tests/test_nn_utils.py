"""Gradient clipping, weight penalties and parameter <-> vector helpers."""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.nn import utils

from conftest import seed_from_test_name

RNG = np.random.default_rng(5)


@pytest.fixture(autouse=True)
def _seeded(request):
    global RNG
    RNG = seed_from_test_name(request)


def _twin_models():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    ours.load_state_dict(theirs.state_dict())
    x = RNG.standard_normal((4, 3)) * 10
    (ours(cr.tensor(x)) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    return torch, ours, theirs


@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (1e6, 2.0), (0.1, 1.0), (0.2, math.inf),
                                                (0.3, 3.0)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch, ours, theirs = _twin_models()
    total_c = utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    assert isinstance(total_c, cr.Tensor) and total_c.ndim == 0
    assert total_c.item() == pytest.approx(total_t.item(), rel=1e-10)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(cr.tensor([3.0, 4.0]))
    p.grad = cr.tensor([3.0, 4.0])
    assert utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)  # a single tensor is fine
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert utils.clip_grad_norm_([nn.Parameter(cr.zeros(2))], 1.0).item() == 0.0  # no grads
    p.grad = cr.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm .* is inf"):
        utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        utils.clip_grad_norm_(p, -1.0)


def test_clip_grad_value_matches_torch():
    torch, ours, theirs = _twin_models()
    utils.clip_grad_value_(ours.parameters(), 0.7)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.7)
    clipped = 0
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-14)
        assert np.abs(p.grad.numpy()).max() <= 0.7
        clipped += int((np.abs(p.grad.numpy()) == 0.7).sum())
    assert clipped > 0
    with pytest.raises(ValueError, match="clip_value"):
        utils.clip_grad_value_(ours.parameters(), -1)


def test_parameters_to_vector_and_back():
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = utils.parameters_to_vector(model.parameters())
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    np.testing.assert_array_equal(vec.numpy(),
                                  torch.nn.utils.parameters_to_vector(theirs.parameters()).detach().numpy())
    (vec * vec).sum().backward()  # differentiable
    np.testing.assert_allclose(model[0].weight.grad.numpy(), 2 * model[0].weight.numpy())
    utils.vector_to_parameters(cr.arange(vec.numel()).float(), model.parameters())
    np.testing.assert_array_equal(model[0].weight.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(model[1].bias.numpy(), [10.0])
    with pytest.raises(ValueError, match="12 entries but the parameters hold 11"):
        utils.vector_to_parameters(cr.zeros(12), model.parameters())


def test_penalties_values_and_regularised_gradients():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1)).double()
    params = dict(model.named_parameters())
    l1 = utils.l1_penalty(model, weight=0.1)
    l2 = utils.l2_penalty(model, weight=0.01)
    assert l1.item() == pytest.approx(0.1 * sum(np.abs(p.numpy()).sum() for p in params.values()))
    assert l2.item() == pytest.approx(0.01 * sum((p.numpy() ** 2).sum() for p in params.values()))
    only_w = utils.l2_penalty(model, 1.0, exclude_bias=True)
    matrices = [p for p in params.values() if p.ndim > 1]
    assert only_w.item() == pytest.approx(sum((p.numpy() ** 2).sum() for p in matrices))
    # the regularised gradient: data term + 2 * weight * w (L2) + weight * sign(w) (L1)
    x, y = cr.tensor(RNG.standard_normal((5, 3))), cr.tensor(RNG.standard_normal((5, 1)))
    F.mse_loss(model(x), y).backward()
    data_grad = {n: p.grad.numpy().copy() for n, p in params.items()}
    model.zero_grad()
    (F.mse_loss(model(x), y) + utils.l2_penalty(model, 0.01) + utils.l1_penalty(model, 0.1)).backward()
    for n, p in params.items():
        expected = data_grad[n] + 0.02 * p.numpy() + 0.1 * np.sign(p.numpy())
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-10, err_msg=n)
    w = model[0].weight
    assert cr.gradcheck(lambda t: utils.l2_penalty([t], 0.3) + utils.l1_penalty([t], 0.2), (w,))


def test_penalties_accept_parameter_lists_and_skip_frozen():
    a = nn.Parameter(cr.tensor([1.0, -2.0]))
    b = nn.Parameter(cr.tensor([[3.0]]), requires_grad=False)
    assert utils.l1_penalty([a, b]).item() == 3.0
    assert utils.l2_penalty(a).item() == 5.0
    assert utils.l2_penalty([a], exclude_bias=True).item() == 0.0
    with pytest.raises(TypeError, match="expected a Module or tensors"):
        utils.l1_penalty([np.zeros(2)])
