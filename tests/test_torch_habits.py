"""PyTorch habits carry over (issue 14): the results that used to differ from PyTorch, each
against PyTorch itself; type promotion across every binary op and operand kind; the error
types PyTorch users catch; devices, ``.type()`` and the creation functions' signatures.
(Each op's own values, gradients and dtypes come from tests/test_op_registry.py.)"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")


def _same(ours, theirs, **tol):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, **tol)


# ------------------------------------------------------------ wrong results before
def test_bitwise_operators_on_integers_are_bitwise():
    a, t = cr.tensor([1, -8, 32], dtype=cr.int32), torch.tensor([1, -8, 32], dtype=torch.int32)
    for fn in (lambda x: x & 6, lambda x: x | 6, lambda x: ~x, lambda x: x ^ 6, lambda x: 6 & x,
               lambda x: x << 2, lambda x: x >> 1):
        _same(fn(a), fn(t))


def test_mixed_integer_and_list_indexing_follows_pytorch():
    x = np.arange(60.0).reshape(2, 5, 6)
    for key in [(0, slice(None), [0, 1]), (slice(None), 1, [0, 2, 5]), (1, [1, 2], [3, 4]),
                (Ellipsis, 2, [0, 0])]:
        _same(cr.tensor(x)[key], torch.tensor(x)[key])


def test_integer_tensors_promote_to_the_default_float_dtype():
    n, t = cr.tensor([1, 4, 9], dtype=cr.int32), torch.tensor([1, 4, 9], dtype=torch.int32)
    _same(n ** 0.5, t ** 0.5)
    _same(cr.maximum(n, cr.tensor(1.2)), torch.maximum(t, torch.tensor(1.2)))
    _same(n / 2, t / 2)
    _same(cr.where(n > 3, 1.0, 0.0), torch.where(t > 3, 1.0, 0.0))


def test_integer_linspace_rounds_as_pytorch_and_bool_is_refused():
    for args in [(5, -5, 20), (5.5, 1, 4), (0, 7, 5), (-3, 3, 11)]:
        for dtype in ("int32", "int64", "float32", "float64"):
            ours = cr.linspace(*args, dtype=getattr(cr, dtype))
            theirs = torch.linspace(*args, dtype=getattr(torch, dtype))
            _same(ours, theirs, rtol=1e-6, atol=1e-6)
    with pytest.raises(RuntimeError, match="bool"):
        cr.linspace(0, 1, 3, dtype=cr.bool)


def test_zero_to_a_negative_power_and_its_gradients_match_pytorch():
    values = np.array([-1.0, -2.5, 0.0, 1.5])
    x, xt = cr.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = 0 ** x
        y.sum().backward()
    yt = 0 ** xt
    yt.sum().backward()
    _same(y, yt)
    _same(x.grad, xt.grad)
    base, exponent = np.array([0.0, 0.0, 0.0, 2.0]), np.array([-1.0, -2.0, 0.5, 3.0])
    b, e = cr.tensor(base, requires_grad=True), cr.tensor(exponent, requires_grad=True)
    bt, et = torch.tensor(base, requires_grad=True), torch.tensor(exponent, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (b ** e).sum().backward()
    (bt ** et).sum().backward()
    _same(e.grad, et.grad)
    _same(b.grad, bt.grad)


def test_integer_to_a_negative_integer_power():
    a, e = np.array([2, -1, 1, 0, -1, 5]), np.array([-1, -3, -4, -2, -2, 2])
    _same(cr.tensor(a) ** cr.tensor(e), torch.tensor(a) ** torch.tensor(e))


def test_var_and_std_with_a_correction_at_least_the_count_give_inf():
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    for correction in (2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(cr.tensor(x).var(1, correction=correction),
                  torch.tensor(x).var(1, correction=correction))
            _same(cr.tensor(x).std(correction=correction + 2),
                  torch.tensor(x).std(correction=correction + 2))


def test_piecewise_constant_ops_give_zero_gradients():
    for name in ("sign", "floor", "ceil", "round", "trunc", "sgn"):
        x = cr.tensor([1.5, -2.25, 0.5], requires_grad=True)
        getattr(x, name)().sum().backward()
        assert x.grad.tolist() == [0.0, 0.0, 0.0], name


def test_softmax_log_softmax_and_scans_on_0d_tensors():
    for name in ("softmax", "log_softmax", "cumsum", "cumprod", "logcumsumexp"):
        x, xt = cr.tensor(2.0, requires_grad=True), torch.tensor(2.0, requires_grad=True)
        y, yt = getattr(cr, name)(x, 0), getattr(torch, name)(xt, 0)
        y.backward()
        yt.backward()
        _same(y, yt)
        _same(x.grad, xt.grad)


def test_view_with_a_dtype_reinterprets_the_bytes():
    x = np.array([1.0, -2.0, 0.5], np.float32)
    _same(cr.tensor(x).view(cr.int32), torch.tensor(x).view(torch.int32))
    assert cr.tensor(x).view(3, 1).shape == (3, 1)


# ----------------------------------------------------------------- type promotion
_KINDS = {"int32": np.array([3, -2, 5], np.int32), "int64": np.array([2, 7, -3]),
          "uint8": np.array([1, 2, 9], np.uint8), "int8": np.array([-1, 4, 3], np.int8),
          "bool": np.array([True, False, True]), "float32": np.array([0.5, -1.25, 2.0], np.float32),
          "float64": np.array([1.5, 0.25, -3.0]), "float16": np.array([0.5, 1.5, -2.0], np.float16),
          "float64 0-d": np.array(2.5), "int64 0-d": np.array(3), "float": 1.5, "int": 2}
_BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "copysign", "fmod",
           "remainder", "floor_divide", "hypot", "logaddexp", "logaddexp2", "xlogy", "fmax",
           "fmin", "eq", "lt", "ge", "bitwise_and", "bitwise_or", "bitwise_xor", "ldexp",
           "float_power", "heaviside", "isclose", "nextafter", "gcd", "lcm", "true_divide",
           "bitwise_left_shift", "bitwise_right_shift", "logical_and", "logical_xor"]


@pytest.mark.parametrize("name", _BINARY)
def test_binary_ops_promote_as_pytorch_for_every_operand_kind(name):
    """Every pair of operand kinds (tensor dtypes, 0-d tensors, Python numbers): where
    PyTorch computes a result, chainrule computes the same dtype and values."""
    checked = 0
    for (ka, a), (kb, b) in itertools.product(_KINDS.items(), _KINDS.items()):
        if not isinstance(a, np.ndarray):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(b)
                                              if isinstance(b, np.ndarray) else b)
            except (RuntimeError, TypeError):
                continue
            with np.errstate(all="ignore"):
                ours = getattr(cr, name)(cr.tensor(a), cr.tensor(b)
                                         if isinstance(b, np.ndarray) else b)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ka, kb)
        np.testing.assert_allclose(ours.numpy().astype(np.float64),
                                   theirs.numpy().astype(np.float64), rtol=1e-3, atol=1e-3,
                                   equal_nan=True, err_msg=f"{ka}, {kb}")
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("kinds", [("int32", "float"), ("int64", "float32"), ("float32", "float64 0-d"),
                                   ("bool", "int"), ("uint8", "int8"), ("float16", "float32")])
def test_ternary_ops_promote_as_pytorch(kinds):
    a, b = _KINDS[kinds[0]], _KINDS[kinds[1]]
    cond = np.array([True, False, True])

    def both(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = fn(torch, torch.tensor(a), torch.tensor(b) if isinstance(b, np.ndarray) else b)
            ours = fn(cr, cr.tensor(a), cr.tensor(b) if isinstance(b, np.ndarray) else b)
        _same(ours, theirs, rtol=1e-3, atol=1e-3)
    both(lambda m, x, y: m.where(m.tensor(cond), x, y))
    both(lambda m, x, y: m.clamp(x, min=y) if not isinstance(y, bool) else m.clamp(x, min=int(y)))
    if np.asarray(a).dtype.kind == "f":
        both(lambda m, x, y: m.addcmul(x, x, x, value=2))


def test_creation_dtypes_follow_pytorch():
    for ours, theirs in [(cr.full((2,), 3), torch.full((2,), 3)),
                         (cr.full((2,), True), torch.full((2,), True)),
                         (cr.full((2,), 2.5), torch.full((2,), 2.5)),
                         (cr.arange(3), torch.arange(3)), (cr.arange(0, 1, 0.25), torch.arange(0, 1, 0.25)),
                         (cr.arange(1, 4.0), torch.arange(1, 4.0)),
                         (cr.tensor([1, 2.5]), torch.tensor([1, 2.5])),
                         (cr.tensor([True, False]), torch.tensor([True, False])),
                         (cr.zeros_like(cr.tensor([1, 2])), torch.zeros_like(torch.tensor([1, 2]))),
                         (cr.scalar_tensor(3), torch.scalar_tensor(3)),
                         (cr.logspace(0, 3, 4, base=2), torch.logspace(0, 3, 4, base=2))]:
        _same(ours, theirs)


# ------------------------------------------------------------------- error types
@pytest.mark.parametrize("fn", [
    lambda: cr.ones(2, 3) + cr.ones(4, 5),
    lambda: cr.ones(2, 3) @ cr.ones(2, 3),
    lambda: cr.ones(6).reshape(4, 2),
    lambda: cr.cat([cr.ones(2, 3), cr.ones(2, 4)]),
    lambda: cr.ones(2).to("cuda"),
    lambda: cr.ones(2, dtype=cr.int64).add_(0.5),
    lambda: cr.linspace(0, 1, 3, dtype=cr.bool),
    lambda: cr.ones(3).gather(0, cr.tensor([[0]])),
    lambda: F.pad(cr.ones(1, 2), (3, 0), mode="reflect"),
    lambda: cr.arange(0, 1, 0),
    lambda: cr.ones(2, 3).masked_scatter(cr.ones(2, 3) > 0, cr.ones(2)),
], ids=["broadcast", "matmul", "reshape", "cat", "device", "inplace-cast", "linspace-bool",
        "gather", "pad", "arange", "masked_scatter"])
def test_op_errors_are_caught_by_except_runtime_error_as_in_pytorch(fn):
    with pytest.raises(RuntimeError) as info:
        fn()
    assert isinstance(info.value, (ValueError, TypeError))     # chainrule's own habit too
    assert str(info.value)                                     # and a message


# ------------------------------------------------------------------ tensor habits
def test_devices_and_type_names():
    x = cr.ones(2, 3)
    device = cr.device("cuda" if cr.cuda.is_available() else "cpu")
    assert not cr.cuda.is_available() and cr.cuda.device_count() == 0
    assert x.to(device) is x and x.device == device == "cpu" and str(x.device) == "cpu"
    assert repr(cr.device("cpu")) == "device(type='cpu')" and not x.is_cuda
    assert x.type() == torch.ones(2).type() == "torch.FloatTensor"
    assert cr.tensor([1, 2]).type() == "torch.LongTensor"
    assert x.type(cr.float64).dtype == np.float64 and x.type("torch.IntTensor").dtype == np.int32
    assert x.type(cr.float32) is x
    for bad in (lambda: x.cuda(), lambda: cr.zeros(2, device="cuda"), lambda: cr.device("tpu")):
        with pytest.raises(RuntimeError):
            bad()
    assert cr.zeros(2, device="cpu", requires_grad=True).requires_grad
    assert x.new_zeros(2, requires_grad=True).requires_grad and x.new_full((2,), 3.0).dtype == np.float32


def test_dtype_aliases():
    assert (cr.int, cr.long, cr.float, cr.double, cr.half, cr.bool) == (
        np.int32, np.int64, np.float32, np.float64, np.float16, np.bool_)


@pytest.mark.parametrize("name,args", [
    ("rand_like", ()), ("randn_like", ()), ("randint_like", (5,)), ("empty_like", ()),
    ("rand", (2, 3)), ("randn", (2, 3)), ("randint", (3, 10, (2, 3))), ("empty", (2, 3)),
])
def test_random_and_empty_creation_shapes_and_dtypes(name, args):
    like = name.endswith("_like")
    for dtype in ("float32", "float64"):
        base_c = cr.zeros(2, 3, dtype=getattr(cr, dtype))
        base_t = torch.zeros(2, 3, dtype=getattr(torch, dtype))
        ours = getattr(cr, name)(base_c, *args) if like else getattr(cr, name)(*args)
        theirs = getattr(torch, name)(base_t, *args) if like else getattr(torch, name)(*args)
        assert ours.shape == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_random_draws_follow_the_seed():
    cr.manual_seed(3)
    a = (cr.rand(3), cr.randn_like(cr.zeros(2)), cr.randint_like(cr.zeros(4), 2, 9))
    cr.manual_seed(3)
    b = (cr.rand(3), cr.randn_like(cr.zeros(2)), cr.randint_like(cr.zeros(4), 2, 9))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert 2 <= a[2].numpy().min() and a[2].numpy().max() < 9


def test_axis_and_keepdims_are_accepted_where_pytorch_accepts_them():
    x = np.arange(24.0).reshape(2, 3, 4)
    for name in ("sum", "mean", "amax", "amin", "prod", "std", "var", "any", "all", "argmax",
                 "logsumexp", "nansum", "count_nonzero"):
        if name in ("any", "all"):
            ours, theirs = getattr(cr.tensor(x > 5), name)(axis=1), getattr(torch.tensor(x > 5), name)(axis=1)
        elif name == "count_nonzero":
            ours, theirs = cr.tensor(x).count_nonzero(axis=1), torch.tensor(x).count_nonzero(axis=1)
        else:
            ours = getattr(cr.tensor(x), name)(axis=1, keepdims=True)
            theirs = getattr(torch.tensor(x), name)(axis=1, keepdims=True)
        _same(ours, theirs, rtol=1e-12)


def test_namespace_inplace_functions_change_their_argument_as_pytorch():
    values = np.array([-1.5, 0.25, 2.0])
    for name, args in [("zero_", ()), ("abs_", ()), ("fill_", (3.0,)), ("clamp_", (-1.0, 1.0)),
                       ("exp_", ()), ("sigmoid_", ()), ("relu_", ())]:
        ours, theirs = cr.tensor(values), torch.tensor(values)
        assert getattr(cr, name)(ours, *args) is ours
        getattr(torch, name)(theirs, *args)
        _same(ours, theirs)
        assert ours._version == 1, name


def test_gather_with_an_empty_index_of_another_rank():
    x = cr.ones(5, requires_grad=True)
    out = cr.gather(x, 0, cr.zeros(2, 0, dtype=cr.int64))
    _same(out, torch.gather(torch.ones(5), 0, torch.zeros(2, 0, dtype=torch.int64)))
    out.sum().backward()
    assert x.grad.tolist() == [0.0] * 5
