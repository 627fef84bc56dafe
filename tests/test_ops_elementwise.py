"""Elementwise ops: values, finite-difference gradient checks in float64 over several
shapes, broadcasting each way, reflected forms, second derivatives and error messages."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import chainrule as cr

SHAPES = [(), (5,), (3, 4), (2, 3, 4), (2, 1, 3, 2)]

# name -> (function, input domain, smooth enough for a second-order check)
UNARY = {
    "neg": (lambda x: -x, "real", True),
    "exp": (cr.exp, "real", True),
    "log": (cr.log, "positive", True),
    "log1p": (cr.log1p, "unit", True),
    "sqrt": (cr.sqrt, "positive", True),
    "abs": (cr.abs, "real", True),
    "sin": (cr.sin, "real", True),
    "cos": (cr.cos, "real", True),
    "tanh": (cr.tanh, "real", True),
    "sigmoid": (cr.sigmoid, "real", True),
    "relu": (cr.relu, "real", True),
    "leaky_relu": (lambda x: cr.leaky_relu(x, 0.2), "real", True),
    "elu": (lambda x: cr.elu(x, 0.7), "real", True),
    "gelu": (cr.gelu, "real", True),
    "gelu_tanh": (lambda x: cr.gelu(x, approximate="tanh"), "real", True),
    "silu": (cr.silu, "real", True),
    "softplus": (cr.softplus, "real", True),
    "softplus_beta": (lambda x: cr.softplus(x, beta=2.0, threshold=3.0), "real", True),
    "erf": (cr.erf, "real", True),
    "clamp": (lambda x: cr.clamp(x, -1.05, 0.95), "real", True),
    "clamp_min": (lambda x: x.clamp(min=0.05), "real", True),
    "clamp_max": (lambda x: cr.clamp(x, max=0.05), "real", True),
    "square": (lambda x: x.square(), "real", True),
    "pow_scalar": (lambda x: x ** 3, "real", True),
    "pow_fraction": (lambda x: x ** 1.5, "positive", True),
    "pow_negative": (lambda x: x ** -2, "positive", True),
    "rpow": (lambda x: 2.0 ** x, "real", True),
    "rsub": (lambda x: 3.0 - x, "real", True),
    "rdiv": (lambda x: 3.0 / x, "positive", True),
    "radd": (lambda x: 3.0 + x, "real", True),
    "rmul": (lambda x: 3.0 * x, "real", True),
    "sub_scalar": (lambda x: x - 3.0, "real", True),
    "div_scalar": (lambda x: x / 3.0, "real", True),
}

NUMPY_FORMS = {
    "add": lambda t, a: (a + t, t + a),
    "sub": lambda t, a: (a - t, t - a),
    "mul": lambda t, a: (a * t, t * a),
    "div": lambda t, a: (a / t, t / a),
    "pow": lambda t, a: (a ** t, t ** a),
}


# ------------------------------------------------------------------ unary ops
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck(name, shape, rng, make_leaf):
    fn, domain, _ = UNARY[name]
    assert cr.gradcheck(fn, [make_leaf(rng, shape, domain)])


@pytest.mark.parametrize("name", sorted(k for k, v in UNARY.items() if v[2]))
def test_unary_gradgradcheck(name, rng, make_leaf):
    fn, domain, _ = UNARY[name]
    assert cr.gradgradcheck(fn, [make_leaf(rng, (2, 3), domain)])


@pytest.mark.parametrize("name, fn, reference", [
    ("exp", cr.exp, np.exp),
    ("log", cr.log, np.log),
    ("log1p", cr.log1p, np.log1p),
    ("sqrt", cr.sqrt, np.sqrt),
    ("abs", cr.abs, np.abs),
    ("sin", cr.sin, np.sin),
    ("cos", cr.cos, np.cos),
    ("tanh", cr.tanh, np.tanh),
    ("sigmoid", cr.sigmoid, lambda a: 1 / (1 + np.exp(-a))),
    ("relu", cr.relu, lambda a: np.maximum(a, 0)),
    ("leaky_relu", lambda x: cr.leaky_relu(x, 0.1), lambda a: np.where(a > 0, a, 0.1 * a)),
    ("elu", lambda x: cr.elu(x, 0.5), lambda a: np.where(a > 0, a, 0.5 * np.expm1(a))),
    ("softplus", cr.softplus, lambda a: np.log1p(np.exp(a))),
    ("silu", cr.silu, lambda a: a / (1 + np.exp(-a))),
    ("erf", cr.erf, np.vectorize(math.erf)),
    ("gelu", cr.gelu, np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))),
    ("gelu_tanh", lambda x: cr.gelu(x, "tanh"),
     lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
])
def test_unary_values(name, fn, reference, rng, make_array):
    domain = "positive" if name in ("log", "sqrt") else "unit" if name == "log1p" else "real"
    a = make_array(rng, (4, 5), domain) * (1 if domain != "real" else 2)
    np.testing.assert_allclose(fn(cr.tensor(a)).numpy(), reference(a), rtol=1e-12, atol=1e-14)


def test_erf_over_a_wide_range():
    a = np.linspace(-7, 7, 281)
    np.testing.assert_allclose(cr.erf(cr.tensor(a)).numpy(), [math.erf(v) for v in a],
                               rtol=0, atol=2e-15)


def test_erf_in_float32_is_within_one_ulp_of_the_rounded_value():
    # float32 takes fewer series terms and fraction levels than float64: still its precision
    a = np.concatenate([np.linspace(-7, 7, 20001), [0.0, 1.9999999, 2.0, -2.0000002]])
    a = a.astype(np.float32)
    ours = cr.erf(cr.tensor(a)).numpy()
    rounded = np.array([math.erf(float(v)) for v in a]).astype(np.float32)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours.view(np.int32) - rounded.view(np.int32))) <= 1


def test_sigmoid_and_softplus_do_not_overflow():
    a = cr.tensor([-1000.0, 0.0, 1000.0], dtype=np.float64)
    np.testing.assert_allclose(cr.sigmoid(a).numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(cr.softplus(a).numpy(), [0.0, math.log(2), 1000.0])
    x = cr.tensor([-1000.0, 1000.0], dtype=np.float64, requires_grad=True)
    cr.sigmoid(x).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_kink_gradients_match_pytorch_conventions():
    x = cr.tensor([0.0, 0.0, 0.0, 0.0], dtype=np.float64, requires_grad=True)
    cr.relu(x[0:1]).sum().backward()
    cr.abs(x[1:2]).sum().backward()
    cr.leaky_relu(x[2:3], 0.3).sum().backward()
    cr.elu(x[3:4]).sum().backward()
    # relu'(0) = 0, |x|'(0) = 0, leaky'(0) = slope, elu'(0) = 1, as in PyTorch
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 0.3, 1.0])


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "trunc", "round"])
def test_piecewise_constant_ops_have_a_zero_gradient_as_in_pytorch(name):
    x = cr.tensor([-2.5, 0.0, 3.25], requires_grad=True)
    s = getattr(cr, name)(x)
    np.testing.assert_array_equal(s.numpy(), getattr(np, name)(x.numpy()))
    assert s.requires_grad                    # the graph is not cut: the gradient is zero
    (s * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    assert getattr(x, name)().tolist() == s.tolist()


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'fast'"):
        cr.gelu(cr.tensor([1.0]), approximate="fast")


# ------------------------------------------------------------------- clamp
def test_clamp_values_and_boundary_gradient():
    x = cr.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = cr.clamp(x, -1.0, 1.0)
    assert y.tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
    y.sum().backward()
    # gradient 1 inside the closed interval (boundaries included, as PyTorch), 0 outside
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert cr.clip is cr.clamp


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp: give at least one of min and max"):
        cr.clamp(cr.tensor([1.0]))


# ------------------------------------------------------------------ binary ops
BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 3, 1, 2), (1, 4, 1)),
    ((5,), (5,)),
]

BINARY = {
    "add": (lambda a, b: a + b, "real", "real"),
    "sub": (lambda a, b: a - b, "real", "real"),
    "mul": (lambda a, b: a * b, "real", "real"),
    "div": (lambda a, b: a / b, "real", "positive"),
    "pow": (lambda a, b: a ** b, "positive", "real"),
    "maximum": (cr.maximum, "real", "real"),
    "minimum": (cr.minimum, "real", "real"),
    "add_fn": (cr.add, "real", "real"),
    "sub_fn": (cr.sub, "real", "real"),
    "mul_fn": (cr.mul, "real", "real"),
    "div_fn": (cr.div, "real", "positive"),
    "pow_fn": (cr.pow, "positive", "real"),
}


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck_with_broadcasting(name, shapes, rng, make_leaf):
    fn, da, db = BINARY[name]
    a, b = make_leaf(rng, shapes[0], da), make_leaf(rng, shapes[1], db)
    out = fn(a, b)
    assert out.shape == np.broadcast_shapes(*shapes)
    assert cr.gradcheck(fn, [a, b])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_gradgradcheck(name, rng, make_leaf):
    fn, da, db = BINARY[name]
    assert cr.gradgradcheck(fn, [make_leaf(rng, (2, 3), da), make_leaf(rng, (3,), db)])


@pytest.mark.parametrize("name", sorted(NUMPY_FORMS))
def test_numpy_array_operands_both_sides(name, rng, make_leaf, make_array):
    t = make_leaf(rng, (3, 4), "positive")
    arr = make_array(rng, (4,), "positive")
    left, right = NUMPY_FORMS[name](t, arr)
    assert isinstance(left, cr.Tensor) and isinstance(right, cr.Tensor)
    np_op = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
             "pow": np.power}[name]
    np.testing.assert_allclose(left.numpy(), np_op(arr, t.numpy()))
    np.testing.assert_allclose(right.numpy(), np_op(t.numpy(), arr))
    assert cr.gradcheck(lambda x: NUMPY_FORMS[name](x, arr)[0], [t])
    assert cr.gradcheck(lambda x: NUMPY_FORMS[name](x, arr)[1], [t])


@pytest.mark.parametrize("fn", [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b])
def test_same_tensor_on_both_sides(fn, rng, make_leaf):
    assert cr.gradcheck(lambda x: fn(x, x), [make_leaf(rng, (3,))])


def test_maximum_minimum_split_ties():
    a = cr.tensor([1.0, 2.0, 3.0], dtype=np.float64, requires_grad=True)
    b = cr.tensor([2.0, 2.0, 1.0], dtype=np.float64, requires_grad=True)
    cr.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.5, 1.0] and b.grad.tolist() == [1.0, 0.5, 0.0]
    a.grad = b.grad = None
    cr.minimum(a, b).sum().backward()
    assert a.grad.tolist() == [1.0, 0.5, 0.0] and b.grad.tolist() == [0.0, 0.5, 1.0]


def test_maximum_with_a_scalar():
    x = cr.tensor([-1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = cr.maximum(x, 0.5)
    assert y.tolist() == [0.5, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0]


def test_pow_gradient_with_respect_to_the_exponent():
    a = cr.tensor([2.0, 3.0], dtype=np.float64)
    b = cr.tensor([3.0, 0.5], dtype=np.float64, requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [8 * math.log(2), math.sqrt(3) * math.log(3)])


@settings(max_examples=20, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_broadcasting_gradients_property(shapes, seed, make_leaf):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = make_leaf(rng, sa), make_leaf(rng, sb, "positive")
    assert cr.gradcheck(lambda u, v: u * v + u / v - v, [a, b])


# ------------------------------------------------------------------ where
@pytest.mark.parametrize("cond_shape, a_shape, b_shape", [
    ((3, 4), (3, 4), (3, 4)),
    ((3, 4), (4,), (3, 1)),
    ((4,), (3, 4), ()),
    ((2, 1, 4), (3, 1), (2, 3, 4)),
])
def test_where_gradcheck(cond_shape, a_shape, b_shape, rng, make_leaf):
    cond = cr.tensor(rng.random(cond_shape) < 0.5)
    a, b = make_leaf(rng, a_shape), make_leaf(rng, b_shape)
    out = cr.where(cond, a, b)
    expected = np.where(cond.numpy(), a.numpy(), b.numpy())
    np.testing.assert_array_equal(out.numpy(), expected)
    assert cr.gradcheck(lambda u, v: cr.where(cond, u, v), [a, b])
    assert cr.gradgradcheck(lambda u, v: cr.where(cond, u, v) * u, [a, b])


def test_where_with_a_python_scalar_branch(rng, make_leaf):
    x = make_leaf(rng, (3, 3))
    cond = x > 0
    y = cr.where(cond, x, 0.0)
    np.testing.assert_array_equal(y.numpy(), np.where(x.numpy() > 0, x.numpy(), 0.0))
    assert cr.gradcheck(lambda u: cr.where(cond, u, 0.0), [x])
    m = x.masked_fill(cond, -1.0)
    np.testing.assert_array_equal(m.numpy(), np.where(x.numpy() > 0, -1.0, x.numpy()))


def test_where_needs_a_bool_condition():
    with pytest.raises(TypeError, match="where: condition must be a bool tensor, got dtype float32"):
        cr.where(cr.tensor([1.0]), cr.tensor([1.0]), cr.tensor([2.0]))


# ---------------------------------------------------------- comparisons (no grad)
def test_comparisons_are_bool_and_carry_no_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = cr.tensor([3.0, 2.0, 1.0])
    cases = {
        "lt": (x < y, [True, False, False]), "le": (x <= y, [True, True, False]),
        "gt": (x > y, [False, False, True]), "ge": (x >= y, [False, True, True]),
        "eq": (x == y, [False, True, False]), "ne": (x != y, [True, False, True]),
        "lt_fn": (cr.lt(x, 2.0), [True, False, False]), "ge_fn": (cr.ge(x, 2.0), [False, True, True]),
    }
    for name, (out, expected) in cases.items():
        assert out.dtype == np.bool_, name
        assert out.tolist() == expected, name
        assert not out.requires_grad and out.grad_fn is None, name
    assert (~(x > 1.5)).tolist() == [True, False, False]
    assert ((x > 1.5) & (x < 2.5)).tolist() == [False, True, False]
    assert ((x < 1.5) | (x > 2.5)).tolist() == [True, False, True]
    nan = cr.tensor([1.0, np.nan, np.inf])
    assert cr.isnan(nan).tolist() == [False, True, False]
    assert cr.isfinite(nan).tolist() == [True, False, False]


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize("name, fn", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b),
    ("maximum", cr.maximum), ("minimum", cr.minimum),
])
def test_broadcast_error_names_the_op_and_both_shapes(name, fn):
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        fn(cr.ones(2, 3), cr.ones(4))


def test_where_broadcast_error_names_all_shapes():
    with pytest.raises(ValueError, match=r"where: shapes \(2, 3\) \(condition\), \(2, 3\) and \(4,\)"):
        cr.where(cr.ones(2, 3) > 0, cr.ones(2, 3), cr.ones(4))


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_keep_float32(name, make_array):
    fn, domain, _ = UNARY[name]
    x = cr.tensor(make_array(np.random.default_rng(0), (3,), domain).astype(np.float32),
                  requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32, name
    y.sum().backward()
    assert x.grad.dtype == np.float32
