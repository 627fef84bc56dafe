"""The fast paths of the convolution, pooling, normalisation, recurrent and data-loading
kernels, checked against plain references (and PyTorch where it imports): the branches that
the model-level tests reach only at some shapes (flat vs strided convolution windows, max
pooling that tiles its input exactly, kernels with more than 255 positions, the BLAS
reductions' layouts, saturating recurrent gates, batch slicing in the loader)."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, TensorDataset
from chainrule.kernels import reduce_dot, reduce_sum
from chainrule.ops.norm import normalization_statistics
from chainrule.ops import conv as conv_ops
from chainrule.ops.conv import conv2d
from chainrule.ops.pool import max_pool2d
from chainrule.ops.recurrent import recurrent_layer


def _reference_conv(x, w, stride, padding, dilation):
    """Direct definition: y[n,o,p,q] = sum_{c,i,j} w[o,c,i,j] xpad[n,c,p*s+i*d,q*s+j*d]."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dilation:i * dilation + (ho - 1) * stride + 1:stride,
                       j * dilation:j * dilation + (wo - 1) * stride + 1:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (1, 2, 1), (1, 1, 2), (2, 1, 1),
                                                     (3, 0, 2)])
def test_conv_kernels_match_the_definition(rng, stride, padding, dilation):
    """Stride 1 takes the flat-window path (with thrown-away columns), others the strided
    one; values and both gradients (by the adjoint identity) must match the definition."""
    x, w = rng.standard_normal((3, 2, 9, 7)), rng.standard_normal((4, 2, 3, 2))
    y = conv2d(x, w, None, stride, padding, dilation).numpy()
    ref = _reference_conv(x, w, stride, padding, dilation)
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    # <g, conv(x, w)> = <conv_input_grad(g, w), x> = <conv_weight_grad(x, g), w>
    geom = conv_ops.ConvGeometry((stride,) * 2, (dilation,) * 2, (padding,) * 4, 1)
    g = rng.standard_normal(ref.shape)
    gx = conv_ops._conv_input_grad_arrays(g, w, geom, x.shape[2:])
    gw = conv_ops._conv_weight_grad_arrays(x, g, geom, w.shape[2:])
    assert gx.shape == x.shape and gw.shape == w.shape
    np.testing.assert_allclose(np.vdot(gx, x), np.vdot(g, ref), rtol=1e-10)
    np.testing.assert_allclose(np.vdot(gw, w), np.vdot(g, ref), rtol=1e-10)


def test_conv_bias_gradient_ignores_thrown_away_columns(rng):
    """The flat path computes Wp - Wo extra columns per row; they must not leak into db."""
    x = cr.tensor(rng.standard_normal((2, 3, 6, 5)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(4), requires_grad=True)
    g = rng.standard_normal((2, 4, 6, 5))
    (conv2d(x, w, b, 1, 1) * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_float32_conv_stays_float32_and_matches_float64(rng):
    x, w, b = (rng.standard_normal(s) for s in ((2, 3, 8, 8), (5, 3, 3, 3), (5,)))
    y32 = conv2d(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), 1, 1).numpy()
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, conv2d(x, w, b, 1, 1).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,kernel", [((2, 3, 8, 6), 2), ((1, 2, 9, 9), 3),
                                          ((1, 1, 17, 17), 17)])
