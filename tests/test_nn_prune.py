"""cr.nn.utils.prune against torch.nn.utils.prune: masks, names, hooks, gradients, optimisers,
and the bitmask storage of a pruned model's state."""
import copy
import doctest
import math
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import prune

from conftest import seed_from_test_name

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _seeded(request):
    global RNG
    RNG = seed_from_test_name(request)


@pytest.fixture
def tprune(torch):
    """torch.nn.utils.prune (a submodule PyTorch does not import by itself)."""
    return pytest.importorskip("torch.nn.utils.prune")


def twins(torch, conv: bool = False):
    """The same layer in chainrule and PyTorch (float64, distinct random weights)."""
    if conv:
        ours, theirs = nn.Conv2d(3, 6, 3).double(), torch.nn.Conv2d(3, 6, 3).double()
    else:
        ours, theirs = nn.Linear(7, 5).double(), torch.nn.Linear(7, 5).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def masks_equal(ours, theirs, name="weight"):
    np.testing.assert_array_equal(getattr(ours, name + "_mask").numpy(),
                                  getattr(theirs, name + "_mask").detach().numpy())
    np.testing.assert_array_equal(getattr(ours, name).numpy(),
                                  getattr(theirs, name).detach().numpy())


def test_doctests_pass():
    result = doctest.testmod(prune, extraglobs={"cr": cr, "np": np, "prune": prune})
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 11, 35])
def test_l1_unstructured_matches_torch(torch, tprune, amount):
    ours, theirs = twins(torch)
    prune.l1_unstructured(ours, "weight", amount)
    tprune.l1_unstructured(theirs, "weight", amount)
    masks_equal(ours, theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == ["weight_mask"]
    assert type(ours.weight) is cr.Tensor and "weight" not in ours._parameters


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("n,dim,amount", [(2, 0, 0.4), (1, 1, 2), (math.inf, 0, 0.5),
                                          (2, -1, 0.34), (1, 0, 0)])
def test_ln_structured_matches_torch(torch, tprune, conv, n, dim, amount):
    ours, theirs = twins(torch, conv)
    prune.ln_structured(ours, "weight", amount, n=n, dim=dim)
    tprune.ln_structured(theirs, "weight", amount, n=n, dim=dim)
    masks_equal(ours, theirs)


@pytest.mark.parametrize("first,second", [
    (("l1", 0.3), ("l1", 0.5)),                  # the second amount counts unpruned entries
    (("ln", 0.4), ("l1", 0.5)),
    (("l1", 0.5), ("ln", 0.4)),                  # structured: among channels still alive
    (("ln", 1), ("ln", 0.5)),
    (("l1", 10), ("l1", 5)),
])
def test_repeated_pruning_combines_masks_as_torch(torch, tprune, first, second):
    ours, theirs = twins(torch, conv=True)
    for kind, amount in (first, second):
        if kind == "l1":
            prune.l1_unstructured(ours, "weight", amount)
            tprune.l1_unstructured(theirs, "weight", amount)
        else:
            prune.ln_structured(ours, "weight", amount, n=2, dim=0)
            tprune.ln_structured(theirs, "weight", amount, n=2, dim=0)
    masks_equal(ours, theirs)
    hook = next(iter(ours._forward_pre_hooks.values()))
    assert isinstance(hook, prune.PruningContainer) and len(hook) == 2
    assert len(ours._forward_pre_hooks) == 1
    assert [n for n, _ in ours.named_parameters()] == ["bias", "weight_orig"]


def test_global_unstructured_ranks_across_layers_as_torch(torch, tprune):
    ours = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                                 torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        theirs[2].weight.mul_(3.0)               # a layer of larger weights loses fewer
    ours.load_state_dict(theirs.state_dict())
    prune.l1_unstructured(ours[0], "weight", 0.25)          # one already pruned: kept zeros
    tprune.l1_unstructured(theirs[0], "weight", 0.25)
    prune.global_unstructured([(ours[0], "weight"), (ours[2], "weight"), (ours[2], "bias")],
                              prune.L1Unstructured, amount=0.6)
    tprune.global_unstructured(
        [(theirs[0], "weight"), (theirs[2], "weight"), (theirs[2], "bias")],
        tprune.L1Unstructured, amount=0.6)
    masks_equal(ours[0], theirs[0])
    masks_equal(ours[2], theirs[2])
    masks_equal(ours[2], theirs[2], "bias")
    pruned = sum(float((m.numpy() == 0).sum()) for _, m in ours.named_buffers())
    # 12 pruned before; 60% of the 63 entries still alive go now.
    assert pruned == 12 + round(0.6 * (48 + 24 + 3 - 12))


def test_importance_scores_decide_instead_of_the_values(torch, tprune):
    ours, theirs = twins(torch)
    scores = RNG.random((5, 7))
    prune.l1_unstructured(ours, "weight", 0.5, importance_scores=cr.tensor(scores))
    tprune.l1_unstructured(theirs, "weight", 0.5,
                                         importance_scores=torch.tensor(scores))
    masks_equal(ours, theirs)
    with pytest.raises(ValueError, match=r"importance_scores for 'weight' have shape \(2,\)"):
        prune.l1_unstructured(nn.Linear(7, 5), "weight", 0.5, importance_scores=np.ones(2))


def test_custom_from_mask_and_identity(torch):
    layer = nn.Linear(3, 2)
    prune.custom_from_mask(layer, "bias", mask=cr.tensor([0.0, 1.0]))
    assert layer.bias.numpy()[0] == 0 and layer.bias.numpy()[1] == layer.bias_orig.numpy()[1]
    prune.identity(layer, "weight")
    assert np.array_equal(layer.weight_mask.numpy(), np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="the mask has shape"):
        prune.custom_from_mask(nn.Linear(3, 2), "bias", mask=np.ones(3))


def test_random_methods_prune_the_requested_count_reproducibly():
    def pruned_masks(seed):
        cr.manual_seed(seed)
        layer = nn.Conv2d(4, 8, 3)
        prune.random_unstructured(layer, "weight", amount=0.3)
        prune.random_structured(layer, "bias" if False else "weight", amount=3, dim=0)
        return layer.weight_mask.numpy()
    a, b, c = pruned_masks(1), pruned_masks(1), pruned_masks(2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    dead_filters = (a.reshape(8, -1).sum(axis=1) == 0).sum()
    assert dead_filters >= 3
    layer = nn.Linear(10, 10)
    prune.random_unstructured(layer, "weight", amount=0.25)
    assert int((layer.weight_mask.numpy() == 0).sum()) == 25


def test_the_mask_is_applied_in_forward_and_the_gradient_as_torch(torch, tprune):
    ours, theirs = twins(torch)
    prune.l1_unstructured(ours, "weight", 0.6)
    tprune.l1_unstructured(theirs, "weight", 0.6)
    x = RNG.standard_normal((4, 7))
    y_ours, y_theirs = ours(cr.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(y_ours.numpy(), y_theirs.detach().numpy(), rtol=1e-12)
    dense = x @ (ours.weight_orig.numpy() * ours.weight_mask.numpy()).T + ours.bias.numpy()
    np.testing.assert_allclose(y_ours.numpy(), dense, rtol=1e-12)
    (y_ours ** 2).sum().backward()
    (y_theirs ** 2).sum().backward()
    grad = ours.weight_orig.grad.numpy()
    np.testing.assert_allclose(grad, theirs.weight_orig.grad.numpy(), rtol=1e-12)
    assert np.all(grad[ours.weight_mask.numpy() == 0] == 0)
    # In-place changes to weight_orig show up in the next forward (the hook recomputes).
    with cr.no_grad():
        ours.weight_orig.numpy()[...] = 1.0
    ours(cr.tensor(x))
    np.testing.assert_array_equal(ours.weight.numpy(), ours.weight_mask.numpy())


OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.01)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.01)),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_every_optimiser_respects_the_mask_and_matches_torch(torch, tprune, name, kwargs):
    ours, theirs = twins(torch)
    opt_ours = getattr(cr.optim, name)(ours.parameters(), **kwargs)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    x, t = RNG.standard_normal((16, 7)), RNG.standard_normal((16, 5))
    for step in range(6):
        if step == 2:     # prune mid-run: the optimiser holds weight_orig, the same object
            prune.l1_unstructured(ours, "weight", 0.5)
            tprune.l1_unstructured(theirs, "weight", 0.5)
        for model, opt, lib, to in ((ours, opt_ours, cr, cr.tensor),
                                    (theirs, opt_theirs, torch, torch.tensor)):
            opt.zero_grad()
            ((model(to(x)) - to(t)) ** 2).mean().backward()
            opt.step()
    ours(cr.tensor(x))
    theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.weight_orig.numpy(), theirs.weight_orig.detach().numpy(),
                               rtol=1e-9, atol=1e-12)
    assert np.all(ours.weight.numpy()[ours.weight_mask.numpy() == 0] == 0)
    assert ours.weight_orig is opt_ours.param_groups[0]["params"][0]


