"""Reductions over dims (None, int, negative, tuple) with keepdim: values against NumPy,
gradient checks in float64, second derivatives, ties, zeros and index reductions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import chainrule as cr

# (dim, keepdim) on a (2, 3, 4) input
DIMS = [(None, False), (None, True), (0, False), (1, True), (-1, False), (-2, True),
        ((0, 2), False), ((-1, 0), True), ((0, 1, 2), False)]

REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, k), lambda a, d, k: a.sum(axis=d, keepdims=k)),
    "mean": (lambda x, d, k: x.mean(d, k), lambda a, d, k: a.mean(axis=d, keepdims=k)),
    "prod": (lambda x, d, k: x.prod(d, k), lambda a, d, k: a.prod(axis=d, keepdims=k)),
    "amax": (lambda x, d, k: cr.amax(x, d, k), lambda a, d, k: a.max(axis=d, keepdims=k)),
    "amin": (lambda x, d, k: x.amin(d, k), lambda a, d, k: a.min(axis=d, keepdims=k)),
    "var": (lambda x, d, k: x.var(d, keepdim=k), lambda a, d, k: a.var(axis=d, keepdims=k, ddof=1)),
    "var_biased": (lambda x, d, k: cr.var(x, d, keepdim=k, correction=0),
                   lambda a, d, k: a.var(axis=d, keepdims=k)),
    "std": (lambda x, d, k: x.std(d, keepdim=k), lambda a, d, k: a.std(axis=d, keepdims=k, ddof=1)),
    "std_unbiased_false": (lambda x, d, k: cr.std(x, d, False, k),
                           lambda a, d, k: a.std(axis=d, keepdims=k)),
    "norm2": (lambda x, d, k: x.norm(2, d, k),
              lambda a, d, k: np.sqrt((a * a).sum(axis=d, keepdims=k))),
    "norm1": (lambda x, d, k: cr.norm(x, 1, d, k), lambda a, d, k: np.abs(a).sum(axis=d, keepdims=k)),
    "norm3": (lambda x, d, k: cr.norm(x, 3, d, k),
              lambda a, d, k: (np.abs(a) ** 3).sum(axis=d, keepdims=k) ** (1 / 3)),
    "norm_inf": (lambda x, d, k: cr.norm(x, float("inf"), d, k),
                 lambda a, d, k: np.abs(a).max(axis=d, keepdims=k)),
    "logsumexp": (lambda x, d, k: cr.logsumexp(x, d, k),
                  lambda a, d, k: np.log(np.exp(a).sum(axis=d, keepdims=k))),
}
SMOOTH = ["sum", "mean", "prod", "var", "std", "norm2", "norm3", "logsumexp", "amax"]


def _np_dim(d):
    return tuple(d) if isinstance(d, tuple) else d


@pytest.mark.parametrize("dim, keepdim", DIMS, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_values_and_gradcheck(name, dim, keepdim, rng, make_leaf):
    fn, ref = REDUCTIONS[name]
    if name == "logsumexp" and dim is None:     # PyTorch requires dim, and so does chainrule
        with pytest.raises(TypeError, match="logsumexp: dim is required"):
            fn(make_leaf(rng, (2, 3, 4)), dim, keepdim)
        return
    fn, ref = REDUCTIONS[name]
    x = make_leaf(rng, (2, 3, 4))
    out = fn(x, dim, keepdim)
    expected = ref(x.numpy(), _np_dim(dim), keepdim)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert cr.gradcheck(lambda t: fn(t, dim, keepdim), [x])


@pytest.mark.parametrize("shape, dim", [((), None), ((5,), 0), ((5,), -1), ((3, 4), 1),
                                        ((2, 3, 2, 2), (1, 3)), ((2, 3, 2, 2), -3)], ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_over_other_ranks(name, shape, dim, rng, make_leaf):
    if name == "logsumexp" and dim is None:
        dim = ()  # a 0-d tensor has no dims to name; () reduces over none
    if name.startswith(("var", "std")) and (shape == () or dim is None):
        pytest.skip("the unbiased variance of one value is nan, as in PyTorch")
    fn, _ = REDUCTIONS[name]
    x = make_leaf(rng, shape)
    assert cr.gradcheck(lambda t: fn(t, dim, True), [x])
    assert cr.gradcheck(lambda t: fn(t, dim, False), [x])


@pytest.mark.parametrize("name", SMOOTH)
def test_reduction_gradgradcheck(name, rng, make_leaf):
    fn, _ = REDUCTIONS[name]
    x = make_leaf(rng, (3, 4))
    assert cr.gradgradcheck(lambda t: fn(t, 1, False), [x])
    assert cr.gradgradcheck(lambda t: fn(t, (0, 1), True), [make_leaf(rng, (2, 3))])


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_reduction_property_over_random_shapes_and_dims(data, make_leaf):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4), label="shape"))
    dims = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                              max_size=len(shape), unique_by=lambda d: d % len(shape)),
                     label="dims")
    keepdim = data.draw(st.booleans(), label="keepdim")
    name = data.draw(st.sampled_from(["sum", "mean", "amax", "logsumexp", "norm2", "prod"]))
    fn, ref = REDUCTIONS[name]
    x = make_leaf(np.random.default_rng(data.draw(st.integers(0, 2 ** 16))), shape)
    dim = tuple(dims)
    np.testing.assert_allclose(fn(x, dim, keepdim).numpy(), ref(x.numpy(), dim, keepdim),
                               rtol=1e-12)
    assert cr.gradcheck(lambda t: fn(t, dim, keepdim), [x])


# ------------------------------------------------------------------ special cases
def test_amax_ties_share_the_gradient():
    x = cr.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], dtype=np.float64, requires_grad=True)
    cr.amax(x, 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [0, 0, 0]])


def test_max_and_min_with_dim_return_values_and_indices():
    x = cr.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 6.0] and indices.tolist() == [1, 2]
    assert indices.dtype == np.int64 and not indices.requires_grad
    out = cr.max(x, 0, keepdim=True)
    assert out.values.shape == (1, 3) and out.indices.tolist() == [[1, 0, 1]]
    mins = x.min(1)
    assert mins.values.tolist() == [1.0, 2.0] and mins.indices.tolist() == [0, 1]
    assert x.max().item() == 6.0 and cr.min(x).item() == 1.0
    values.sum().backward()
    assert x.grad.tolist() == [[0, 1, 0], [0, 0, 1]]


def test_prod_with_zeros():
    x = cr.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]], dtype=np.float64,
                  requires_grad=True)
    x.prod(1).sum().backward()
    # one zero: only it gets the product of the others; two zeros: everything is 0
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 6, 0], [0, 0, 0], [8, 4, 2]])
    y = cr.tensor([[2.0, 0.0, 3.0], [1.0, 2.0, 4.0]], dtype=np.float64, requires_grad=True)
    assert cr.gradcheck(lambda t: t.prod(1), [y])
    assert cr.gradgradcheck(lambda t: t.prod(1), [y])


def test_norm_at_zero_has_zero_gradient():
    for p in (1, 2, 3, float("inf")):
        x = cr.zeros(3, dtype=np.float64, requires_grad=True)
        n = cr.norm(x, p)
        assert n.item() == 0.0
        n.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_norm_fro_is_two_norm_negative_p_as_pytorch_and_bad_p_is_rejected():
    x = cr.tensor([[3.0, -4.0]])
    assert cr.norm(x, "fro").item() == 5.0
    # PyTorch: p = -1 is (sum |a|^-1)^-1, p = 0 counts the non-zero entries
    np.testing.assert_allclose(cr.norm(x, -1).item(), 1 / (1 / 3 + 1 / 4), rtol=1e-6)
    assert cr.norm(x, 0).item() == 2.0
    with pytest.raises(ValueError, match="norm: p must be a number, inf, -inf or 'fro', got 'abc'"):
        cr.norm(x, "abc")


def test_logsumexp_is_stable_for_large_values():
    x = cr.tensor([[1e4, 1e4 - 1.0], [-1e4, -1e4]], dtype=np.float64, requires_grad=True)
    out = cr.logsumexp(x, 1)
    np.testing.assert_allclose(out.numpy(), [1e4 + np.log1p(np.exp(-1.0)), -1e4 + np.log(2)])
    out.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy().sum(1), [1.0, 1.0])
    assert cr.logsumexp(cr.tensor([[-np.inf, -np.inf]]), 1).item() == -np.inf


def test_mean_of_an_integer_tensor_is_an_error():
    with pytest.raises(TypeError, match=r"mean: needs a floating tensor \(or dtype=\), got dtype int64"):
        cr.arange(4).mean()


def test_variance_of_a_single_value_is_nan():
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(cr.tensor([2.0]).var().item())
    assert cr.tensor([2.0]).var(correction=0).item() == 0.0


def test_sum_of_integers_stays_integer():
    s = cr.arange(5).sum()
    assert s.dtype == np.int64 and s.item() == 10


def test_float32_reductions_keep_float32(rng):
    x = cr.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    for name in ("sum", "mean", "amax", "var", "std", "norm2", "logsumexp", "prod"):
        fn, _ = REDUCTIONS[name]
        y = fn(x, 1, False)
        assert y.dtype == np.float32, name
        x.grad = None
        y.sum().backward()
        assert x.grad.dtype == np.float32, name


# ------------------------------------------------------- index and boolean reductions
def test_argmax_argmin():
    a = np.array([[1.0, 7.0, 3.0], [9.0, 2.0, 4.0]])
    x = cr.tensor(a, requires_grad=True)
    assert cr.argmax(x).item() == 3 and x.argmin().item() == 0     # over the flat tensor
    assert x.argmax(1).tolist() == [1, 0] and cr.argmin(x, 0).tolist() == [0, 1, 0]
    assert x.argmax(-1, keepdim=True).shape == (2, 1)
    assert x.argmax(keepdim=True).shape == (1, 1)
    assert x.argmax(1).dtype == np.int64
    assert not x.argmax(1).requires_grad


def test_any_all():
    m = cr.tensor([[True, False], [False, False]])
    assert m.any().item() is True and cr.all(m).item() is False
    assert m.any(1).tolist() == [True, False]
    assert cr.all(m, 0, keepdim=True).shape == (1, 2)
    x = cr.tensor([[1.0, 0.0]], requires_grad=True)
    out = (x > 0).any(dim=(0, 1))
    assert out.item() is True and not out.requires_grad
    assert cr.any(x).item() is True


# --------------------------------------------------------------------- errors
def test_dim_out_of_range_is_named():
    with pytest.raises(IndexError, match="dim 3 is out of range for a tensor with 2 dimensions"):
        cr.ones(2, 3).sum(3)
    with pytest.raises(IndexError, match="dim -3 is out of range"):
        cr.ones(2, 3).mean(-3)


def test_repeated_dim_is_rejected():
    with pytest.raises(ValueError, match="names the same dimension twice"):
        cr.ones(2, 3).sum((1, -1))


def test_softmax_needs_a_dim():
    with pytest.raises(TypeError, match="softmax: pass dim explicitly"):
        cr.softmax(cr.ones(3), None)
