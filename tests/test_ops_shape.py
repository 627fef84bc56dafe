"""Shape ops, indexing and joining: values against NumPy, gradient checks in float64,
second derivatives, scatter-add for repeated indices, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import chainrule as cr

# name -> (chainrule fn, numpy reference, input shape)
SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(4, 6), lambda a: a.reshape(4, 6), (2, 3, 4)),
    "reshape_neg": (lambda x: x.reshape((-1, 2)), lambda a: a.reshape(-1, 2), (2, 3, 4)),
    "view": (lambda x: x.view(3, 8), lambda a: a.reshape(3, 8), (2, 3, 4)),
    "view_as": (lambda x: x.view_as(cr.zeros(6, 4)), lambda a: a.reshape(6, 4), (2, 3, 4)),
    "cr_reshape": (lambda x: cr.reshape(x, (24,)), lambda a: a.reshape(24), (2, 3, 4)),
    "flatten": (lambda x: x.flatten(), lambda a: a.reshape(-1), (2, 3, 4)),
    "flatten_1": (lambda x: cr.flatten(x, 1), lambda a: a.reshape(2, -1), (2, 3, 2, 2)),
    "flatten_mid": (lambda x: x.flatten(1, 2), lambda a: a.reshape(2, 6, 2), (2, 3, 2, 2)),
    "transpose": (lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2), (2, 3, 4)),
    "transpose_neg": (lambda x: cr.transpose(x, -1, -2), lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    "T": (lambda x: x.T, lambda a: a.T, (2, 3, 4)),
    "mT": (lambda x: x.mT, lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    "t": (lambda x: x.t(), lambda a: a.T, (3, 4)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    "permute_neg": (lambda x: cr.permute(x, (-1, 1, 0, 2)), lambda a: a.transpose(3, 1, 0, 2),
                    (2, 3, 2, 2)),
    "squeeze": (lambda x: x.squeeze(), lambda a: a.squeeze(), (2, 1, 3, 1)),
    "squeeze_dim": (lambda x: x.squeeze(1), lambda a: a.squeeze(1), (2, 1, 3, 1)),
    "squeeze_tuple": (lambda x: cr.squeeze(x, (1, -1)), lambda a: a.squeeze((1, 3)), (2, 1, 3, 1)),
    "squeeze_noop": (lambda x: x.squeeze(0), lambda a: a, (2, 1, 3, 1)),
    "unsqueeze": (lambda x: x.unsqueeze(1), lambda a: a[:, None], (2, 3)),
    "unsqueeze_neg": (lambda x: cr.unsqueeze(x, -1), lambda a: a[..., None], (2, 3)),
    "expand": (lambda x: x.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (3, 1)),
    "expand_neg": (lambda x: x.expand(-1, 5), lambda a: np.broadcast_to(a, (3, 5)), (3, 1)),
    "expand_as": (lambda x: x.expand_as(cr.zeros(2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)), (4,)),
    "repeat": (lambda x: x.repeat(2, 3), lambda a: np.tile(a, (2, 3)), (2, 3)),
    "repeat_lead": (lambda x: cr.repeat(x, (2, 1, 2)), lambda a: np.tile(a, (2, 1, 2)), (2, 3)),
    "flip": (lambda x: x.flip(0), lambda a: a[::-1], (2, 3, 4)),
    "flip_tuple": (lambda x: cr.flip(x, (0, -1)), lambda a: a[::-1, :, ::-1], (2, 3, 4)),
}

# key builders (numpy arrays inside keys are fixed so chainrule and numpy see the same key)
INDEX_KEYS = {
    "int": (lambda: 1, (3, 4)),
    "neg_int": (lambda: -1, (3, 4)),
    "slice": (lambda: slice(1, None), (3, 4)),
    "step": (lambda: (slice(None), slice(None, None, 2)), (3, 4)),
    "neg_step": (lambda: slice(None, None, -1), (3, 4)),
    "ellipsis": (lambda: (Ellipsis, 0), (2, 3, 4)),
    "none": (lambda: (None, slice(None), 1), (3, 4)),
    "mixed": (lambda: (1, slice(0, 2), slice(None, None, 3)), (2, 3, 4)),
    "int_array": (lambda: np.array([2, 0, 2, 2]), (3, 4)),                  # repeats
    "int_list": (lambda: [0, 0, 1], (3, 4)),
    "int_tensor": (lambda: cr.tensor([1, 1, 0]), (3, 4)),
    "two_arrays": (lambda: (np.array([0, 1, 1]), np.array([2, 3, 2])), (3, 4)),
    "array_and_slice": (lambda: (slice(None), np.array([3, 0, 3])), (3, 4)),
    "array_2d": (lambda: np.array([[0, 1], [1, 1]]), (3, 4)),
    "bool_mask": (lambda: np.array([[True, False, True, False],
                                    [False, False, True, True],
                                    [True, True, False, False]]), (3, 4)),
    "bool_rows": (lambda: cr.tensor([True, False, True]), (3, 4)),
    "bool_list": (lambda: [False, True, True], (3, 4)),
}


def _np_key(key):
    if isinstance(key, cr.Tensor):
        return key.numpy()
    if isinstance(key, list):
        return np.asarray(key)
    return key


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_values_and_gradcheck(name, rng, make_leaf):
    fn, ref, shape = SHAPE_OPS[name]
    x = make_leaf(rng, shape)
    out = fn(x)
    np.testing.assert_array_equal(out.numpy(), ref(x.numpy()))
    assert cr.gradcheck(fn, [x])


@pytest.mark.parametrize("name", ["reshape", "permute", "expand", "repeat", "flip", "squeeze",
                                  "T"])
def test_shape_op_gradgradcheck(name, rng, make_leaf):
    fn, _, shape = SHAPE_OPS[name]
    x = make_leaf(rng, shape)
    assert cr.gradgradcheck(lambda t: fn(t) * fn(t), [x])   # * makes the 2nd derivative nonzero


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_permute_and_reshape_property(data, make_leaf):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    x = make_leaf(np.random.default_rng(data.draw(st.integers(0, 2 ** 16))), shape)
    np.testing.assert_array_equal(x.permute(perm).numpy(), x.numpy().transpose(perm))
    assert cr.gradcheck(lambda t: t.permute(perm).reshape(-1) * cr.arange(t.numel()).double(), [x])


# -------------------------------------------------------------------- indexing
@pytest.mark.parametrize("name", sorted(INDEX_KEYS))
def test_indexing_values_and_gradcheck(name, rng, make_leaf):
    build, shape = INDEX_KEYS[name]
    x = make_leaf(rng, shape)
    out = x[build()]
    np.testing.assert_array_equal(out.numpy(), x.numpy()[_np_key(build())])
    assert cr.gradcheck(lambda t: t[build()], [x])
    assert cr.gradgradcheck(lambda t: t[build()] * t[build()], [x])


def test_repeated_indices_accumulate():
    x = cr.zeros(4, dtype=np.float64, requires_grad=True)
    x[[0, 2, 2, 2, 3, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 3.0, 1.0])
    y = cr.zeros(2, 3, dtype=np.float64, requires_grad=True)
    y[np.array([1, 1]), np.array([2, 2])].sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[0, 0, 0], [0, 0, 2]])


def test_boolean_index_gradient_lands_on_selected_entries():
    x = cr.tensor([1.0, -2.0, 3.0, -4.0], dtype=np.float64, requires_grad=True)
    picked = x[x > 0]
    assert picked.tolist() == [1.0, 3.0]
    (picked * cr.tensor([10.0, 20.0], dtype=np.float64)).sum().backward()
    assert x.grad.tolist() == [10.0, 0.0, 20.0, 0.0]


def test_index_out_of_range_names_the_shape():
    with pytest.raises(IndexError, match=r"index: .*\(tensor shape \(3, 4\)\)"):
        cr.ones(3, 4)[5]


def test_setitem_without_grad_and_then_use_in_graph():
    t = cr.zeros(3, 3, dtype=np.float64)
    t[1, :] = 2.0
    t[np.array([0, 2]), np.array([0, 2])] = cr.tensor([5.0, 6.0], dtype=np.float64)
    t[t > 5.5] = 7.0
    np.testing.assert_array_equal(t.numpy(), [[5, 0, 0], [2, 2, 2], [0, 0, 7]])
    w = cr.ones(3, 3, dtype=np.float64, requires_grad=True)
    (w * t).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), t.numpy())


# ------------------------------------------------------------------- joining
def _leaves(rng, make_leaf, *shapes):
    return [make_leaf(rng, s) for s in shapes]


@pytest.mark.parametrize("shapes, dim", [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3, 1), (2, 3, 2)], -1),
    ([(3,), (3,)], 0),
], ids=str)
def test_cat(shapes, dim, rng, make_leaf):
    xs = _leaves(rng, make_leaf, *shapes)
    out = cr.cat(xs, dim)
    np.testing.assert_array_equal(out.numpy(), np.concatenate([x.numpy() for x in xs], dim))
    assert cr.gradcheck(lambda *ts: cr.cat(list(ts), dim), xs)
    assert cr.gradgradcheck(lambda *ts: cr.cat(list(ts), dim) ** 2, xs)
    assert cr.concatenate is cr.cat


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim, rng, make_leaf):
    xs = _leaves(rng, make_leaf, (2, 3), (2, 3), (2, 3))
    out = cr.stack(xs, dim)
    np.testing.assert_array_equal(out.numpy(), np.stack([x.numpy() for x in xs], dim))
    assert cr.gradcheck(lambda *ts: cr.stack(ts, dim), xs)
    assert cr.gradgradcheck(lambda *ts: cr.stack(ts, dim) ** 2, xs)


def test_cat_and_stack_accept_tensors_that_need_no_grad(rng, make_leaf):
    x = make_leaf(rng, (2,))
    c = cr.tensor([1.0, 2.0], dtype=np.float64)
    assert cr.gradcheck(lambda t: cr.cat([t, c, t]), [x])
    assert cr.gradcheck(lambda t: cr.stack([c, t]), [x])


@pytest.mark.parametrize("size, dim, expected", [
    (2, 0, [2, 2, 1]), ([1, 3, 1], 0, [1, 3, 1]), (3, 1, [3]), (1, -1, [1, 1, 1]),
], ids=str)
def test_split(size, dim, expected, rng, make_leaf):
    x = make_leaf(rng, (5, 3))
    parts = x.split(size, dim)
    assert [p.shape[dim] for p in parts] == expected
    np.testing.assert_array_equal(cr.cat(parts, dim).numpy(), x.numpy())
    weights = [cr.tensor(rng.standard_normal(p.shape)) for p in parts]
    assert cr.gradcheck(lambda t: sum((p * w).sum() for p, w in zip(cr.split(t, size, dim), weights)), [x])


@pytest.mark.parametrize("n, chunks, expected", [(6, 3, [2, 2, 2]), (5, 2, [3, 2]), (5, 3, [2, 2, 1]),
                                                 (2, 4, [1, 1])])
def test_chunk_follows_pytorch_sizes(n, chunks, expected, rng, make_leaf):
    x = make_leaf(rng, (2, n))
    parts = x.chunk(chunks, dim=1)
    assert [p.shape[1] for p in parts] == expected
    assert cr.gradcheck(lambda t: cr.chunk(t, chunks, 1)[0] * 2, [x])


@pytest.mark.parametrize("pad, value", [((1, 2), 0.0), ((0, 1, 2, 0), -1.5), ((1, 1, 1, 1, 1, 1), 3.0)],
                         ids=str)
def test_pad(pad, value, rng, make_leaf):
    x = make_leaf(rng, (2, 3, 2))
    out = cr.pad(x, pad, value=value)
    widths = [(0, 0)] * 3
    for i in range(len(pad) // 2):
        widths[2 - i] = (pad[2 * i], pad[2 * i + 1])
    np.testing.assert_array_equal(out.numpy(), np.pad(x.numpy(), widths, constant_values=value))
    assert cr.gradcheck(lambda t: cr.pad(t, pad, value=value), [x])
    assert cr.gradgradcheck(lambda t: cr.pad(t * t, pad), [x])


@pytest.mark.parametrize("dim, index", [
    (1, [[0, 0, 2], [1, 2, 1]]),
    (0, [[1, 0, 1], [1, 1, 0]]),
    (-1, [[2], [0]]),
    (1, [[0, 1]]),             # an index smaller than the input in the other dim, as torch
], ids=str)
def test_gather(dim, index, rng, make_leaf):
    x = make_leaf(rng, (2, 3))
    idx = cr.tensor(index)
    out = x.gather(dim, idx)
    expected = np.empty(idx.shape)
    for pos in np.ndindex(*idx.shape):
        src = list(pos)
        src[dim] = index[pos[0]][pos[1]]
        expected[pos] = x.numpy()[tuple(src)]
    np.testing.assert_array_equal(out.numpy(), expected)
    assert cr.gradcheck(lambda t: cr.gather(t, dim, idx), [x])
    assert cr.gradgradcheck(lambda t: cr.gather(t * t, dim, idx), [x])


def test_gather_repeated_index_accumulates():
    x = cr.zeros(1, 3, dtype=np.float64, requires_grad=True)
    x.gather(1, cr.tensor([[2, 2, 0]])).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 2.0]]


# --------------------------------------------------------------------- errors
def test_shape_errors_are_clear():
    x = cr.ones(2, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into shape \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2, 3\) to \(2, 4\)"):
        x.expand(2, 4)
    with pytest.raises(ValueError, match="expand: target shape .* has fewer dims"):
        x.expand(3)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0\) are not a permutation"):
        x.permute(0, 0)
    with pytest.raises(IndexError, match="transpose: dim 2 is out of range"):
        x.transpose(0, 2)
    with pytest.raises(ValueError, match="repeat: 1 repeat counts for a tensor with 2 dims"):
        x.repeat(2)


def test_join_errors_are_clear():
    with pytest.raises(ValueError, match=r"cat: shapes \[\(2, 3\), \(2, 4\)\] must match except in dim 0"):
        cr.cat([cr.ones(2, 3), cr.ones(2, 4)])
    with pytest.raises(ValueError, match=r"stack: all shapes must be equal, got \[\(2,\), \(3,\)\]"):
        cr.stack([cr.ones(2), cr.ones(3)])
    with pytest.raises(ValueError, match="cat: expected a non-empty list"):
        cr.cat([])
    with pytest.raises(ValueError, match=r"split: sizes \[1, 1\] do not add up to 3"):
        cr.ones(3).split([1, 1])
    with pytest.raises(ValueError, match="split: split_size must be positive"):
        cr.ones(3).split(0)
    with pytest.raises(ValueError, match="chunk: chunks must be positive"):
        cr.ones(3).chunk(0)


def test_pad_and_gather_errors_are_clear():
    with pytest.raises(ValueError, match="pad: expected an even number of widths"):
        cr.pad(cr.ones(2), (1, 2, 3))
    with pytest.raises(ValueError, match="pad: the negative widths .* crop more than"):
        cr.pad(cr.ones(2), (-2, -1))
    with pytest.raises(ValueError, match="pad: mode must be one of"):
        cr.pad(cr.ones(2), (1, 1), mode="symmetric")
    with pytest.raises(ValueError, match="pad: reflect padding .* must be smaller than"):
        cr.pad(cr.ones(1, 2), (2, 0), mode="reflect")
    with pytest.raises(TypeError, match="gather: index must be an integer tensor, got dtype float32"):
        cr.ones(2, 2).gather(1, cr.ones(2, 2))
    with pytest.raises(ValueError, match="gather: index has 1 dims but the input has 2"):
        cr.ones(2, 2).gather(1, cr.tensor([0, 1]))


@pytest.mark.parametrize("name, fn, shape", [
    ("reshape", lambda x: x.reshape(1, 1), (1, 1)),
    ("flatten", lambda x: x.flatten(), (1,)),
    ("unsqueeze", lambda x: x.unsqueeze(0), (1,)),
    ("expand", lambda x: x.expand(2, 3), (2, 3)),
    ("repeat", lambda x: x.repeat(3), (3,)),
    ("none_index", lambda x: x[None], (1,)),
    ("ellipsis_index", lambda x: x[...], ()),
    ("T", lambda x: x.T, ()),
    ("stack", lambda x: cr.stack([x, x * 2]), (2,)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_shape_ops_on_zero_dim_tensors(name, fn, shape):
    x = cr.tensor(1.5, dtype=np.float64, requires_grad=True)
    assert fn(x).shape == shape
    assert cr.gradcheck(fn, [x])


def test_squeeze_back_to_zero_dim_and_back():
    x = cr.tensor([[2.0]], dtype=np.float64, requires_grad=True)
    s = x.squeeze()
    assert s.shape == () and s.item() == 2.0
    assert cr.gradcheck(lambda t: t.squeeze() * t.squeeze(), [x])
