"""matmul (1-D, 2-D, batched with broadcast batch dims), softmax/log_softmax (numerically
stable) and the fused linear op."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import chainrule as cr
from chainrule.ops import linear

MATMUL_SHAPES = [
    ((4,), (4,)),                  # dot product
    ((4,), (4, 3)),                # vector @ matrix
    ((3, 4), (4,)),                # matrix @ vector
    ((3, 4), (4, 2)),
    ((2, 3, 4), (2, 4, 5)),        # batched
    ((2, 3, 4), (4, 5)),           # batch @ matrix
    ((3, 4), (2, 4, 5)),           # matrix @ batch
    ((2, 1, 3, 4), (5, 4, 2)),     # broadcast batch dims
    ((4,), (2, 4, 3)),             # vector @ batch
    ((2, 3, 4), (4,)),             # batch @ vector
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul_values_and_gradcheck(sa, sb, rng, make_leaf):
    a, b = make_leaf(rng, sa), make_leaf(rng, sb)
    out = a @ b
    np.testing.assert_allclose(out.numpy(), a.numpy() @ b.numpy(), rtol=1e-12)
    assert out.shape == np.matmul(a.numpy(), b.numpy()).shape
    assert cr.gradcheck(lambda u, v: u @ v, [a, b])
    assert cr.gradcheck(cr.matmul, [a, b])


@pytest.mark.parametrize("sa, sb", [((4,), (4,)), ((3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 2)),
                                    ((4,), (2, 4, 3)), ((2, 3, 4), (4,))], ids=str)
def test_matmul_gradgradcheck(sa, sb, rng, make_leaf):
    assert cr.gradgradcheck(lambda u, v: u.matmul(v), [make_leaf(rng, sa), make_leaf(rng, sb)])


def test_matmul_with_numpy_operands(rng, make_leaf, make_array):
    x = make_leaf(rng, (3, 4))
    w = make_array(rng, (4, 2))
    left = make_array(rng, (5, 3))
    assert isinstance(x @ w, cr.Tensor) and isinstance(left @ x, cr.Tensor)
    np.testing.assert_allclose((left @ x).numpy(), left @ x.numpy())
    assert cr.gradcheck(lambda t: t @ w, [x])
    assert cr.gradcheck(lambda t: left @ t, [x])


def test_matmul_same_tensor_twice(rng, make_leaf):
    x = make_leaf(rng, (3, 3))
    assert cr.gradcheck(lambda t: t @ t, [x])
    assert cr.gradcheck(lambda t: t @ t.T, [x])


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_matmul_broadcast_property(data, make_leaf):
    n, k, m = (data.draw(st.integers(1, 3)) for _ in range(3))
    batch = data.draw(st.lists(st.integers(1, 3), max_size=2))
    # drop or size-1 some batch dims on one side, so broadcasting happens both ways
    batch_b = [1 if data.draw(st.booleans()) else s for s in batch]
    batch_a = [1 if (data.draw(st.booleans()) and sb != 1) else s for s, sb in zip(batch, batch_b)]
    if batch_b and data.draw(st.booleans()):
        batch_b = batch_b[1:]
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    a, b = make_leaf(rng, (*batch_a, n, k)), make_leaf(rng, (*batch_b, k, m))
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-12)
    assert cr.gradcheck(lambda u, v: u @ v, [a, b])


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned \(inner dims 3 and 4 must match\)"):
        cr.ones(2, 3) @ cr.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(4,\) are not aligned"):
        cr.ones(3) @ cr.ones(4)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3, 4\) and \(5, 4, 2\).*batch dims \(2,\) and \(5,\)"):
        cr.ones(2, 3, 4) @ cr.ones(5, 4, 2)
    with pytest.raises(ValueError, match=r"matmul: both operands need at least one dimension, got shapes \(\) and \(3,\)"):
        cr.matmul(cr.tensor(2.0), cr.ones(3))


# ---------------------------------------------------------------- softmax
@pytest.mark.parametrize("shape, dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1),
                                        ((2, 3, 4), 1), ((2, 1, 3, 2), -2)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_values_and_gradcheck(name, shape, dim, rng, make_leaf):
    fn = getattr(cr, name)
    x = make_leaf(rng, shape)
    out = fn(x, dim)
    e = np.exp(x.numpy())
    expected = e / e.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(out.numpy(), expected if name == "softmax" else np.log(expected),
                               rtol=1e-12)
    assert cr.gradcheck(lambda t: fn(t, dim), [x])
    assert cr.gradgradcheck(lambda t: fn(t, dim), [x])
    np.testing.assert_allclose(getattr(x, name)(dim).numpy(), out.numpy())


def test_softmax_rows_sum_to_one(rng):
    x = cr.tensor(rng.standard_normal((4, 6)) * 10)
    np.testing.assert_allclose(cr.softmax(x, -1).numpy().sum(-1), np.ones(4), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_at_large_magnitudes(dtype):
    x = cr.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype), requires_grad=True)
    s = cr.softmax(x, 1)
    ls = cr.log_softmax(x, 1)
    assert np.all(np.isfinite(s.numpy())) and np.all(np.isfinite(ls.numpy()))
    np.testing.assert_allclose(s.numpy(), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-7)
    np.testing.assert_allclose(ls.numpy(), [[0, -2e4, -1e4], [-np.log(3)] * 3], rtol=1e-6)
    w = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=dtype)
    (s * cr.tensor(w)).sum().backward()
    # d/dx of sum(w * softmax) = s * (w - sum(w s)), exactly representable here
    sv = s.numpy().astype(np.float64)
    expected = sv * (w - (w * sv).sum(1, keepdims=True))
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), expected, atol=1e-7)
    x.grad = None
    (ls * cr.tensor(w)).sum().backward()
    expected_ls = w - sv * w.sum(1, keepdims=True)
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), expected_ls, rtol=1e-6, atol=1e-6)


def test_log_softmax_gradcheck_at_large_magnitudes():
    x = cr.tensor([[1e4, 1e4 - 1.0, -1e4], [3.0, -1e4, 1e4]], dtype=np.float64, requires_grad=True)
    assert cr.gradcheck(lambda t: cr.log_softmax(t, 1), [x])
    assert cr.gradcheck(lambda t: cr.softmax(t, 1), [x])


# ------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(x_shape, with_bias, rng, make_leaf):
    x, w = make_leaf(rng, x_shape), make_leaf(rng, (5, 4))
    b = make_leaf(rng, (5,)) if with_bias else None
    out = linear(x, w, b)
    expected = x.numpy() @ w.numpy().T + (b.numpy() if with_bias else 0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    inputs = [x, w, b] if with_bias else [x, w]
    assert cr.gradcheck(lambda *t: linear(*t), inputs)
    assert cr.gradgradcheck(lambda *t: linear(*t), inputs)


def test_linear_shape_error():
    with pytest.raises(ValueError, match=r"linear: input has 3 features \(shape \(2, 3\)\) but weight expects 4"):
        linear(cr.ones(2, 3), cr.ones(5, 4))
    # Every layout the product sees reports the same way: N-D input, 1-D input, 0-d input.
    with pytest.raises(ValueError, match=r"input has 3 features \(shape \(6, 2, 3\)\)"):
        linear(cr.ones(6, 2, 3), cr.ones(5, 4))
    with pytest.raises(ValueError, match=r"input has 3 features \(shape \(3,\)\)"):
        linear(cr.ones(3), cr.ones(5, 4))
    with pytest.raises(ValueError, match=r"input has 0 features \(shape \(\)\)"):
        linear(cr.tensor(1.0), cr.ones(5, 4))
    with pytest.raises(TypeError, match="dtype float32 but the weight has dtype float64"):
        linear(cr.ones(2, 4), cr.ones(5, 4, dtype=cr.float64))
    with pytest.raises(TypeError, match="dtype float64 but the weight has dtype float32"):
        linear(cr.ones(3, 4, dtype=cr.float64), cr.ones(4))        # a 1-D weight, as in torch
    assert linear(cr.ones(3, 4), cr.ones(4)).shape == (3,)
    with pytest.raises(ValueError, match=r"weight must be .* got shape \(5, 4, 4\)"):
        linear(cr.ones(3, 4), cr.ones(5, 4, 4))
    with pytest.raises(ValueError) as caught:                     # no NumPy error chained
        linear(cr.ones(2, 3), cr.ones(5, 4))
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4), (2, 1, 3, 4), (0, 3, 4),
                                     "transposed"])
def test_linear_input_layouts_agree_with_matmul(x_shape):
    """1-D inputs take matmul, the others np.dot (N-D ones flattened to one product, also
    when not contiguous): all give x @ W.T + b and its gradients."""
    rng = np.random.default_rng(3)
    if x_shape == "transposed":
        x = cr.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True).transpose(0, 1)
    else:
        x = cr.tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = cr.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(5), requires_grad=True)
    out = linear(x, w, b)
    np.testing.assert_allclose(out.numpy(), x.numpy() @ w.numpy().T + b.numpy(), rtol=1e-12)
    assert cr.gradcheck(lambda *t: linear(*t), [x, w, b])
