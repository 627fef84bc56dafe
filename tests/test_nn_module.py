"""Module machinery: registration, traversal, state dicts, modes, dtypes, repr, containers."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(cr.ones(4))
        self.register_buffer("count", cr.zeros(()))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.block(x))


# ------------------------------------------------------------------ registration
def test_attribute_assignment_registers_parameters_buffers_and_children():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "block.norm.weight",
                     "block.norm.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "block.count", "block.scratch", "block.norm.running_mean", "block.norm.running_var",
        "block.norm.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.norm", "head",
                                                   "head.0", "head.1"]
    assert len(list(net.parameters())) == 7
    assert len(list(net.parameters(recurse=False))) == 0
    assert len(list(net.block.parameters(recurse=False))) == 1
    assert len(list(net.modules())) == 7 and len(list(net.children())) == 2
    assert net.get_submodule("head.1") is net.head[1]
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("head.nope")


def test_parameter_is_a_tensor_that_requires_grad_and_shares_data():
    arr = np.zeros((2, 3), dtype=np.float32)
    p = nn.Parameter(cr.Tensor(arr))
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.numpy() is arr
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(cr.zeros(2), requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(cr.tensor([1, 2]))
    out = p * 2  # operations on a Parameter give plain tensors
    assert type(out) is cr.Tensor


def test_shared_parameters_are_listed_once_but_saved_under_each_name():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_registration_errors_are_clear():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(cr.zeros(1))
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Forgot()
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = cr.zeros(2, 2)
    with pytest.raises(KeyError, match="no '.'"):
        m.register_buffer("a.b", cr.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("weight", cr.zeros(1))
    with pytest.raises(TypeError, match="buffer 'x'"):
        m.register_buffer("x", np.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        m.nothing
    with pytest.raises(TypeError, match="no forward"):
        nn.Module()(cr.zeros(1))


def test_reassigning_and_deleting_attributes():
    m = nn.Linear(2, 2)
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert m(cr.ones(1, 2)).shape == (1, 2)
    m.register_buffer("stat", cr.zeros(2))
    m.stat = cr.ones(2)
    assert m.state_dict()["stat"].tolist() == [1.0, 1.0]
    del m.stat
    assert "stat" not in m.state_dict()
    m.extra = 3  # plain attributes stay plain
    assert m.extra == 3 and "extra" not in m.state_dict()


# -------------------------------------------------------------------- state dict
def test_state_dict_round_trip_includes_persistent_buffers_only():
    cr.manual_seed(0)
    net = Net()
    net(cr.randn(5, 3))  # moves BatchNorm's running statistics
    state = net.state_dict()
    assert "block.scratch" not in state and "block.norm.num_batches_tracked" in state
    assert isinstance(state, OrderedDict)
    saved = {k: v.numpy().copy() for k, v in state.items()}
    cr.manual_seed(1)
    other = Net()
    assert not np.allclose(other.block.fc.weight.numpy(), saved["block.fc.weight"])
    result = other.load_state_dict(saved)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), saved[k])
    assert int(other.block.norm.num_batches_tracked.item()) == 1
    x = cr.randn(4, 3)
    np.testing.assert_allclose(net.eval()(x).numpy(), other.eval()(x).numpy())


def test_state_dict_values_share_memory_and_keep_vars_returns_parameters():
    m = nn.Linear(2, 2)
    assert m.state_dict()["weight"].numpy() is m.weight.numpy()
    assert m.state_dict(keep_vars=True)["weight"] is m.weight
    assert list(m.state_dict(prefix="enc.")) == ["enc.weight", "enc.bias"]


def test_load_state_dict_names_missing_unexpected_and_mismatched_keys_at_once():
    net = Net()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    del state["block.fc.bias"]
    state["block.extra"] = np.zeros(3)
    state["head.1.weight"] = np.zeros((5, 4))
    before = net.block.fc.weight.numpy().copy()
    state["block.fc.weight"] = np.zeros((4, 3))
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(state)
    msg = str(err.value)
    assert 'Missing key(s) in state_dict: "block.fc.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "block.extra"' in msg
    assert "size mismatch for head.1.weight" in msg and "(5, 4)" in msg and "(2, 4)" in msg
    np.testing.assert_array_equal(net.block.fc.weight.numpy(), before)  # nothing copied


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    m = nn.Linear(2, 2)
    res = m.load_state_dict({"weight": np.ones((2, 2)), "other": np.zeros(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["other"]
    np.testing.assert_array_equal(m.weight.numpy(), np.ones((2, 2)))
    assert m.weight.dtype == np.float32  # cast to the parameter's dtype
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        m.load_state_dict({"weight": np.ones((3, 2))}, strict=False)


def test_load_state_dict_accepts_chainrule_tensors_and_torch_tensors():
    torch = pytest.importorskip("torch")
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    tm.train()
    tm(torch.randn(6, 3))
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    ours.load_state_dict(tm.state_dict())
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())
    # and back: our state dict loads into torch
    tm2 = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    tm2.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    copy_back = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    copy_back.load_state_dict(ours.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(copy_back.eval()(cr.tensor(x)).numpy(),
                               tm2.eval()(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ modes, grads
def test_train_eval_recurse_and_return_self():
    net = Net()
    assert net.training and net.block.norm.training
    assert net.eval() is net
    assert not net.training and not net.block.norm.training and not net.head[0].training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad_requires_grad_and_apply():
    m = nn.Linear(3, 2)
    m(cr.randn(4, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert np.all(m.weight.grad.numpy() == 0)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    net = Net().apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "BatchNorm1d", "Block", "ReLU", "Linear", "Sequential", "Net"]
    assert isinstance(net, Net)


def test_to_double_float_keep_parameter_identity():
    net = Net()
    w = net.block.fc.weight
    net(cr.randn(4, 3)).sum().backward()
    assert net.double() is net
    assert net.block.fc.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert net.block.norm.running_mean.dtype == np.float64
    assert net.block.norm.num_batches_tracked.dtype == np.int64  # integer buffers untouched
    assert net(cr.randn(4, 3).double()).dtype == np.float64
    net.float()
    assert w.dtype == np.float32
    net.to(cr.float64)
    assert w.dtype == np.float64
    net.to("cpu")
    net.to(cr.zeros(1, dtype=np.float32))
    assert w.dtype == np.float32
    with pytest.raises(ValueError, match="cuda"):
        net.to("cuda")
    with pytest.raises(TypeError, match="floating"):
        net.to(np.int32)


def test_deepcopy_makes_independent_models():
    net = Net()
    twin = copy.deepcopy(net)
    assert twin.block.fc.weight is not net.block.fc.weight
    assert isinstance(twin.block.fc.weight, nn.Parameter) and twin.block.fc.weight.requires_grad
    np.testing.assert_array_equal(twin.block.fc.weight.numpy(), net.block.fc.weight.numpy())
    with cr.no_grad():
        twin.block.fc.weight.fill_(0)
    assert not np.all(net.block.fc.weight.numpy() == 0)
    assert list(twin.state_dict()) == list(net.state_dict())
    assert isinstance(twin.head[1].bias, nn.Parameter)


def test_forward_hooks_see_and_can_replace_values():
    m = nn.Linear(2, 2)
    seen = []
    h = m.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    pre = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    out = m(cr.ones(3, 2))
    assert seen == [(3, 2)]
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(m.bias.numpy(), (3, 2)))
    h.remove()
    pre.remove()
    m(cr.ones(1, 2))
    assert seen == [(3, 2)]


# ------------------------------------------------------------------------- repr
def test_repr_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.25),
        nn.Sequential(nn.LayerNorm(8), nn.GELU(approximate="tanh"), nn.Linear(8, 3, bias=False)),
        nn.LeakyReLU(0.2), nn.ELU(), nn.Softplus(), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1),
        nn.Flatten(), nn.Unflatten(1, (1, 3)), nn.Embedding(10, 3, padding_idx=0), nn.Identity(),
        nn.SiLU(), nn.Tanh(), nn.Sigmoid(), nn.ReLU(inplace=True),
        nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU()]),
        nn.ModuleDict({"a": nn.Linear(1, 1)}), nn.CrossEntropyLoss(), nn.BatchNorm2d(3, affine=False))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Dropout(0.25),
        torch.nn.Sequential(torch.nn.LayerNorm(8), torch.nn.GELU(approximate="tanh"),
                            torch.nn.Linear(8, 3, bias=False)),
        torch.nn.LeakyReLU(0.2), torch.nn.ELU(), torch.nn.Softplus(), torch.nn.Softmax(dim=1),
        torch.nn.LogSoftmax(dim=-1), torch.nn.Flatten(), torch.nn.Unflatten(1, (1, 3)),
        torch.nn.Embedding(10, 3, padding_idx=0), torch.nn.Identity(), torch.nn.SiLU(),
        torch.nn.Tanh(), torch.nn.Sigmoid(), torch.nn.ReLU(inplace=True),
        torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2),
                             torch.nn.ReLU()]),
        torch.nn.ModuleDict({"a": torch.nn.Linear(1, 1)}), torch.nn.CrossEntropyLoss(),
        torch.nn.BatchNorm2d(3, affine=False))
    assert repr(ours) == repr(theirs)


def test_custom_module_repr_uses_extra_repr():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(1, 1)

        def extra_repr(self):
            return "factor=2"
    assert repr(Scaled()) == ("Scaled(\n  factor=2\n  (inner): Linear(in_features=1, "
                              "out_features=1, bias=True)\n)")


# ------------------------------------------------------------------- containers
def test_sequential_indexing_slicing_and_editing():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    assert seq(cr.ones(4, 2)).shape == (4, 1)
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and list(seq.state_dict())[-1] == "2.bias"
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    del seq[3]
    assert len(seq) == 3
    seq.insert(1, nn.Identity())
    assert [type(m).__name__ for m in seq] == ["Linear", "Identity", "Tanh", "Linear"]
    with pytest.raises(IndexError, match="out of range"):
        seq[7]
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"] and named.enc is named[0]


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Linear(2, 1))
    layers += [nn.ReLU()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.ReLU)
    del layers[0]
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 3
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity)
    with pytest.raises(TypeError, match="container"):
        layers(cr.zeros(1))
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 3)
    assert list(heads) == ["a", "b"] and "b" in heads and len(heads) == 2
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert isinstance(heads.pop("a"), nn.Linear) and list(heads.keys()) == ["b"]
    with pytest.raises(KeyError, match="no module 'zz'"):
        heads["zz"]


# ------------------------------------------- registries mirrored into the attributes
def _assert_mirrored(module):
    for reg in ("_parameters", "_buffers", "_modules"):
        for name, value in getattr(module, reg).items():
            assert module.__dict__[name] is value, (reg, name)
            assert getattr(module, name) is value


def test_direct_registry_changes_show_in_the_attributes():
    lin = cr.nn.Linear(2, 3)
    new = cr.nn.Parameter(cr.zeros(3, 2))
    lin._parameters["weight"] = new
    assert lin.weight is new
    del lin._parameters["bias"]
    assert not hasattr(lin, "bias")
    lin._parameters.update(bias=cr.nn.Parameter(cr.ones(3)))
    assert float(lin.bias.sum()) == 3
    assert lin._parameters.pop("bias") is not None and not hasattr(lin, "bias")
    lin._parameters.setdefault("bias", None)
    assert lin.bias is None
    lin._buffers["scale"] = cr.ones(1)
    assert lin.scale is lin._buffers["scale"]
    lin._buffers.popitem()
    assert not hasattr(lin, "scale")
    lin._parameters.clear()
    assert not hasattr(lin, "weight") and list(lin.parameters()) == []
    _assert_mirrored(lin)


def test_attribute_assignment_and_deletion_keep_registry_and_attribute_together():
    seq = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.ReLU(), cr.nn.Linear(3, 1))
    del seq[0]
    assert "0" not in seq.__dict__ and list(seq._modules) == ["1", "2"]
    bn = cr.nn.BatchNorm1d(3)
    bn.running_mean = cr.zeros(3) + 2
    assert bn._buffers["running_mean"] is bn.running_mean
    bn.weight = None
    assert bn._parameters["weight"] is None and bn.weight is None
    del bn.bias
    assert "bias" not in bn._parameters and not hasattr(bn, "bias")
    bn.bias = cr.nn.Parameter(cr.zeros(3))        # a name can be registered again
    _assert_mirrored(bn)
    _assert_mirrored(seq)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copies_keep_their_registries_mirrored(how):
    import pickle
    model = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.BatchNorm1d(3))
    twin = copy.deepcopy(model) if how == "deepcopy" else pickle.loads(pickle.dumps(model))
    lin = twin[0]
    lin.weight = cr.nn.Parameter(cr.zeros(3, 2))
    assert lin._parameters["weight"] is lin.weight
    assert model[0].weight is not lin.weight
    del twin[1]
    assert len(twin) == 1 and "1" not in twin.__dict__
    _assert_mirrored(lin)
    _assert_mirrored(twin)


def test_a_copied_registry_is_a_plain_dict_of_its_own():
    import pickle
    lin = cr.nn.Linear(2, 3)
    for twin in (copy.copy(lin._parameters), pickle.loads(pickle.dumps(lin._parameters))):
        assert type(twin) is OrderedDict and list(twin) == ["weight", "bias"]
        twin["weight"] = None
        assert lin.weight is lin._parameters["weight"] is not None
