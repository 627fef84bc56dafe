"""Tensor creation, dtypes, properties, conversions, repr and in-place writes."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


# ------------------------------------------------------------------- creation
class TestTensorFactory:
    def test_python_floats_become_float32(self):
        t = cr.tensor([[1.0, 2.0], [3.0, 4.5]])
        assert t.dtype == np.float32
        assert t.shape == (2, 2)
        np.testing.assert_array_equal(t.numpy(), [[1.0, 2.0], [3.0, 4.5]])

    def test_python_scalar_float_is_float32_zero_dim(self):
        t = cr.tensor(3.5)
        assert t.dtype == np.float32 and t.shape == () and t.ndim == 0
        assert t.item() == 3.5

    def test_python_ints_become_int64_and_bools_stay_bool(self):
        assert cr.tensor([1, 2, 3]).dtype == np.int64
        assert cr.tensor(7).dtype == np.int64
        assert cr.tensor([True, False]).dtype == np.bool_

    def test_mixed_int_float_list_is_float32(self):
        assert cr.tensor([1, 2.5]).dtype == np.float32

    def test_float64_arrays_keep_their_dtype(self):
        arr = np.arange(6, dtype=np.float64).reshape(2, 3)
        assert cr.tensor(arr).dtype == np.float64
        assert cr.tensor(np.float64(2.0)).dtype == np.float64

    def test_explicit_dtype_is_used(self):
        assert cr.tensor([1, 2], dtype=np.float64).dtype == np.float64
        assert cr.tensor([1.5], dtype="float64").dtype == np.float64
        assert cr.tensor([1.5, 2.0], dtype=cr.float64).dtype == cr.float64
        assert cr.tensor([1.7, 2.2], dtype=cr.int64).tolist() == [1, 2]

    def test_tensor_copies_its_source(self):
        arr = np.ones(3)
        t = cr.tensor(arr)
        arr[0] = 5.0
        assert t.tolist() == [1.0, 1.0, 1.0]
        u = cr.tensor(t)
        t.data[1] = 9.0
        assert u.tolist() == [1.0, 1.0, 1.0]

    def test_list_of_tensors(self):
        t = cr.tensor([cr.tensor(1.0), cr.tensor(2.0)])
        assert t.tolist() == [1.0, 2.0]

    def test_requires_grad_flag(self):
        t = cr.tensor([1.0, 2.0], requires_grad=True)
        assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None

    @pytest.mark.parametrize("data", [[1, 2, 3], [True, False], 4])
    def test_integer_and_bool_tensors_cannot_require_grad(self, data):
        with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
            cr.tensor(data, requires_grad=True)

    def test_requires_grad_setter_rejects_integer(self):
        t = cr.arange(3)
        with pytest.raises(TypeError, match="dtype int64"):
            t.requires_grad_()
        with pytest.raises(TypeError, match="floating-point"):
            t.requires_grad = True

    def test_unsupported_data_is_rejected(self):
        with pytest.raises(TypeError, match="cannot make a tensor"):
            cr.tensor(["a", "b"])


class TestFilledTensors:
    @pytest.mark.parametrize("factory, value", [(cr.zeros, 0.0), (cr.ones, 1.0)])
    def test_zeros_ones_shapes_and_dtypes(self, factory, value):
        for t in (factory(2, 3), factory((2, 3)), factory([2, 3])):
            assert t.shape == (2, 3) and t.dtype == np.float32
            assert np.all(t.numpy() == value)
        assert factory(4, dtype=np.float64).dtype == np.float64
        assert factory(2, dtype=cr.int64).dtype == np.int64
        assert factory().shape == ()
        assert factory(3, requires_grad=True).requires_grad

    def test_empty_has_shape_and_dtype(self):
        t = cr.empty(3, 2)
        assert t.shape == (3, 2) and t.dtype == np.float32
        assert cr.empty((2,), dtype=np.float64).dtype == np.float64

    def test_full(self):
        t = cr.full((2, 3), 7.0)
        assert t.shape == (2, 3) and t.dtype == np.float32 and np.all(t.numpy() == 7.0)
        assert cr.full((2,), 7).dtype == np.int64  # an int fill value gives int64, as torch
        assert cr.full(3, 1.5).shape == (3,)
        assert cr.full((2,), 1.0, dtype=np.float64).dtype == np.float64

    def test_zeros_like_ones_like_keep_shape_and_dtype(self):
        base = cr.tensor(np.ones((2, 4), dtype=np.float64))
        z, o = cr.zeros_like(base), cr.ones_like(base)
        assert z.shape == o.shape == (2, 4)
        assert z.dtype == o.dtype == np.float64
        assert np.all(z.numpy() == 0) and np.all(o.numpy() == 1)
        assert cr.zeros_like(base, dtype=np.float32).dtype == np.float32
        assert cr.ones_like(base, requires_grad=True).requires_grad

    def test_arange(self):
        t = cr.arange(5)
        assert t.dtype == np.int64 and t.tolist() == [0, 1, 2, 3, 4]
        assert cr.arange(2, 8, 2).tolist() == [2, 4, 6]
        f = cr.arange(0.0, 1.0, 0.25)
        assert f.dtype == np.float32
        np.testing.assert_allclose(f.numpy(), [0.0, 0.25, 0.5, 0.75])
        assert cr.arange(3, dtype=np.float64).dtype == np.float64

    def test_linspace(self):
        t = cr.linspace(0, 1, 5)
        assert t.dtype == np.float32 and t.shape == (5,)
        np.testing.assert_allclose(t.numpy(), [0, 0.25, 0.5, 0.75, 1.0])

    def test_eye(self):
        np.testing.assert_array_equal(cr.eye(3).numpy(), np.eye(3))
        assert cr.eye(2, 4).shape == (2, 4)
        assert cr.eye(2).dtype == np.float32


class TestRandom:
    def test_rand_range_shape_dtype(self):
        t = cr.rand(200, 3)
        assert t.shape == (200, 3) and t.dtype == np.float32
        assert t.numpy().min() >= 0.0 and t.numpy().max() < 1.0
        assert cr.rand(2, dtype=np.float64).dtype == np.float64

    def test_randn_moments(self):
        t = cr.randn(4000, dtype=np.float64)
        assert t.dtype == np.float64
        assert abs(t.numpy().mean()) < 0.1 and abs(t.numpy().std() - 1.0) < 0.1
        assert cr.randn(2, 3).dtype == np.float32
        assert cr.randn((2, 3), requires_grad=True).requires_grad

    def test_randint_forms(self):
        a = cr.randint(10, (50,))           # torch's randint(high, size)
        assert a.dtype == np.int64 and a.shape == (50,)
        assert a.numpy().min() >= 0 and a.numpy().max() < 10
        b = cr.randint(3, 10, (4, 5))       # randint(low, high, size)
        assert b.shape == (4, 5) and b.numpy().min() >= 3 and b.numpy().max() < 10
        c = cr.randint(0, 4, size=7)
        assert c.shape == (7,)
        with pytest.raises(ValueError, match="high .* must be greater than low"):
            cr.randint(5, 5, (2,))

    def test_manual_seed_makes_draws_reproducible(self):
        cr.manual_seed(123)
        first = [cr.rand(3).numpy(), cr.randn(2, 2).numpy(), cr.randint(100, (5,)).numpy()]
        cr.manual_seed(123)
        second = [cr.rand(3).numpy(), cr.randn(2, 2).numpy(), cr.randint(100, (5,)).numpy()]
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)
        cr.manual_seed(124)
        assert not np.array_equal(cr.rand(3).numpy(), first[0])

    def test_consecutive_draws_differ(self):
        assert not np.array_equal(cr.rand(5).numpy(), cr.rand(5).numpy())

    def test_rng_state_round_trip(self):
        state = cr.get_rng_state()
        a = cr.randn(4).numpy()
        cr.set_rng_state(state)
        np.testing.assert_array_equal(cr.randn(4).numpy(), a)

    @pytest.mark.parametrize("seed", [-1, 1.5, "0"])
    def test_manual_seed_rejects_bad_seeds(self, seed):
        with pytest.raises(ValueError, match="manual_seed: seed must be a non-negative int"):
            cr.manual_seed(seed)


# ----------------------------------------------------------------- properties
class TestProperties:
    def test_shape_ndim_dtype_size(self):
        t = cr.zeros(2, 3, 4)
        assert t.shape == (2, 3, 4)
        assert t.ndim == 3 and t.dim() == 3
        assert t.dtype == np.float32
        assert t.size() == (2, 3, 4)        # a method, as in PyTorch
        assert t.size(1) == 3 and t.size(-1) == 4
        assert t.numel() == 24
        assert t.device == "cpu"

    def test_T_reverses_dims_and_mT_swaps_last_two(self):
        a = np.arange(24.0).reshape(2, 3, 4)
        t = cr.tensor(a)
        np.testing.assert_array_equal(t.T.numpy(), a.T)
        np.testing.assert_array_equal(t.mT.numpy(), np.swapaxes(a, -1, -2))
        m = cr.tensor([[1.0, 2.0, 3.0]])
        assert m.T.shape == (3, 1) and m.t().shape == (3, 1)

    def test_grad_fn_and_is_leaf(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        assert y.grad_fn is not None and not y.is_leaf and y.requires_grad
        assert x.is_leaf and x.grad_fn is None
        c = cr.tensor([1.0]) * 2   # no input requires grad: no node is recorded
        assert c.grad_fn is None and c.is_leaf and not c.requires_grad


class TestConversion:
    def test_numpy_shares_memory(self):
        t = cr.tensor([1.0, 2.0])
        assert isinstance(t.numpy(), np.ndarray)
        assert np.shares_memory(t.numpy(), t.data)

    def test_item(self):
        assert cr.tensor([[2.5]]).item() == 2.5
        assert isinstance(cr.tensor(3).item(), int)
        with pytest.raises(ValueError, match=r"only one-element tensors .* shape \(2,\)"):
            cr.tensor([1.0, 2.0]).item()

    def test_tolist_and_python_numbers(self):
        assert cr.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
        assert float(cr.tensor(1.5)) == 1.5
        assert int(cr.tensor(4)) == 4

    def test_np_asarray(self):
        t = cr.tensor([[1.0, 2.0]], dtype=np.float64)
        arr = np.asarray(t)
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
        np.testing.assert_array_equal(arr, [[1.0, 2.0]])
        assert np.asarray(t, dtype=np.float32).dtype == np.float32
        assert not np.shares_memory(np.array(t, copy=True), t.data)

    def test_len_and_iteration(self):
        t = cr.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        assert len(t) == 3
        rows = list(t)
        assert len(rows) == 3 and rows[1].tolist() == [3.0, 4.0]
        with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
            len(cr.tensor(1.0))

    def test_bool_of_a_tensor(self):
        assert bool(cr.tensor([1.0])) and not bool(cr.tensor(0.0))
        with pytest.raises(RuntimeError, match="ambiguous"):
            bool(cr.tensor([1.0, 2.0]))

    def test_integer_tensor_as_index(self):
        assert [10, 20, 30][cr.tensor(1)] == 20
        with pytest.raises(TypeError, match="only integer tensors"):
            [1, 2][cr.tensor(1.0)]

    def test_astype_float_double(self):
        t = cr.tensor([1.5, 2.5])
        d = t.double()
        assert d.dtype == np.float64 and d.tolist() == [1.5, 2.5]
        assert d.float().dtype == np.float32
        assert t.astype(np.float64).dtype == np.float64
        assert t.long().tolist() == [1, 2]
        assert cr.tensor([0.0, 2.0]).bool().tolist() == [False, True]

    def test_cast_is_differentiable_back_to_source_dtype(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)        # float32
        y = (x.double() * cr.tensor([3.0, 4.0], dtype=np.float64)).sum()
        y.backward()
        assert x.grad.dtype == np.float32
        np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])

    def test_detach_shares_values_without_grad(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        d = (x * 2).detach()
        assert not d.requires_grad and d.grad_fn is None
        e = x.detach()
        assert np.shares_memory(e.data, x.data)

    def test_clone_copies_and_is_differentiable(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        c = x.clone()
        assert not np.shares_memory(c.data, x.data)
        (c * c).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


class TestRepr:
    def test_repr_shows_values(self):
        r = repr(cr.tensor([1.0, 2.5]))
        assert r.startswith("tensor(") and "1." in r and "2.5" in r
        assert "dtype" not in r          # the default dtype is implied, as in PyTorch

    def test_repr_shows_non_default_dtype(self):
        assert "dtype=float64" in repr(cr.tensor([1.0], dtype=np.float64))
        assert "dtype=int32" in repr(cr.tensor([1], dtype=np.int32))

    def test_repr_shows_grad_fn_and_requires_grad(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        assert "requires_grad=True" in repr(x)
        y = x * 3
        assert "grad_fn=<MulBackward>" in repr(y)
        assert "grad_fn=<AddBackward>" in repr(x + 1)


class TestDefaultDtype:
    def test_set_default_dtype(self):
        cr.set_default_dtype(np.float64)
        assert cr.tensor(1.0).dtype == np.float64
        assert cr.zeros(2).dtype == np.float64
        assert cr.get_default_dtype() == np.float64

    def test_set_default_dtype_rejects_integers(self):
        with pytest.raises(TypeError, match="expected a floating dtype"):
            cr.set_default_dtype(np.int32)


# -------------------------------------------------- mixing with NumPy and Python
class TestMixedOperands:
    @pytest.mark.parametrize("op, expected", [
        (lambda a, t: a + t, [11.0, 22.0]),
        (lambda a, t: a - t, [9.0, 18.0]),
        (lambda a, t: a * t, [10.0, 40.0]),
        (lambda a, t: a / t, [10.0, 10.0]),
        (lambda a, t: a ** t, [10.0, 400.0]),
        (lambda a, t: a @ t, 50.0),
        (lambda a, t: a > t, [True, True]),
    ])
    def test_ndarray_on_the_left_returns_a_tensor(self, op, expected):
        arr = np.array([10.0, 20.0])
        t = cr.tensor([1.0, 2.0], requires_grad=True)
        out = op(arr, t)
        assert isinstance(out, cr.Tensor)
        np.testing.assert_allclose(out.numpy(), expected)

    def test_ndarray_on_the_left_stays_differentiable(self):
        t = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
        (np.array([3.0, 4.0]) * t).sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), [3.0, 4.0])

    def test_numpy_ufuncs_on_tensors_are_chainrule_ops(self):
        t = cr.tensor([0.5, 1.0], dtype=np.float64, requires_grad=True)
        y = np.exp(t)
        assert isinstance(y, cr.Tensor) and y.grad_fn is not None
        y.sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), np.exp([0.5, 1.0]))

    def test_unsupported_ufunc_is_a_clear_error(self):
        with pytest.raises(TypeError, match="not a chainrule operation"):
            np.cbrt(cr.tensor([1.0]))

    def test_dtype_of_mixed_arithmetic(self):
        f32 = cr.tensor([1.0, 2.0])
        assert (f32 * 2.5).dtype == np.float32
        assert (f32 + 1).dtype == np.float32
        assert (2 ** f32).dtype == np.float32
        f64 = cr.tensor([1.0], dtype=np.float64)
        assert (f64 * 2.5).dtype == np.float64
        assert (f32 + f64).dtype == np.float64


# --------------------------------------------------------------------- writes
class TestInPlace:
    def test_setitem_on_a_plain_tensor(self):
        t = cr.zeros(2, 3)
        v0 = t._version
        t[0, 1] = 5.0
        t[1] = cr.tensor([1.0, 2.0, 3.0])
        t[t > 2.5] = -1.0
        np.testing.assert_array_equal(t.numpy(), [[0, -1, 0], [1, 2, -1]])
        assert t._version == v0 + 3

    def test_setitem_with_tensor_index(self):
        t = cr.zeros(4)
        t[cr.tensor([0, 2])] = 1.0
        assert t.tolist() == [1.0, 0.0, 1.0, 0.0]

    def test_setitem_on_a_tensor_that_requires_grad_is_refused(self):
        x = cr.zeros(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="__setitem__: a leaf tensor that requires grad"):
            x[0] = 1.0
        with cr.no_grad():
            x[0] = 1.0
        assert x.tolist() == [1.0, 0.0, 0.0]

    def test_inplace_methods_bump_the_version(self):
        t = cr.ones(3)
        t.add_(1).mul_(3).sub_(1, alpha=2).div_(2)
        np.testing.assert_allclose(t.numpy(), [2.0, 2.0, 2.0])
        t.clamp_(max=1.5)
        assert t.tolist() == [1.5, 1.5, 1.5]
        t.fill_(4.0)
        t.copy_(cr.tensor([1.0, 2.0, 3.0]))
        assert t.tolist() == [1.0, 2.0, 3.0]
        t.zero_()
        assert t.tolist() == [0.0, 0.0, 0.0]
        assert t._version == 8

    def test_inplace_random_fills_use_the_seeded_generator(self):
        cr.manual_seed(5)
        a = cr.empty(4).uniform_(-1, 1).numpy().copy()
        b = cr.empty(4).normal_(0, 2).numpy().copy()
        cr.manual_seed(5)
        np.testing.assert_array_equal(cr.empty(4).uniform_(-1, 1).numpy(), a)
        np.testing.assert_array_equal(cr.empty(4).normal_(0, 2).numpy(), b)
        assert a.min() >= -1 and a.max() < 1

    def test_inplace_on_a_leaf_that_requires_grad_is_refused(self):
        w = cr.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad is being changed in place"):
            w.add_(1)
        with pytest.raises(RuntimeError, match="leaf tensor"):
            w += 1
        with cr.no_grad():
            w -= 0.5
        assert w.tolist() == [0.5, 0.5] and w.is_leaf and w.requires_grad

    def test_inplace_on_a_non_leaf_is_recorded_as_in_pytorch(self):
        x = cr.ones(2, requires_grad=True)
        y = x * 2
        z = y * 3              # read y before the change: its gradient still goes to that y
        y.mul_(x)              # y = 2x * x
        (y + z).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [4.0 * 1 + 6.0] * 2)
        assert y.grad_fn is not None and y._version == 1

    def test_augmented_assignment_on_a_non_leaf_is_recorded_in_place(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        alias = y
        y += x            # in place, as PyTorch: y = 2x + x, so dy/dx = 3
        y *= 2            # 6x
        assert y is alias
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