def test_fit_trains_a_pruned_model_whose_pruned_weights_stay_zero():
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    prune.global_unstructured([(model[0], "weight"), (model[2], "weight")],
                              prune.L1Unstructured, amount=0.7)
    X = RNG.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=16, shuffle=True)
    cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=0.05),
                 loader, epochs=3, verbose=0)
    for layer in (model[0], model[2]):
        assert np.all(layer.weight.numpy()[layer.weight_mask.numpy() == 0] == 0)
    assert prune.is_pruned(model) and not prune.is_pruned(nn.Linear(2, 2))


def test_remove_makes_pruning_permanent_as_torch(torch, tprune):
    ours, theirs = twins(torch)
    prune.l1_unstructured(ours, "weight", 0.5)
    tprune.l1_unstructured(theirs, "weight", 0.5)
    orig = ours.weight_orig
    prune.remove(ours, "weight")
    tprune.remove(theirs, "weight")
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    assert ours.weight is orig and isinstance(ours.weight, nn.Parameter)
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    assert not ours._forward_pre_hooks and not prune.is_pruned(ours)
    with pytest.raises(ValueError, match="'weight' of module Linear has to be pruned before"):
        prune.remove(ours, "weight")


def test_a_pruned_state_dict_loads_into_a_pruned_twin_and_survives_a_copy():
    a = nn.Linear(6, 4)
    prune.l1_unstructured(a, "weight", 0.5)
    b = nn.Linear(6, 4)
    prune.identity(b, "weight")
    b.load_state_dict(a.state_dict())
    x = cr.randn(3, 6)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    c = copy.deepcopy(a)
    np.testing.assert_array_equal(c(x).numpy(), a(x).numpy())
    assert prune.is_pruned(c)


