"""PyTorch habits that must carry over: dtype promotion, tie-breaking, limits at zero,
the smaller conveniences (to, cpu, new_zeros, unbind, cumsum ...), and their errors."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def f64(values, requires_grad=True):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# ------------------------------------------------------------------ dtype promotion
def test_numpy_scalars_do_not_promote_float32_work():
    x = cr.randn(3)
    assert (x / np.sqrt(2.0)).dtype == np.float32
    assert (x * np.float64(2.0)).dtype == np.float32


def test_integer_tensors_meet_floats_like_pytorch():
    i = cr.tensor([1, 2, 3])
    assert (i / 2).dtype == np.float32            # true division gives the default float
    assert (i * 0.5).dtype == np.float32
    assert (i + cr.tensor([1.0, 2.0, 3.0])).dtype == np.float32
    assert (i * 2).dtype == np.int64              # integers stay integers
    assert i.exp().dtype == np.float32 and i.sqrt().dtype == np.float32
    x64 = cr.tensor(np.ones(3))
    assert (i + x64).dtype == np.float64          # the float operand's own dtype wins


def test_linear_refuses_mixed_dtypes_with_a_hint():
    layer = cr.nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"linear: input has dtype float64 but the weight has dtype float32"):
        layer(cr.tensor(np.ones((4, 3))))


# --------------------------------------------------------------- limits and ties
def test_pow_gradient_at_zero_base_matches_pytorch():
    torch = pytest.importorskip("torch")
    for exponent in (0.0, 1.0, 2.0, 3.0):
        a = f64([0.0, 2.0])
        b = f64([exponent, exponent])
        (a ** b).sum().backward()
        ta = torch.tensor([0.0, 2.0], dtype=torch.float64, requires_grad=True)
        tb = torch.tensor([exponent, exponent], dtype=torch.float64, requires_grad=True)
        (ta ** tb).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())
        np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())


def test_pow_stays_twice_differentiable():
    a = f64([0.5, 1.5, 2.0])
    assert cr.gradgradcheck(lambda t: t ** 3, a)


def test_max_along_dim_gives_the_gradient_to_the_returned_index():
    torch = pytest.importorskip("torch")
    x = f64([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    values, idx = x.max(1)
    values.sum().backward()
    tx = torch.tensor(x.numpy(), requires_grad=True)
    tv, ti = tx.max(1)
    tv.sum().backward()
    np.testing.assert_array_equal(idx.numpy(), ti.numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    y = f64([[1.0, 5.0], [7.0, 0.0]])
    assert cr.gradcheck(lambda t: t.min(dim=0, keepdim=True)[0], y)


def test_binary_max_and_min_are_elementwise():
    a, b = cr.tensor([1.0, 5.0]), cr.tensor([3.0, 2.0])
    np.testing.assert_array_equal(cr.max(a, b).numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(cr.min(a, b).numpy(), [1.0, 2.0])


def test_clamp_with_tensor_bounds_gives_the_bounds_gradients():
    torch = pytest.importorskip("torch")
    x = f64([-2.0, 0.5, 3.0])
    lo, hi = f64([0.0, 0.0, 0.0]), f64([1.0, 1.0, 1.0])
    cr.clamp(x, lo, hi).sum().backward()
    tx, tlo, thi = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, lo, hi))
    torch.clamp(tx, tlo, thi).sum().backward()
    for ours, theirs in ((x, tx), (lo, tlo), (hi, thi)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


def test_mean_of_empty_backpropagates_an_empty_gradient():
    x = cr.zeros(0, requires_grad=True)
    x.mean().backward()
    assert x.grad.shape == (0,)


def test_zero_dim_tensors_accept_dim_zero_and_minus_one():
    s = cr.tensor(3.0, requires_grad=True)
    assert s.sum(0).item() == 3.0 and s.mean(-1).item() == 3.0
    with pytest.raises(IndexError, match="0-d tensor"):
        s.sum(1)


# ------------------------------------------------------------------ grad mode
def test_set_grad_enabled_applies_when_called_as_a_function():
    cr.set_grad_enabled(False)
    try:
        assert not cr.is_grad_enabled()
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()
    with cr.set_grad_enabled(False):
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def inside():
        return cr.is_grad_enabled()

    assert cr.is_grad_enabled()                   # decorating does not switch the mode
    assert inside() is False and cr.is_grad_enabled()


# ------------------------------------------------------------- in place, setitem
def test_setitem_with_a_value_that_needs_gradients_is_recorded():
    x = cr.tensor(2.0, requires_grad=True)
    out = cr.zeros(3)
    out[0] = x * 3                                # as PyTorch: out joins the graph
    (out * out).sum().backward()
    assert out.grad_fn is not None and x.grad.item() == 36.0
    plain = cr.zeros(3)
    with cr.no_grad():
        plain[0] = x * 3                          # nothing recorded
    assert plain[0].item() == 6.0 and plain.grad_fn is None


def test_in_place_updates_refuse_unsafe_casts_and_bad_shapes():
    t = cr.tensor([1, 2])
    with pytest.raises(TypeError, match=r"result type float32 can't be cast to the desired output type int64"):
        t += 0.5
    with pytest.raises(RuntimeError):               # PyTorch's exception type works too
        t += 0.5
    f = cr.zeros(2, 3)
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        f.add_(cr.ones(4))
    with pytest.raises(ValueError, match=r"the result has shape \(2, 2, 3\), which does not fit"):
        f.add_(cr.ones(2, 2, 3))


def test_in_place_math_methods():
    t = cr.tensor([1.0, 4.0])
    t.sqrt_().exp_()
    np.testing.assert_allclose(t.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    m = cr.tensor([-1.0, 2.0]).relu_()
    np.testing.assert_array_equal(m.numpy(), [0.0, 2.0])
    m.masked_fill_(cr.tensor([True, False]), 9.0)
    np.testing.assert_array_equal(m.numpy(), [9.0, 2.0])


# ------------------------------------------------------------------ conveniences
def test_to_cpu_type_as_and_new_tensors():
    x = cr.randn(2, 3)
    assert x.to("cpu") is x and x.cpu() is x
    assert x.to(np.float64).dtype == np.float64
    assert x.to(device="cpu", dtype=cr.float64).dtype == np.float64
    assert x.to(cr.tensor(np.ones(1))).dtype == np.float64
    assert x.type_as(cr.tensor([1])).dtype == np.int64
    with pytest.raises(ValueError, match="cuda"):
        x.to("cuda")
    z = x.new_zeros(4, 5)
    assert z.shape == (4, 5) and z.dtype == np.float32 and not z.numpy().any()
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0]
    assert x.is_floating_point() and not cr.tensor([1]).is_floating_point()


def test_from_numpy_shares_memory_and_as_tensor_avoids_copies():
    a = np.arange(3.0)
    t = cr.from_numpy(a)
    a[0] = 5.0
    assert t[0].item() == 5.0 and t.dtype == np.float64
    assert cr.as_tensor(t) is t
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cr.from_numpy([1, 2])


def test_unbind_cumsum_index_select_triangles_against_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((3, 4))
    cases = [
        (lambda t: t.unbind(1)[2], lambda t: t.unbind(1)[2]),
        (lambda t: t.cumsum(1), lambda t: t.cumsum(1)),
        (lambda t: cr.cumsum(t, 0), lambda t: torch.cumsum(t, 0)),
        (lambda t: cr.index_select(t, 1, cr.tensor([0, 2, 2])),
         lambda t: torch.index_select(t, 1, torch.tensor([0, 2, 2]))),
        (lambda t: cr.triu(t, 1), lambda t: torch.triu(t, 1)),
        (lambda t: cr.tril(t), lambda t: torch.tril(t)),
        (lambda t: (t * t + 1).rsqrt(), lambda t: (t * t + 1).rsqrt()),
        (lambda t: (t * t + 1).log2(), lambda t: (t * t + 1).log2()),
        (lambda t: cr.mm(t, t.T), lambda t: torch.mm(t, t.T)),
    ]
    for ours_fn, theirs_fn in cases:
        x = f64(a)
        tx = torch.tensor(a, requires_grad=True)
        ours, theirs = ours_fn(x), theirs_fn(tx)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
        w = np.random.default_rng(1).standard_normal(theirs.shape)
        ours.backward(cr.tensor(w))
        theirs.backward(torch.tensor(w))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
        assert cr.gradcheck(ours_fn, f64(a))


def test_cumsum_is_twice_differentiable():
    assert cr.gradgradcheck(lambda t: (t.cumsum(0) ** 2), f64([0.3, -1.2, 2.0]))


def test_shape_errors_name_the_operation():
    x = cr.ones(2, 3, 4)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)
    with pytest.raises(ValueError, match="t: expects a tensor of at most 2 dims"):
        x.t()
    with pytest.raises(IndexError, match=r"gather: index values must lie in \[-3, 2\]"):
        cr.gather(cr.ones(2, 3), 1, cr.tensor([[0, 3]]))
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool tensor"):
        cr.ones(2).masked_fill(cr.tensor([1, 0]), 0.0)
    with pytest.raises(ValueError, match="bmm: expects"):
        cr.bmm(cr.ones(2, 3, 4), cr.ones(3, 4, 5))


def test_a_function_without_forward_or_backward_says_what_is_missing():
    class NoForward(cr.autograd.Function):
        pass

    with pytest.raises(TypeError, match="NoForward defines no forward"):
        NoForward.apply(cr.ones(2))

    class NoBackward(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    y = NoBackward.apply(cr.ones(2, requires_grad=True)).sum()
    with pytest.raises(TypeError, match="NoBackward defines no backward"):
        y.backward()
