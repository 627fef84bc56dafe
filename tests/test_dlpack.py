"""Zero-copy arrays: ``Tensor.__dlpack__`` / ``__dlpack_device__``, ``cr.from_dlpack``,
``cr.from_numpy`` and ``np.asarray(tensor)`` share memory with NumPy and PyTorch.

Every test proves sharing the only way that cannot be faked: a write through one side is
read back through the other (and ``np.shares_memory`` agrees).
"""
import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16]


def _values(dtype, shape=(3, 4)):
    return (np.arange(int(np.prod(shape))).reshape(shape) % 3 == 1).astype(dtype) \
        if dtype is np.bool_ else np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)


# ------------------------------------------------------------- chainrule -> PyTorch
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_from_dlpack_shares_a_chainrule_tensors_memory(dtype):
    t = cr.tensor(_values(dtype))
    pt = torch.from_dlpack(t)
    assert tuple(pt.shape) == t.shape
    assert pt.numpy().dtype == t.dtype
    np.testing.assert_array_equal(pt.numpy(), t.numpy())
    pt[1, 2] = 0 if dtype is np.bool_ else 7           # PyTorch writes, chainrule reads
    assert t.numpy()[1, 2] == pt[1, 2].item()
    t.numpy()[0, 1] = 1 if dtype is np.bool_ else 5       # chainrule writes, PyTorch reads
    assert pt[0, 1].item() == t.numpy()[0, 1]
    assert np.shares_memory(pt.numpy(), t.numpy())


def test_torch_from_dlpack_keeps_the_strides_of_a_view():
    base = cr.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    view = base.t()                                     # (4, 3), not contiguous: no copy
    pt = torch.from_dlpack(view)
    assert tuple(pt.shape) == (4, 3) and not pt.is_contiguous()
    np.testing.assert_array_equal(pt.numpy(), base.numpy().T)
    pt[3, 0] = -1.0
    assert base.numpy()[0, 3] == -1.0


def test_a_tensor_that_requires_grad_exports_its_values():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    pt = torch.from_dlpack(x)
    assert not pt.requires_grad
    pt[0] = 10.0
    assert x.numpy()[0] == 10.0


def test_dlpack_device_is_the_cpu():
    assert cr.zeros(2).__dlpack_device__() == (1, 0)   # (kDLCPU, device 0)


def test_zero_dim_tensor_round_trips():
    t = cr.tensor(2.5)
    pt = torch.from_dlpack(t)
    assert pt.shape == () and pt.item() == 2.5
    pt.fill_(4.0)
    assert t.item() == 4.0


# ------------------------------------------------------------- PyTorch -> chainrule
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool])
def test_cr_from_dlpack_shares_a_torch_tensors_memory(dtype):
    pt = torch.arange(12).reshape(3, 4).to(dtype)
    t = cr.from_dlpack(pt)
    assert isinstance(t, cr.Tensor) and t.shape == (3, 4)
    np.testing.assert_array_equal(t.numpy(), pt.numpy())
    t.numpy()[2, 3] = 0 if dtype is torch.bool else 9
    assert pt[2, 3].item() == t.numpy()[2, 3]
    pt[0, 0] = 1 if dtype is torch.bool else 6
    assert t.numpy()[0, 0] == pt[0, 0].item()
    assert np.shares_memory(t.numpy(), pt.numpy())


def test_cr_from_dlpack_of_a_strided_torch_view_is_no_copy():
    pt = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = cr.from_dlpack(pt[:, ::2].t())                  # (2, 3), strided
    np.testing.assert_array_equal(t.numpy(), pt.numpy()[:, ::2].T)
    t.numpy()[1, 2] = -3.0
    assert pt[2, 2].item() == -3.0


def test_shared_tensor_computes_and_differentiates_like_any_other():
    pt = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    x = cr.from_dlpack(pt).requires_grad_()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * pt.numpy())


def test_round_trip_chainrule_torch_chainrule_is_one_memory():
    t = cr.tensor(np.zeros((2, 2), dtype=np.float32))
    back = cr.from_dlpack(torch.from_dlpack(t))
    back.numpy()[1, 1] = 8.0
    assert t.numpy()[1, 1] == 8.0


def test_cr_from_dlpack_of_numpy_and_of_a_chainrule_tensor_share_memory():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = cr.from_dlpack(a)
    t.numpy()[0, 0] = 42.0
    assert a[0, 0] == 42.0
    u = cr.from_dlpack(t)
    u.numpy()[1, 2] = -1.0
    assert t.numpy()[1, 2] == -1.0 and a[1, 2] == -1.0


def test_cr_from_dlpack_names_what_cannot_be_shared():
    with pytest.raises(TypeError, match="from_dlpack.*list"):
        cr.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="from_dlpack.*detach"):
        cr.from_dlpack(torch.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="from_dlpack"):
        cr.from_dlpack(torch.ones(2, dtype=torch.bfloat16))   # NumPy has no bfloat16


# ------------------------------------------------------------------ NumPy both ways
def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = cr.from_numpy(a)
    assert t.dtype == np.float32 and t.numpy() is a
    a[1, 1] = 10.0
    assert t.numpy()[1, 1] == 10.0
    t.numpy()[0, 2] = -4.0
    assert a[0, 2] == -4.0


def test_from_numpy_refuses_what_is_not_an_array():
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        cr.from_numpy([1.0, 2.0])


def test_np_asarray_of_a_tensor_is_its_own_array():
    t = cr.randn(3, 4)
    a = np.asarray(t)
    assert a is t.numpy()
    a[0, 0] = 123.0
    assert t.numpy()[0, 0] == 123.0
    assert np.asarray(t, dtype=t.dtype) is t.numpy()
    assert np.asarray(t, copy=False) is t.numpy()


def test_np_array_and_a_new_dtype_copy():
    t = cr.tensor([1.0, 2.0], dtype=np.float32)
    copied = np.array(t)
    copied[0] = 9.0
    assert t.numpy()[0] == 1.0
    as64 = np.asarray(t, dtype=np.float64)
    assert as64.dtype == np.float64 and not np.shares_memory(as64, t.numpy())