@pytest.mark.parametrize("amount,error,match", [
    (-1, ValueError, "non-negative integer"), (1.5, ValueError, r"range \[0, 1\]"),
    (36, ValueError, "smaller than the number of parameters to prune=35"),
    ("half", TypeError, "amount must be an int"), (True, TypeError, "amount must be an int"),
])
def test_bad_amounts_are_refused_and_leave_the_module_unchanged(amount, error, match):
    layer = nn.Linear(7, 5)
    with pytest.raises(error, match=match):
        prune.l1_unstructured(layer, "weight", amount)
    assert "weight" in layer._parameters and not layer._forward_pre_hooks


def test_bad_names_and_dims_are_refused():
    with pytest.raises(AttributeError, match="Linear has no parameter 'wieght'.*weight, bias"):
        prune.l1_unstructured(nn.Linear(2, 2), "wieght", 0.5)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        prune.ln_structured(nn.Linear(2, 2), "bias", 1, n=2, dim=0)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        prune.ln_structured(nn.Linear(2, 2), "weight", 1, n=2, dim=2)
    with pytest.raises(TypeError, match="only unstructured methods"):
        prune.global_unstructured([(nn.Linear(2, 2), "weight")], prune.LnStructured,
                                  amount=1, n=2, dim=0)
    with pytest.raises(TypeError, match="iterable of"):
        prune.global_unstructured("weight", prune.L1Unstructured, amount=1)


def test_sparse_state_dict_is_smaller_and_round_trips(tmp_path):
    model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
    prune.global_unstructured([(model[0], "weight"), (model[2], "weight")],
                              prune.L1Unstructured, amount=0.9)
    for layer in (model[0], model[2]):
        prune.remove(layer, "weight")
    state = model.state_dict()
    packed = prune.sparse_state_dict(state)
    assert isinstance(packed["0.weight"], dict) and isinstance(packed["0.bias"], np.ndarray)
    dense_path, sparse_path = tmp_path / "dense.ckpt", tmp_path / "sparse.ckpt"
    cr.save(dict(state), dense_path)
    cr.save(packed, sparse_path)
    # 5,500 weights: 10% of them as float32 plus one bit each, against 4 bytes each.
    assert os.path.getsize(sparse_path) < 0.3 * os.path.getsize(dense_path)
    restored = prune.dense_state_dict(cr.load(sparse_path))
    fresh = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
    fresh.load_state_dict(restored)
    for key, value in state.items():
        np.testing.assert_array_equal(fresh.state_dict()[key].numpy(), value.numpy())
    # Dense tensors stay dense; a damaged entry is named.
    assert isinstance(prune.sparse_state_dict({"w": np.ones((4, 4), np.float32)})["w"], np.ndarray)
    bad = dict(packed)
    bad["0.weight"] = dict(packed["0.weight"], values=packed["0.weight"]["values"][:-1])
    kept = packed["0.weight"]["values"].size
    with pytest.raises(ValueError, match=f"'0.weight' marks {kept} entries as kept but stores "
                                         f"{kept - 1}"):
        prune.dense_state_dict(bad)
    # A shape the mask does not cover is refused before anything of that size is made.
    bomb = dict(packed["0.weight"], shape=[10 ** 6, 10 ** 6])
    with pytest.raises(ValueError, match="mask of 5000 bits for the 1000000000000 entries"):
        prune.dense_state_dict({"0.weight": bomb})
    assert prune.sparse_entry_shape(packed["0.weight"]) == (50, 100)