def test_max_pool_tiling_and_wide_kernels_match_torch(rng, torch, shape, kernel):
    """Windows that tile the input exactly (the gradient is written, not accumulated), and a
    17x17 kernel (289 positions: the winners need more than a byte), with ties."""
    x = np.round(rng.standard_normal(shape) * 2)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_c, idx_c = max_pool2d(xc, kernel, return_indices=True)
    out_t, idx_t = torch.nn.functional.max_pool2d(xt, kernel, return_indices=True)
    np.testing.assert_array_equal(out_c.numpy(), out_t.detach().numpy())
    np.testing.assert_array_equal(idx_c.numpy(), idx_t.numpy())
    g = rng.standard_normal(out_c.shape)
    (out_c * cr.tensor(g)).sum().backward()
    out_t.backward(torch.tensor(g))
    np.testing.assert_array_equal(xc.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("shape,axes", [
    ((6, 4), (0,)), ((5, 3, 40), (0, 2)), ((4, 3, 5, 7), (0, 2, 3)), ((2, 3, 9, 9), (0, 2, 3)),
    ((7, 50), (1,)), ((3, 4, 6), (1, 2)), ((3, 4, 6), (0, 1)), ((2, 3, 4), (0, 2)),
    ((3, 4, 5), (1,)),                                   # kept dims not one block: fallback
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_reductions_match_numpy(rng, shape, axes, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(reduce_sum(a, axes), a.sum(axis=axes, keepdims=True),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(reduce_dot(a, b, axes), (a * b).sum(axis=axes, keepdims=True),
                               rtol=tol, atol=tol)
    mean, var, centered = normalization_statistics(a * 3 + 100, axes)  # no cancellation
    np.testing.assert_allclose(var, (a * 3).var(axis=axes, keepdims=True), rtol=10 * tol)
    np.testing.assert_allclose(centered, a * 3 + 100 - mean, rtol=tol, atol=100 * tol)


def test_reductions_of_non_contiguous_arrays(rng):
    a = rng.standard_normal((6, 5, 4)).transpose(2, 1, 0)
    np.testing.assert_allclose(reduce_sum(a, (0, 2)), a.sum(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(reduce_dot(a, a, (0, 2)), (a * a).sum(axis=(0, 2), keepdims=True))


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_saturated_gates_stay_finite_and_match_torch(rng, torch, mode):
    """Gate pre-activations of +-1000 overflow exp(-z) to inf; the sigmoid must come out as
    exactly 0 or 1 (no NaN, no warning), as PyTorch's does, and gradients must match."""
    gates = {"LSTM": 4, "GRU": 3}[mode]
    x = rng.standard_normal((5, 2, 3)) * 300
    w_ih, w_hh = rng.standard_normal((gates * 4, 3)), rng.standard_normal((gates * 4, 4))
    b_ih, b_hh = rng.standard_normal(gates * 4), rng.standard_normal(gates * 4)
    ours = {"LSTM": cr.nn.LSTM, "GRU": cr.nn.GRU}[mode](3, 4).double()
    theirs = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[mode](3, 4).double()
    with cr.no_grad():
        for p, v in zip(ours.parameters(), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(v)
    with torch.no_grad():
        for p, v in zip(theirs.parameters(), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(torch.tensor(v))
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_c = ours(xc)[0]
        out_c.sum().backward()
    out_t = theirs(xt)[0]
    out_t.sum().backward()
    assert np.all(np.isfinite(out_c.numpy()))
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-10)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-7, atol=1e-10)


def test_recurrent_gradient_only_on_some_steps(rng):
    """Backward skips the steps whose incoming gradient is zero; the result must equal the
    full computation (checked by finite differences through the last step only)."""
    steps, batch, hid = 5, 2, 3
    x = cr.tensor(rng.standard_normal((steps, batch, 2)), requires_grad=True)
    h0 = cr.tensor(rng.standard_normal((batch, hid)))
    c0 = cr.tensor(rng.standard_normal((batch, hid)))
    w_ih = cr.tensor(rng.standard_normal((4 * hid, 2)) * 0.5, requires_grad=True)
    w_hh = cr.tensor(rng.standard_normal((4 * hid, hid)) * 0.5, requires_grad=True)

    def last_step(x, w_ih, w_hh):
        out, h_n, c_n = recurrent_layer("LSTM", x, h0, c0, w_ih, w_hh)
        return out[-1] * 2 + c_n
    assert cr.gradcheck(last_step, (x, w_ih, w_hh))


@pytest.mark.parametrize("n,batch_size,drop_last,shuffle", [
    (23, 5, False, True), (23, 5, True, True), (20, 5, False, False), (3, 8, False, True)])
def test_loader_batches_equal_the_batch_samplers(n, batch_size, drop_last, shuffle):
    """The array-slicing fast path gives the batches the BatchSampler gives, in the same
    order and with the same random draws (a collate_fn forces the per-sample path)."""
    ds = TensorDataset(np.arange(n, dtype=np.float32), np.arange(n) * 2)
    fast = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      generator=np.random.default_rng(7))
    slow = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      generator=np.random.default_rng(7),
                      collate_fn=lambda items: [cr.tensor(np.stack([i[k].numpy() for i in items]))
                                                for k in range(2)])
    for _ in range(2):                       # two epochs: each draws a new order
        a, b = list(fast), list(slow)
        assert len(a) == len(b) == len(fast)
        for (ax, ay), (bx, by) in zip(a, b):
            np.testing.assert_array_equal(ax.numpy(), bx.numpy())
            np.testing.assert_array_equal(ay.numpy(), by.numpy())


@pytest.mark.parametrize("n", [0, 1, 50])
def test_embedding_gradient_sums_repeated_rows(rng, n):
    """The sorted-runs scatter equals np.add.at, for repeats, unused rows and no rows."""
    from chainrule.ops.embedding import _sum_rows_by_index
    flat = rng.integers(0, 7, n)
    rows = rng.standard_normal((n, 3, 2))
    expected = np.zeros((7, 3, 2))
    np.add.at(expected, flat, rows)
    np.testing.assert_allclose(_sum_rows_by_index(flat, rows, (7, 3, 2), rows.dtype), expected,
                               rtol=1e-12, atol=1e-12)


# ------------------------------------------------ large-array update and gradient reuse
@pytest.mark.parametrize("chunks", [0, 1, 2, 24])
@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_chunked_update_rounds_like_the_plain_expression(rng, monkeypatch, chunks, threads):
    from chainrule.kernels import _CHUNK, _PLAIN_MAX, add_scaled_
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    # 5 elements (plain); one chunk past the plain limit and a few (a partial last chunk);
    # two whole chunks past it; 24 chunks and a bit (split across threads).
    size = {0: 5, 1: _PLAIN_MAX + _CHUNK + 5, 2: _PLAIN_MAX + 2 * _CHUNK,
            24: 24 * _CHUNK + 22}[chunks]
    p = rng.standard_normal(size).astype(np.float32)
    g = rng.standard_normal(size).astype(np.float32)
    expected = p.copy()
    expected -= 0.37 * g
    add_scaled_(p, g, -0.37)
    np.testing.assert_array_equal(p, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
@pytest.mark.parametrize("alpha", [-0.5, -1e-3, -0.37, -3.3e-5, np.float64(-0.1),
                                   np.float32(-0.1), 2])
@pytest.mark.parametrize("chunks", [0, 3])
def test_typed_scale_rounds_like_the_plain_expression(rng, dtype, alpha, chunks):
    """Small arrays multiply by a cached 0-d copy of a Python float alpha; every array must
    end as ``p += alpha * g`` leaves it, whatever the dtypes (an integer gradient promoted as
    NumPy promotes it with a Python float, a NumPy scalar alpha keeping its own dtype)."""
    from chainrule.kernels import _PLAIN_MAX, add_scaled_
    size = chunks * _PLAIN_MAX + 257
    p = rng.standard_normal(size).astype(np.float64 if dtype == np.int64 else dtype)
    g = (rng.standard_normal(size) * 4).astype(dtype)
    for _ in range(2):                              # the second time from the cache
        expected = p.copy()
        expected += alpha * g
        add_scaled_(p, g, alpha)
        np.testing.assert_array_equal(p, expected)


def test_typed_scale_cache_stays_small():
    from chainrule import kernels
    for step in range(500):                         # a schedule: a new lr every step
        kernels.add_scaled_(np.ones(3, np.float32), np.ones(3, np.float32), -1e-3 / (step + 1))
    assert len(kernels._typed_scalars) <= 65


def test_constant_is_a_read_only_0d_array_of_each_dtype():
    from chainrule.backend import Constant
    half = Constant(0.5)
    for dtype in (np.float16, np.float32, np.float64):
        c = half[np.dtype(dtype)]
        assert c.shape == () and c.dtype == dtype and c == 0.5 and not c.flags.writeable
        assert half[np.dtype(dtype)] is c           # made once
        x = np.ones(3, dtype)
        assert (x * c).dtype == dtype               # keeps the operand's dtype


def test_sigmoid_of_numbers_and_integer_arrays_is_promoted_as_before():
    """The typed constants are for floating arrays; anything else keeps NumPy's promotion."""
    np.testing.assert_allclose(cr.sigmoid(np.array([1, 2])).numpy(), [0.7310586, 0.8807971],
                               rtol=1e-6)
    assert cr.sigmoid(np.array([1, 2])).dtype == np.float64
    assert cr.sigmoid(np.array([True])).dtype == np.float64
    np.testing.assert_allclose(cr.sigmoid(2.0).numpy(), 0.8807971, rtol=1e-6)
    np.testing.assert_allclose(cr.sigmoid(np.float32(1)).numpy(), 0.7310586, rtol=1e-6)
    assert cr.sigmoid(cr.tensor([1, 2])).dtype == cr.float32    # integer tensors: as PyTorch


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_activations_keep_dtype_and_values_with_typed_constants(rng, dtype, name):
    a = (rng.standard_normal((5, 4)) * 3).astype(dtype)
    x = cr.tensor(a, requires_grad=True)
    y = getattr(cr, name)(x)
    ref = np.tanh(a.astype(np.float64))
    if name == "sigmoid":
        ref = 1 / (1 + np.exp(-a.astype(np.float64)))
    g = rng.standard_normal((5, 4)).astype(dtype)
    y.backward(cr.tensor(g))
    dref = g * (ref * (1 - ref) if name == "sigmoid" else 1 - ref * ref)
    tol = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-14}[dtype]
    assert y.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(x.grad.numpy(), dref, rtol=10 * tol, atol=10 * tol)


def test_run_split_covers_every_item_once(monkeypatch):
    from chainrule import kernels
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    hits = np.zeros(1001, dtype=np.int64)
    kernels.run_split(lambda lo, hi: hits.__setitem__(slice(lo, hi), hits[lo:hi] + 1), 1001, 10)
    assert (hits == 1).all()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    calls = []
    kernels.run_split(lambda lo, hi: calls.append((lo, hi)), 1001, 10)
    assert calls == [(0, 1001)]


def _trained_grads(model, x, y):
    cr.nn.functional.cross_entropy(model(x), y).backward()
    return {n: p.grad.numpy() for n, p in model.named_parameters()}


def test_dropped_large_gradients_are_reused_and_stay_correct(rng, monkeypatch):
    from chainrule import autograd, kernels
    monkeypatch.setattr(kernels, "SPARE_MIN_BYTES", 1)   # every gradient counts as large
    model = cr.nn.Sequential(cr.nn.Linear(6, 5), cr.nn.Tanh(), cr.nn.Linear(5, 3))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    y = cr.tensor(np.array([0, 2, 1, 2]))
    _trained_grads(model, x, y)
    w = model[0].weight
    first = id(w.grad.numpy())           # an id, not a reference: a reference would (rightly) stop reuse
    opt.zero_grad()
    assert w.grad is None and id(w._grad_spare) == first       # kept aside, invisible
    got = _trained_grads(model, x, y)
    assert id(got["0.weight"]) == first                        # written into the kept array
    fresh = cr.nn.Sequential(cr.nn.Linear(6, 5), cr.nn.Tanh(), cr.nn.Linear(5, 3))
    fresh.load_state_dict(model.state_dict())
    for name, g in _trained_grads(fresh, x, y).items():
        np.testing.assert_array_equal(got[name], g)


def test_a_gradient_someone_holds_is_never_overwritten(rng, monkeypatch):
    from chainrule import autograd, kernels
    monkeypatch.setattr(kernels, "SPARE_MIN_BYTES", 1)
    model = cr.nn.Linear(4, 3)
    x = cr.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    (model(x) ** 2).sum().backward()
    held_tensor, held_array = model.weight.grad, model.bias.grad.numpy()
    before_w, before_b = held_tensor.numpy().copy(), held_array.copy()
    model.zero_grad()
    assert getattr(model.weight, "_grad_spare", None) is None
    assert getattr(model.bias, "_grad_spare", None) is None
    (model(x * 3) ** 2).sum().backward()
    np.testing.assert_array_equal(held_tensor.numpy(), before_w)
    np.testing.assert_array_equal(held_array, before_b)
    assert model.weight.grad.numpy() is not held_tensor.numpy()


def test_a_weight_used_twice_gets_the_sum_with_a_kept_buffer(rng, monkeypatch):
    from chainrule import autograd, kernels
    monkeypatch.setattr(kernels, "SPARE_MIN_BYTES", 1)
    lin = cr.nn.Linear(3, 3)
    x = cr.tensor(rng.standard_normal((2, 3)))
    lin.double()
    lin(lin(x)).sum().backward()
    lin.zero_grad()
    assert lin.weight._grad_spare is not None
    lin(lin(x)).sum().backward()
    expected = cr.grad(lin(lin(x)).sum(), lin.weight)[0].numpy()
    np.testing.assert_allclose(lin.weight.grad.numpy(), expected, rtol=1e-12)


def test_a_copied_tensor_does_not_share_the_kept_buffer(rng, monkeypatch):
    import copy
    from chainrule import autograd, kernels
    monkeypatch.setattr(kernels, "SPARE_MIN_BYTES", 1)
    w = cr.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    x = cr.tensor(rng.standard_normal((5, 4)))
    cr.ops.linear(x, w).sum().backward()
    autograd.zero_grad_(w)
    assert w._grad_spare is not None
    w2 = copy.copy(w)
    assert getattr(w2, "_grad_spare", None) is None
    (cr.ops.linear(x, w).sum() + 2 * cr.ops.linear(x, w2).sum()).backward()
    expected = np.ones((5, 3)).T @ x.numpy()
    np.testing.assert_allclose(w.grad.numpy(), expected)
    np.testing.assert_allclose(w2.grad.numpy(), 2 * expected)


def test_a_buffer_held_twice_is_never_written(rng, monkeypatch):
    from chainrule import autograd, kernels
    monkeypatch.setattr(kernels, "SPARE_MIN_BYTES", 1)
    w = cr.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w._grad_spare = np.zeros((3, 4))
    other = cr.tensor(np.zeros(1))
    other._grad_spare = w._grad_spare                # the same array on two tensors
    assert kernels._spare_for(w, (3, 4), np.dtype(np.float64)) is None
    np.testing.assert_array_equal(other._grad_spare, 0)


def test_the_update_pool_survives_fork(monkeypatch):
    import multiprocessing
    from chainrule.kernels import add_scaled_
    monkeypatch.setenv("OMP_NUM_THREADS", "2")      # so the update runs on the pool
    p = np.zeros(1 << 23, dtype=np.float32)
    add_scaled_(p, np.ones_like(p), 1.0)            # the parent starts its pool
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=add_scaled_, args=(p, np.ones_like(p), 1.0))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0


def test_run_split_waits_for_every_part_when_one_fails(monkeypatch):
    import threading
    import time
    from chainrule import kernels
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    done = []

    def part(lo, hi):
        if lo == 0:
            raise KeyError("first part")
        time.sleep(0.2)
        done.append((lo, hi))
    with pytest.raises(KeyError):
        kernels.run_split(part, 100, 10)
    assert done == [(50, 100)]                     # finished before the error reached us
    nested = []

    def outer(lo, hi):
        kernels.run_split(lambda a, b: nested.append(threading.current_thread().name), 100, 10)
    kernels.run_split(outer, 100, 10)
    assert len(nested) == 3                        # the inner call ran inline in the pool part


def test_freezing_a_parameter_releases_its_kept_buffer(rng, monkeypatch):
    from chainrule import autograd, kernels
    monkeypatch.setattr(kernels, "SPARE_MIN_BYTES", 1)
    lin = cr.nn.Linear(4, 3)
    lin(cr.tensor(rng.standard_normal((2, 4)).astype(np.float32))).sum().backward()
    lin.zero_grad()
    assert lin.weight._grad_spare is not None
    lin.weight.requires_grad_(False)
    assert lin.weight._grad_spare is None
