"""The backward pass: accumulation, retain/create_graph, cr.grad, grad modes, version
counter, custom Functions, anomaly detection and gradient-array ownership."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def f64(values, requires_grad=True):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# ------------------------------------------------------------------- backward
class TestBackward:
    def test_scalar_backward(self):
        x = f64([1.0, 2.0, 3.0])
        (x * x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
        assert isinstance(x.grad, cr.Tensor) and x.grad.dtype == np.float64

    def test_non_scalar_needs_a_gradient(self):
        x = f64([1.0, 2.0])
        with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar outputs.*shape \(2,\)"):
            (x * 2).backward()

    @pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_implicit_gradient_of_any_single_element_output(self, shape, dtype):
        x = cr.tensor(np.full(shape, 2.0, dtype=dtype), requires_grad=True)
        (x * x).backward()
        assert x.grad.shape == shape and x.grad.dtype == dtype
        np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 4.0))
        x.backward()                    # a leaf as the root: its grad is a writable one
        np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 5.0))
        x.grad.data += 1
        assert x.grad.numpy().flags.writeable

    def test_non_scalar_with_gradient(self):
        x = f64([1.0, 2.0])
        (x * x).backward(gradient=cr.tensor([1.0, 10.0], dtype=np.float64))
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 40.0])

    def test_gradient_may_be_an_array_or_list(self):
        x = f64([1.0, 2.0])
        (x * 3).backward(np.array([1.0, 2.0]))
        (x * 3).backward([1.0, 1.0])
        np.testing.assert_array_equal(x.grad.numpy(), [6.0, 9.0])

    def test_gradient_of_wrong_shape(self):
        x = f64([1.0, 2.0])
        with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the tensor has shape \(2,\)"):
            (x * 2).backward(np.ones(3))

    def test_backward_on_a_tensor_without_grad(self):
        with pytest.raises(RuntimeError, match="does not require grad"):
            cr.tensor([1.0]).sum().backward()

    def test_backward_on_a_leaf(self):
        x = f64(3.0)
        x.backward()
        assert x.grad.item() == 1.0

    def test_one_element_non_scalar_needs_no_gradient(self):
        x = f64([[2.0]])
        (x * x).backward()
        assert x.grad.tolist() == [[4.0]]

    def test_long_chain_has_no_recursion_limit(self):
        x = f64(1.0)
        y = x
        for _ in range(100_000):
            y = y * 1.00001
        y.backward()
        np.testing.assert_allclose(x.grad.item(), 1.00001 ** 100_000, rtol=1e-9)

    def test_tensor_used_several_times_gets_the_sum(self):
        x = f64([1.0, -2.0])
        y = x * x + x * 3.0 + x      # dy/dx = 2x + 4
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [6.0, 0.0])

    def test_diamond_graph(self):
        x = f64(0.5)
        a = x.exp()
        b = a * x           # shares a and x
        c = a + b           # c = e^x (1 + x); dc/dx = e^x (2 + x)
        c.backward()
        np.testing.assert_allclose(x.grad.item(), np.exp(0.5) * 2.5)

    def test_gradients_accumulate_across_calls(self):
        x = f64([1.0, 2.0])
        (x * x).sum().backward()
        (x * 3).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
        x.grad = None
        (x * 3).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])

    def test_accumulation_into_zeroed_grad(self):
        x = f64([1.0, 2.0])
        (x * 2).sum().backward()
        x.grad.zero_()
        (x * 5).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])

    def test_non_leaf_grad_is_not_kept_unless_retained(self):
        x = f64([1.0, 2.0])
        h = x * 2
        k = x * 3
        k.retain_grad()
        (h * k).sum().backward()
        assert h.grad is None
        np.testing.assert_array_equal(k.grad.numpy(), h.numpy())

    def test_retain_grad_on_a_tensor_without_grad(self):
        with pytest.raises(RuntimeError, match="retain_grad: the tensor does not require grad"):
            cr.tensor([1.0]).retain_grad()

    def test_backward_inputs_limits_which_leaves_accumulate(self):
        a, b = f64([1.0]), f64([2.0])
        (a * b).sum().backward(inputs=[a])
        assert a.grad.tolist() == [2.0] and b.grad is None

    def test_float32_gradients_stay_float32(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        (x * 2.0).sum().backward()
        assert x.grad.dtype == np.float32

    def test_broadcast_gradient_is_summed_to_the_input_shape(self):
        a = f64(np.ones((3, 1)))
        b = f64(np.ones(4))
        (a * b).sum().backward()
        assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
        np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 1), 4.0))
        np.testing.assert_array_equal(b.grad.numpy(), np.full(4, 3.0))


class TestRetainGraph:
    def test_second_backward_through_freed_graph_is_a_clear_error(self):
        x = f64([1.0, 2.0])
        y = (x * x).sum()
        y.backward()
        with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
            y.backward()

    def test_retain_graph_allows_a_second_backward(self):
        x = f64([1.0, 2.0])
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


class TestCreateGraph:
    def test_second_derivative_through_backward(self):
        x = f64([1.0, 2.0])
        (x ** 3).sum().backward(create_graph=True)
        g = x.grad                                  # 3 x^2, itself in the graph
        assert g.requires_grad and g.grad_fn is not None
        np.testing.assert_array_equal(g.numpy(), [3.0, 12.0])
        x.grad = None
        g.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])   # 6 x

    def test_third_derivative_with_grad(self):
        x = f64(0.7)
        (d1,) = cr.grad(x.sin() * x, x, create_graph=True)
        (d2,) = cr.grad(d1, x, create_graph=True)
        (d3,) = cr.grad(d2, x)
        # f = x sin x; f' = sin x + x cos x; f'' = 2 cos x - x sin x; f''' = -3 sin x - x cos x
        np.testing.assert_allclose(d1.item(), np.sin(0.7) + 0.7 * np.cos(0.7))
        np.testing.assert_allclose(d2.item(), 2 * np.cos(0.7) - 0.7 * np.sin(0.7))
        np.testing.assert_allclose(d3.item(), -3 * np.sin(0.7) - 0.7 * np.cos(0.7))

    def test_hessian_vector_product(self):
        rng = np.random.default_rng(0)
        A = rng.standard_normal((3, 3))
        A = A + A.T
        x = f64(rng.standard_normal(3))
        v = rng.standard_normal(3)
        f = 0.5 * (x @ (cr.tensor(A) @ x))          # Hessian is A
        (g,) = cr.grad(f, x, create_graph=True)
        (hv,) = cr.grad(g, x, grad_outputs=cr.tensor(v))
        np.testing.assert_allclose(hv.numpy(), A @ v, rtol=1e-12)

    def test_differentiable_grad_outputs(self):
        x = f64([1.0, 2.0])
        w = f64([3.0, 5.0])
        (g,) = cr.grad(x * x, x, grad_outputs=w, create_graph=True)   # g = 2 x w
        (gw,) = cr.grad(g.sum(), w)
        np.testing.assert_array_equal(gw.numpy(), [2.0, 4.0])


# ------------------------------------------------------------------- cr.grad
class TestGradFunction:
    def test_returns_a_tuple_and_leaves_grad_alone(self):
        x, y = f64([1.0, 2.0]), f64([3.0, 4.0])
        gx, gy = cr.grad((x * y).sum(), [x, y])
        np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
        np.testing.assert_array_equal(gy.numpy(), [1.0, 2.0])
        assert x.grad is None and y.grad is None

    def test_single_tensor_input(self):
        x = f64(2.0)
        out = cr.grad(x * x, x)
        assert isinstance(out, tuple) and out[0].item() == 4.0

    def test_non_leaf_input(self):
        x = f64([1.0, 2.0])
        h = x * 3
        (gh,) = cr.grad((h * h).sum(), h)
        np.testing.assert_array_equal(gh.numpy(), [6.0, 12.0])

    def test_output_itself_as_input(self):
        x = f64([1.0, 2.0])
        y = x * 2
        (gy,) = cr.grad(y, y, grad_outputs=cr.ones(2, dtype=np.float64))
        np.testing.assert_array_equal(gy.numpy(), [1.0, 1.0])

    def test_unused_input(self):
        x, z = f64([1.0]), f64([2.0])
        with pytest.raises(RuntimeError, match="input 1 .* was not used.*allow_unused=True"):
            cr.grad((x * 2).sum(), [x, z])
        gx, gz = cr.grad((x * 2).sum(), [x, z], allow_unused=True)
        assert gx.tolist() == [2.0] and gz is None

    def test_grad_outputs_for_non_scalar(self):
        x = f64([1.0, 2.0])
        (g,) = cr.grad(x * x, x, grad_outputs=cr.tensor([1.0, -1.0], dtype=np.float64))
        np.testing.assert_array_equal(g.numpy(), [2.0, -4.0])
        with pytest.raises(RuntimeError, match="only for scalar outputs"):
            cr.grad(x * x, x)

    def test_several_outputs(self):
        x = f64([1.0, 2.0])
        (g,) = cr.grad([(x * x).sum(), (x * 3).sum()], x)
        np.testing.assert_array_equal(g.numpy(), [5.0, 7.0])
        with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
            cr.grad([x.sum(), x.sum()], x, grad_outputs=[None])

    def test_retain_graph_defaults_to_create_graph(self):
        x = f64([1.0, 2.0])
        y = (x * x).sum()
        cr.grad(y, x)
        with pytest.raises(RuntimeError, match="retain_graph"):
            cr.grad(y, x)
        y2 = (x * x).sum()
        cr.grad(y2, x, retain_graph=True)
        (g,) = cr.grad(y2, x)
        np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])

    def test_output_that_does_not_require_grad(self):
        with pytest.raises(RuntimeError, match="grad: an output does not require grad"):
            cr.grad(cr.tensor([1.0]).sum(), cr.tensor([1.0]))

    def test_without_create_graph_the_result_is_a_constant(self):
        x = f64(2.0)
        (g,) = cr.grad(x * x, x)
        assert not g.requires_grad


# -------------------------------------------------------------------- modes
class TestGradModes:
    def test_no_grad_context(self):
        x = f64([1.0])
        with cr.no_grad():
            assert not cr.is_grad_enabled()
            y = x * 2
        assert cr.is_grad_enabled()
        assert not y.requires_grad and y.grad_fn is None

    def test_no_grad_decorator_with_and_without_parentheses(self):
        x = f64([1.0])

        @cr.no_grad()
        def double(t):
            return t * 2

        @cr.no_grad
        def triple(t):
            return t * 3

        assert not double(x).requires_grad and not triple(x).requires_grad
        assert triple.__name__ == "triple"
        assert cr.is_grad_enabled()

    def test_recursive_decorated_function_restores_the_mode(self):
        @cr.no_grad()
        def depth(n):
            assert not cr.is_grad_enabled()
            return 0 if n == 0 else 1 + depth(n - 1)

        assert depth(3) == 3
        assert cr.is_grad_enabled()

    def test_enable_grad_inside_no_grad(self):
        x = f64([1.0])
        with cr.no_grad():
            with cr.enable_grad():
                y = x * 2
            z = x * 2
        assert y.requires_grad and not z.requires_grad

        @cr.enable_grad()
        def recorded(t):
            return t * 2

        with cr.no_grad():
            assert recorded(x).requires_grad

    def test_set_grad_enabled(self):
        x = f64([1.0])
        with cr.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        with cr.set_grad_enabled(True):
            assert (x * 2).requires_grad

    def test_mode_is_restored_after_an_exception(self):
        with pytest.raises(ZeroDivisionError):
            with cr.no_grad():
                1 / 0
        assert cr.is_grad_enabled()

    def test_no_grad_rejects_arguments(self):
        with pytest.raises(TypeError, match="no_grad.. takes no arguments"):
            cr.no_grad(3)

    def test_detach(self):
        x = f64([1.0, 2.0])
        y = (x * 2).detach()
        z = (y * x).sum()
        z.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])   # y treated as constant

    def test_requires_grad_(self):
        t = cr.tensor([1.0, 2.0])
        assert t.requires_grad_() is t and t.requires_grad
        (t * t).sum().backward()
        assert t.grad.tolist() == [2.0, 4.0]
        assert not t.requires_grad_(False).requires_grad

    def test_requires_grad_false_on_a_non_leaf(self):
        y = f64([1.0]) * 2
        with pytest.raises(RuntimeError, match="non-leaf.*detach"):
            y.requires_grad_(False)


# --------------------------------------------------------------- version counter
class TestInPlaceDetection:
    def test_modifying_a_saved_input_is_detected(self):
        w = f64([1.0, 2.0])
        x = cr.tensor([3.0, 4.0], dtype=np.float64)
        y = (w * x).sum()          # Mul saves x
        x.add_(1)
        with pytest.raises(RuntimeError, match="needed by Mul's backward was modified in place"):
            y.backward()

    def test_setitem_on_a_saved_input_is_detected(self):
        w = f64([1.0, 2.0])
        x = cr.tensor([3.0, 4.0], dtype=np.float64)
        y = (w * x).sum()
        x[0] = 10.0
        with pytest.raises(RuntimeError, match="modified in place.*version 0 -> 1"):
            y.backward()

    def test_optimizer_step_before_backward_is_detected(self):
        w = f64([1.0, 2.0])
        loss = (w * w).sum()
        with cr.no_grad():
            w -= 0.1
        with pytest.raises(RuntimeError, match="modified in place"):
            loss.backward()

    def test_modifying_a_saved_output_is_detected(self):
        x = f64([1.0, 2.0])
        y = x.exp()                 # Exp's backward reads its own output
        with cr.no_grad():
            y[0] = 5.0
        with pytest.raises(RuntimeError, match="Exp's backward was modified in place"):
            y.sum().backward()

    def test_modifying_the_base_of_a_saved_view_is_detected(self):
        w = f64([1.0, 2.0])
        x = cr.tensor([3.0, 4.0, 5.0], dtype=np.float64)
        y = (w * x[0:2]).sum()          # Mul saves a view of x
        x[0] = 10.0
        with pytest.raises(RuntimeError, match="Mul's backward was modified in place"):
            y.backward()

    def test_modifying_through_a_view_is_detected(self):
        w = f64([1.0, 2.0])
        x = cr.tensor([[3.0, 4.0]], dtype=np.float64)
        y = (w * x).sum()
        x.reshape(2)[1] = 0.0           # writes into x's memory
        with pytest.raises(RuntimeError, match="modified in place"):
            y.backward()

    def test_modifying_through_detach_is_detected(self):
        w, a = f64([1.0, 2.0]), f64([3.0, 4.0])
        y = (w * a).sum()
        a.detach().zero_()
        with pytest.raises(RuntimeError, match="modified in place"):
            y.backward()

    def test_changing_an_input_that_was_not_saved_is_allowed(self):
        # Linear saves x and the weight, not the bias (as in PyTorch): only they must stay.
        lin = cr.nn.Linear(2, 3).double()
        x = cr.tensor([[1.0, 2.0]], dtype=np.float64)
        loss = lin(x).sum()
        with cr.no_grad():
            lin.bias.add_(1.0)
        loss.backward()
        np.testing.assert_array_equal(lin.bias.grad.numpy(), np.ones(3))
        loss = lin(x).sum()
        with cr.no_grad():
            lin.weight.mul_(2.0)
        with pytest.raises(RuntimeError, match="Linear's backward was modified in place"):
            loss.backward()

    def test_an_optimizer_step_bumps_every_updated_version(self):
        a, b = f64([1.0, 2.0]), f64([3.0])
        opt = cr.optim.SGD([a, b], lr=0.1)
        (a * a).sum().backward()                 # b gets no gradient: not updated
        opt.step()
        assert (a._version, b._version) == (1, 0)
        loss = (a * b).sum()
        (b * b).sum().backward()
        opt.step()
        with pytest.raises(RuntimeError, match="modified in place"):
            loss.backward()

    def test_a_fresh_result_does_not_share_the_count(self):
        w = f64([1.0, 2.0])
        x = cr.tensor([3.0, 4.0], dtype=np.float64)
        y = (w * (x * 1.0)).sum()       # Mul saves x * 1.0, a new array
        x.add_(1)
        y.backward()
        np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])

    def test_modifying_an_unsaved_input_is_fine(self):
        w = f64([1.0, 2.0])
        x = cr.tensor([3.0, 4.0], dtype=np.float64)
        y = (w + x).sum()           # Add saves nothing, so the gradient cannot be wrong
        x.add_(1)
        y.backward()
        np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


# -------------------------------------------------------------- custom Function
class Cube(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):  # d(x^3)/dx = 3 x^2
        x, = ctx.saved_tensors
        return grad * 3 * x * x


class ScaledAdd(cr.autograd.Function):
    """a + alpha * b with a non-tensor argument and a keyword."""

    @staticmethod
    def forward(ctx, a, b, alpha, *, bias=0.0):
        ctx.alpha = alpha
        ctx.seen_needs = ctx.needs_input_grad
        return a + alpha * b + bias

    @staticmethod
    def backward(ctx, grad):
        return grad, grad * ctx.alpha, None


class TestCustomFunction:
    def test_forward_backward_and_gradcheck(self):
        x = f64([0.5, -1.5, 2.0])
        y = Cube.apply(x)
        assert y.grad_fn.name() == "Cube" and "CubeBackward" in repr(y)
        np.testing.assert_allclose(y.numpy(), x.numpy() ** 3)
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)
        assert cr.gradcheck(Cube.apply, [f64([0.5, -1.5, 2.0])])
        assert cr.gradgradcheck(Cube.apply, [f64([0.5, -1.5, 2.0])])

    def test_non_tensor_args_kwargs_and_needs_input_grad(self):
        a = f64([1.0, 2.0])
        b = cr.tensor([10.0, 20.0], dtype=np.float64)         # needs no gradient
        y = ScaledAdd.apply(a, b, 0.5, bias=1.0)
        np.testing.assert_array_equal(y.numpy(), [7.0, 13.0])
        assert y.grad_fn.needs_input_grad == (True, False, False)
        y.sum().backward()
        assert a.grad.tolist() == [1.0, 1.0] and b.grad is None
        assert cr.gradcheck(lambda u, v: ScaledAdd.apply(u, v, 0.5), [f64([1.0, 2.0]), f64([3.0, 4.0])])

    def test_function_with_no_grad_inputs_records_nothing(self):
        y = Cube.apply(cr.tensor([2.0]))
        assert y.grad_fn is None and not y.requires_grad
        assert y.tolist() == [8.0]


# ------------------------------------------------------------ anomaly detection
class TestDetectAnomaly:
    def test_names_the_op_and_the_line_that_created_it(self):
        x = f64([0.0, 1.0])
        with cr.detect_anomaly():
            y = x.sqrt()   # d sqrt/dx at 0 is inf
            with pytest.raises(FloatingPointError) as info, np.errstate(divide="ignore"):
                y.sum().backward()
        msg = str(info.value)
        assert "backward of Sqrt" in msg and "produced Inf" in msg
        assert "test_autograd.py" in msg and "x.sqrt()" in msg

    def test_nan_is_reported(self):
        x = f64([-1.0, 4.0])
        with cr.detect_anomaly(), np.errstate(invalid="ignore"):
            y = cr.sqrt(x) * 3.0     # sqrt(-1) is nan, and so is its derivative
            with pytest.raises(FloatingPointError, match="backward of Sqrt.*produced NaN"):
                y.sum().backward()

    def test_as_decorator(self):
        @cr.detect_anomaly()
        def run():
            x = f64([0.0])
            (x.sqrt() * 2).sum().backward()

        with pytest.raises(FloatingPointError, match="Sqrt"):
            with np.errstate(divide="ignore"):
                run()

    def test_without_anomaly_mode_no_error(self):
        x = f64([0.0])
        with np.errstate(divide="ignore"):
            x.sqrt().sum().backward()
        assert np.isinf(x.grad.item())


# --------------------------------------------------------- gradient ownership
class TestGradArraysDoNotAlias:
    def test_add_gives_each_leaf_its_own_array(self):
        a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
        (a + b).sum().backward()
        assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
        a.grad.numpy().clip(-0.5, 0.5, out=a.grad.numpy())     # in-place clipping of one
        a.grad.data *= 0
        np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])

    def test_root_gradient_is_not_aliased(self):
        a = f64([1.0, 2.0])
        g = cr.tensor([1.0, 1.0], dtype=np.float64)
        (a + 0.0).backward(g)
        assert not np.shares_memory(a.grad.numpy(), g.numpy())
        a.grad.data += 5
        assert g.tolist() == [1.0, 1.0]
        leaf = f64([1.0])
        gl = np.array([2.0])
        leaf.backward(gl)
        assert not np.shares_memory(leaf.grad.numpy(), gl)

    def test_later_accumulation_does_not_leak(self):
        a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
        y = a + b
        y.backward(np.ones(2), retain_graph=True)
        y.backward(np.ones(2))
        a.grad.numpy()[:] = 0
        np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])

    def test_backward_with_inputs(self):
        a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
        (a + b).backward(np.ones(2), inputs=[a, b])
        assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())

    @pytest.mark.parametrize("build", [
        lambda a, b: (a + b).sum(),
        lambda a, b: (a - b).sum(),
        lambda a, b: cr.cat([a, b]).sum(),
        lambda a, b: cr.stack([a, b]).sum(),
        lambda a, b: (a.reshape(2, 1) + b).sum(),
        lambda a, b: cr.where(a > 0, a, b).sum(),
    ])
    def test_many_graph_shapes(self, build):
        a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
        build(a, b).backward()
        assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
        assert a.grad.numpy().flags.writeable and b.grad.numpy().flags.writeable

    def test_create_graph_grads_are_distinct(self):
        a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
        (a + b).backward(np.ones(2), create_graph=True)
        assert a.grad is not b.grad
        assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())


def test_a_failed_optimizer_step_still_bumps_what_it_changed():
    a = f64([1.0, 2.0, 3.0])
    b = f64([1.0])
    loss = (a * a).sum()
    a.grad = cr.tensor(np.ones(3))
    b.grad = cr.tensor(np.ones(2))                 # wrong shape: step fails at b
    with pytest.raises(ValueError, match="gradient of shape"):
        cr.optim.SGD([a, b], lr=0.1).step()
    assert a._version == 1
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_keep_arguments_records_every_nodes_arguments():
    x = cr.tensor([[1.0, -2.0]], requires_grad=True)
    w = cr.tensor([[0.5, 0.25], [1.0, -1.0]], requires_grad=True)
    with cr.autograd.keep_arguments():
        y = cr.relu(cr.nn.functional.linear(x, w)).sum(1)
    sum_node = y.grad_fn
    args, _ = sum_node._args
    relu_node = args[0].grad_fn
    (relu_in,), _ = relu_node._args
    linear_args, _ = relu_in.grad_fn._args
    assert linear_args[0] is x and linear_args[1] is w and linear_args[2] is None
    assert args[1] == (1,)                       # the settings come along: the summed axes
    z = cr.relu(x)                               # outside the block nothing extra is kept
    assert z.grad_fn._args is None


def test_leaf_uses_counts_the_inputs_each_leaf_feeds():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    unused = cr.tensor([0.5], requires_grad=True)
    y = (a * a + b).sum()
    uses = cr.autograd.leaf_uses({"out": [y, b]})
    assert uses[id(a)] == [a, 2] and uses[id(b)] == [b, 1]
    assert id(unused) not in uses
