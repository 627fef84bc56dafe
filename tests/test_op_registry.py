"""Tests generated from the op registry: every declared op, on every sample it declares.

* gradcheck and gradgradcheck (float64, finite differences) on every differentiable input;
  under create_graph the first derivative must equal the plain one (a fused op's fast rule
  and its reference composition agree);
* values and gradients against PyTorch's twin of the op;
* dtype behaviour: float32 stays float32, and integer inputs behave as in PyTorch;
* exports: ``cr.*``, ``F.*``, Tensor methods and operators, NumPy overrides.

Adding an op to the registry adds it to every test here; nothing needs listing.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import registry
from chainrule.ops.registry import Const, SampleInputs

try:
    import torch
except ImportError:          # the PyTorch comparisons skip themselves
    torch = None

OPS = registry.unique_ops()


def _samples(info):
    rng = np.random.default_rng(zlib.crc32(info.name.encode()))
    return info.samples(SampleInputs(rng)) if info.samples else []


CASES = [pytest.param(info, sample, id=f"{info.namespaces[0]}.{info.name}-{k}")
         for info in OPS for k, sample in enumerate(_samples(info))]
FIRST = [pytest.param(info, _samples(info)[0], id=f"{info.namespaces[0]}.{info.name}")
         for info in OPS if info.samples]


# ------------------------------------------------------------------ sample plumbing
def _map(obj, leaf):
    """``obj`` (args or kwargs, nested in lists/tuples) with every array (and Const)
    replaced by ``leaf(kind, array)``; kind is "grad" (a floating input), "const" or "plain"."""
    if isinstance(obj, Const):
        return leaf("const", obj.array)
    if isinstance(obj, np.ndarray):
        return leaf("grad" if obj.dtype.kind == "f" else "plain", obj)
    if isinstance(obj, tuple):
        return tuple(_map(o, leaf) for o in obj)
    if isinstance(obj, list):
        return [_map(o, leaf) for o in obj]
    if isinstance(obj, dict):
        return {k: _map(v, leaf) for k, v in obj.items()}
    return obj


def _outputs(result) -> list:
    if isinstance(result, (tuple, list)):
        return [o for r in result for o in _outputs(r)]
    if isinstance(result, (bool, int, float)):     # allclose, equal: a Python value
        return [cr.tensor(result)]
    return [result]


def _chainrule_call(info, sample, dtype=np.float64, requires_grad=True):
    """(fn, leaves): ``fn(*leaves)`` calls the op with the sample's floating inputs replaced
    by ``leaves`` (tensors of ``dtype`` that require grad when the op is differentiable)."""
    leaves = []

    def make(kind, array):
        if kind == "grad":
            t = cr.tensor(array.astype(dtype), requires_grad=requires_grad and info.differentiable)
            leaves.append(t)
            return t
        return cr.tensor(array.astype(dtype) if kind == "const" else array)

    args, kwargs = _map(sample.args, make), _map(sample.kwargs, make)
    ids = [id(t) for t in leaves]

    def fn(*new):
        swap = dict(zip(ids, new))

        def put(obj):
            if isinstance(obj, cr.Tensor):
                return swap.get(id(obj), obj)
            if isinstance(obj, (tuple, list)):
                return type(obj)(put(o) for o in obj)
            if isinstance(obj, dict):
                return {k: put(v) for k, v in obj.items()}
            return obj
        return info.function(*put(args), **put(kwargs))
    return fn, leaves


def _weights(outs, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(o.shape) for o in outs]


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("info,sample", CASES)
def test_gradcheck(info, sample):
    if not info.differentiable:
        pytest.skip("declared not differentiable")
    fn, leaves = _chainrule_call(info, sample)
    if not leaves:
        pytest.skip("no floating input")
    assert cr.gradcheck(fn, leaves, **info.tolerance)


@pytest.mark.parametrize("info,sample", CASES)
def test_gradgradcheck_and_create_graph_agree(info, sample):
    if not info.differentiable or not info.second_order:
        pytest.skip("declared without second derivatives" if info.differentiable
                    else "declared not differentiable")
    fn, leaves = _chainrule_call(info, sample)
    if not leaves:
        pytest.skip("no floating input")
    outs = [o for o in _outputs(fn(*leaves)) if o.requires_grad]
    ws = [cr.tensor(w) for w in _weights(outs)]
    plain = cr.grad(outs, leaves, ws, retain_graph=True, allow_unused=True)
    graph = cr.grad(outs, leaves, ws, create_graph=True, allow_unused=True)
    for k, (p, g) in enumerate(zip(plain, graph)):
        if p is None or g is None:
            assert p is None and g is None, f"input {k}: a gradient only one way"
            continue
        np.testing.assert_allclose(g.numpy(), p.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"input {k}: create_graph and plain gradients differ")
    assert cr.gradgradcheck(fn, leaves, **info.tolerance)


# ------------------------------------------------------------------------ PyTorch
def _torch_call(info, sample, dtype):
    leaves = []

    def make(kind, array):
        if kind == "grad":
            t = torch.tensor(array.astype(dtype), requires_grad=info.differentiable and
                             np.dtype(dtype).kind == "f")
            leaves.append(t)
            return t
        return torch.tensor(array.astype(dtype) if kind == "const" else array)
    def dtypes(obj):       # NumPy dtypes in the sample (dtype=np.int64) as PyTorch's
        if isinstance(obj, (tuple, list)):
            return type(obj)(dtypes(o) for o in obj)
        if isinstance(obj, dict):
            return {k: dtypes(v) for k, v in obj.items()}
        if isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic)):
            return getattr(torch, {"bool": "bool"}.get(np.dtype(obj).name, np.dtype(obj).name))
        return obj
    fn = info.torch_function(torch)
    return fn(*dtypes(_map(sample.args, make)), **dtypes(_map(sample.kwargs, make))), leaves


@pytest.mark.parametrize("info,sample", CASES)
def test_values_and_gradients_match_pytorch(info, sample):
    if torch is None or info.torch_function(torch) is None:
        pytest.skip("no PyTorch twin")
    fn, leaves = _chainrule_call(info, sample)
    ours = _outputs(fn(*leaves))
    theirs_result, t_leaves = _torch_call(info, sample, np.float64)
    theirs = _outputs(theirs_result)
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
        assert a.shape == b.shape, f"output {k}: shape {a.shape} vs torch {b.shape}"
        assert a.dtype == b.dtype, f"output {k}: dtype {a.dtype} vs torch {b.dtype}"
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-10, atol=1e-12, err_msg=f"output {k}")
    if not info.differentiable or not leaves:
        return
    pairs = [(a, b) for a, b in zip(ours, theirs) if a.requires_grad]
    ws = _weights([a for a, _ in pairs])
    ours_g = cr.grad([a for a, _ in pairs], leaves, [cr.tensor(w) for w in ws], allow_unused=True)
    theirs_g = torch.autograd.grad([b for _, b in pairs], t_leaves,
                                   [torch.tensor(w) for w in ws], allow_unused=True)
    for k, (a, b) in enumerate(zip(ours_g, theirs_g)):
        a = np.zeros(leaves[k].shape) if a is None else a.numpy()
        b = np.zeros(leaves[k].shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, **{"rtol": 1e-9, "atol": 1e-12, **info.torch_tolerance},
                                   err_msg=f"gradient of input {k}")


# -------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("info,sample", FIRST)
def test_float32_inputs_give_float32_outputs(info, sample):
    """(Or, where PyTorch's twin gives another floating dtype, as ``float_power``'s float64,
    that one.)"""
    fn, leaves = _chainrule_call(info, sample, dtype=np.float32, requires_grad=False)
    expected = [np.float32] * len(_outputs(fn(*leaves)))
    if torch is not None and info.torch_function(torch) is not None:
        theirs, _ = _torch_call(info, sample, np.float32)
        expected = [np.dtype(str(b.dtype).replace("torch.", "")) if hasattr(b, "dtype")
                    else np.float32 for b in _outputs(theirs)]
    for k, (out, dtype) in enumerate(zip(_outputs(fn(*leaves)), expected)):
        if out.dtype.kind == "f":
            assert out.dtype == dtype, f"output {k} is {out.dtype}"


@pytest.mark.parametrize("info,sample", FIRST)
def test_integer_inputs_behave_as_in_pytorch(info, sample):
    """The floating inputs of the first sample, as int64: where PyTorch computes a result,
    chainrule computes the same (dtype and values). (Where PyTorch refuses integers, e.g.
    softmax, chainrule may compute in the default float dtype.)"""
    if torch is None or info.torch_function(torch) is None:
        pytest.skip("no PyTorch twin")
    if info.dtypes == "floating":
        pytest.skip("declared for floating input only")
    int_sample = registry.Sample(*_map((sample.args, sample.kwargs),
                                       lambda kind, a: (np.round(a * 3).astype(np.int64)
                                                        if kind == "grad" else
                                                        Const(a.array) if isinstance(a, Const)
                                                        else a)))
    try:
        theirs, _ = _torch_call(info, int_sample, np.int64)
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        pytest.skip("PyTorch refuses integer input here")
    fn, leaves = _chainrule_call(info, int_sample, requires_grad=False)
    for k, (a, b) in enumerate(zip(_outputs(fn(*leaves)), _outputs(theirs))):
        b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
        assert a.dtype == b.dtype, f"output {k}: dtype {a.dtype} vs torch {b.dtype}"
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-6, atol=1e-6, err_msg=f"output {k}")


# -------------------------------------------------------------------------- exports
@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OPS])
def test_declared_exports_exist(info):
    assert info.samples is not None, f"{info.name} declares no samples"
    for space, home in (("cr", cr), ("F", F)):
        if space in info.namespaces:
            assert getattr(home, info.name) is info.function
            for alias in info.aliases:
                assert getattr(home, alias) is info.function
    for method, fn in info.methods.items():
        assert getattr(cr.Tensor, method) is fn
    for dunder, fn in info.operators.items():
        assert getattr(cr.Tensor, dunder) is fn
    for name in info.numpy:
        assert getattr(np, name, None) is not None, f"numpy has no {name}"


def test_numpy_functions_on_tensors_are_differentiable_ops():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = np.flip(np.cumsum(np.exp(x), axis=1), 0)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.numpy()) * [[2, 1], [2, 1]])
    assert np.shape(x) == (2, 2)            # any other NumPy function sees the plain array
