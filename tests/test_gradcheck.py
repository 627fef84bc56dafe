"""cr.gradcheck and cr.gradgradcheck themselves: they pass right gradients and, more to the
point, catch wrong ones with a report that names the worst entries."""
from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr


def f64(values, requires_grad=True):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


class WrongSquare(cr.autograd.Function):
    """x^2 with a deliberately wrong backward: 3x instead of 2x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x


class SlightlyOffSquare(cr.autograd.Function):
    """x^2 whose backward is 0.5% too large: caught at rtol=1e-3, tolerated at 1e-2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 2.01 * x


class FrozenSecondDerivative(cr.autograd.Function):
    """x^3 with a right first derivative whose backward reads a *copy* of x, so under
    create_graph it is a constant: the second derivative comes out wrong."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x.copy())
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x * x


class WrongSecondInput(cr.autograd.Function):
    """a * b whose gradient for b is wrong (returns a^2)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a * a


def test_passes_on_right_gradients():
    x, y = f64([[0.3, -1.2], [2.0, 0.7]]), f64([1.5, -0.4])
    assert cr.gradcheck(lambda a, b: (a * b).exp().sum(1) / (1 + b * b).sum(), [x, y]) is True
    assert cr.gradcheck(lambda a: a.tanh(), f64([0.1, 0.2]))        # a single tensor works too


def test_wrong_backward_raises_with_analytic_numeric_and_index():
    x = f64([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(WrongSquare.apply, [x])
    msg = str(info.value)
    assert "gradient of input 0 mismatch in 6 of 6 entries" in msg
    rows = re.findall(r"index \((\d), (\d)\): analytic (\S+)\s+numeric (\S+)", msg)
    assert len(rows) == 5                          # the worst five, worst first
    w = np.random.default_rng(0).standard_normal((2, 3))       # gradcheck's output weights
    for i, j, analytic, numeric in rows:
        i, j = int(i), int(j)
        np.testing.assert_allclose(float(analytic), 3 * x.numpy()[i, j] * w[i, j], rtol=1e-6)
        np.testing.assert_allclose(float(numeric), 2 * x.numpy()[i, j] * w[i, j], rtol=1e-5)
    errors = [abs(float(a) - float(n)) for _, _, a, n in rows]
    assert errors == sorted(errors, reverse=True)


def test_error_names_the_wrong_input():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    with pytest.raises(cr.GradcheckError, match="gradient of input 1 mismatch"):
        cr.gradcheck(WrongSecondInput.apply, [a, b])


def test_tolerances_are_honoured():
    x = f64([1.0, 2.0, 3.0])
    with pytest.raises(cr.GradcheckError, match=r"atol=1e-05, rtol=0.001"):
        cr.gradcheck(SlightlyOffSquare.apply, [x])
    assert cr.gradcheck(SlightlyOffSquare.apply, [x], rtol=1e-2)
    assert cr.gradcheck(SlightlyOffSquare.apply, [x], atol=0.1)
    with pytest.raises(cr.GradcheckError, match="atol=0.0001, rtol=0.0001"):
        cr.gradcheck(SlightlyOffSquare.apply, [x], eps=1e-5, atol=1e-4, rtol=1e-4)


def test_inputs_without_grad_are_left_alone():
    a = f64([1.0, 2.0])
    c = f64([5.0, 7.0], requires_grad=False)
    assert cr.gradcheck(lambda u, v: u * v, [a, c])
    assert cr.gradcheck(lambda u, k: u * k, [a, 3.0])          # non-tensor inputs pass through


def test_unused_input_has_zero_gradient():
    a, b = f64([1.0, 2.0]), f64([3.0])
    assert cr.gradcheck(lambda u, v: u * 2, [a, b])


def test_several_outputs():
    x = f64([0.5, 1.5])
    assert cr.gradcheck(lambda t: (t.sin(), t * t, t.sum()), [x])


def test_non_contiguous_input():
    data = np.asfortranarray(np.random.default_rng(1).standard_normal((3, 4)))
    x = cr.tensor(data, requires_grad=True)
    assert not x.numpy().flags.c_contiguous
    assert cr.gradcheck(lambda t: (t * t).sum(0), [x])


def test_float32_inputs_are_refused():
    with pytest.raises(TypeError, match="gradcheck: input 0 has dtype float32; use float64"):
        cr.gradcheck(lambda t: t * 2, [cr.tensor([1.0], requires_grad=True)])


def test_no_input_requiring_grad_is_refused():
    with pytest.raises(ValueError, match="gradcheck: no input requires grad"):
        cr.gradcheck(lambda t: t * 2, [f64([1.0], requires_grad=False)])


def test_non_differentiable_output_is_reported():
    with pytest.raises(cr.GradcheckError, match="no output requires grad"):
        cr.gradcheck(lambda t: t > 0, [f64([1.0])])


def test_inputs_are_restored_after_the_check():
    x = f64([0.1, 0.2, 0.3])
    before = x.numpy().copy()
    cr.gradcheck(lambda t: t.exp(), [x])
    np.testing.assert_array_equal(x.numpy(), before)


# ------------------------------------------------------------------ gradgradcheck
def test_gradgradcheck_passes_on_smooth_functions():
    x, y = f64([[0.3, -1.2], [2.0, 0.7]]), f64([1.5, -0.4])
    assert cr.gradgradcheck(lambda a, b: (a * b).sin() + a.exp() * b, [x, y]) is True


def test_gradgradcheck_covers_linear_functions():
    # the gradient of a linear map depends only on the output weights; those are
    # differentiated too (as in torch.autograd.gradgradcheck), so this is still checked
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    assert cr.gradgradcheck(lambda t: t.sum(0) * 3 - t.T.reshape(4)[:2], [x])


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = f64([0.5, -1.0, 2.0])
    assert cr.gradcheck(FrozenSecondDerivative.apply, [x])     # first order is right
    with pytest.raises(cr.GradcheckError, match="gradient of input 0 mismatch"):
        cr.gradgradcheck(FrozenSecondDerivative.apply, [x])


def test_gradgradcheck_through_a_non_differentiable_backward_is_a_clear_error():
    class OnlyFirstOrder(cr.autograd.Function):
        differentiable_backward = False

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * g * x

    x = f64([1.0, 2.0])
    assert cr.gradcheck(OnlyFirstOrder.apply, [x])
    with pytest.raises(RuntimeError, match="the backward of OnlyFirstOrder is not differentiable"):
        cr.gradgradcheck(OnlyFirstOrder.apply, [x])


def test_gradgradcheck_fails_when_a_second_order_gradient_is_missing():
    """A backward whose result is cut from the graph under create_graph (its gradient has no
    grad_fn) must fail the check, not be skipped."""
    class Cut(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, b):
            ctx.save_for_backward(x)
            return x * x + b

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            gb = g.detach() if isinstance(g, cr.Tensor) else g   # the planted bug: b's gradient
            return g * 2 * x, gb                                 # is cut from the graph
    x = cr.tensor(np.array([0.5, -1.0]), requires_grad=True)
    b = cr.tensor(np.array([0.1, 0.2]), requires_grad=True)
    with pytest.raises(cr.GradcheckError):
        cr.gradgradcheck(lambda x, b: Cut.apply(x, b), [x, b])
