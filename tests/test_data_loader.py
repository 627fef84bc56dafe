"""Dataset, collate, samplers, random_split and DataLoader."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, SequentialSampler, Subset,
    SubsetRandomSampler, TensorDataset, WeightedRandomSampler, default_collate, random_split)


class Pairs(Dataset):
    """Item by item only (no fetch_batch override): the reference for the fast paths."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, -i], dtype=np.float32), i % 3


class TensorItems(Pairs):
    """Like Pairs, but items are Tensors, as a TensorDataset's are."""

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return cr.tensor(x), cr.tensor(y)


class DuckTyped:
    """Not a Dataset subclass: the loader must still work with it."""

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"x": float(i), "name": f"s{i}"}


def _flat(batches):
    return np.concatenate([b[1].numpy() for b in batches])


# --------------------------------------------------------------------- Dataset
def test_tensor_dataset_items_and_dtypes():
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    ds = TensorDataset(x, [0, 1, 0, 1, 1, 0], cr.tensor(np.ones((6, 3), np.float32)))
    assert len(ds) == 6
    a, b, c = ds[4]
    assert a.dtype == np.float64 and a.tolist() == [8.0, 9.0]
    assert b.dtype == np.int64 and int(b) == 1
    assert c.shape == (3,)
    assert not a.requires_grad


def test_tensor_dataset_length_mismatch_names_the_sizes():
    with pytest.raises(ValueError, match=r"same first dimension.*\[5, 4\]"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="0-dimensional"):
        TensorDataset(np.zeros(3), np.float32(1.0))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_subset_and_concat():
    base = TensorDataset(np.arange(10))
    sub = Subset(base, [9, 2, 5])
    assert len(sub) == 3 and [int(sub[i][0]) for i in range(3)] == [9, 2, 5]
    with pytest.raises(IndexError, match="index 10 is out of range"):
        Subset(base, [1, 10])
    both = TensorDataset(np.arange(3)) + TensorDataset(np.arange(100, 105))
    assert isinstance(both, ConcatDataset) and len(both) == 8
    assert [int(both[i][0]) for i in range(8)] == [0, 1, 2, 100, 101, 102, 103, 104]
    assert int(both[-1][0]) == 104
    with pytest.raises(IndexError):
        both[8]
    with pytest.raises(ValueError, match="non-empty"):
        ConcatDataset([])


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


@pytest.mark.parametrize("make", [
    lambda: TensorDataset(np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10) % 3),
    lambda: Subset(TensorDataset(np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20) % 3),
                   np.arange(19, 9, -1)),
    lambda: ConcatDataset([TensorDataset(np.arange(8, dtype=np.float32).reshape(4, 2), np.arange(4)),
                           TensorItems(3), TensorDataset(np.arange(6, dtype=np.float32).reshape(3, 2),
                                                   np.arange(3))]),
])
def test_fetch_batch_equals_item_by_item_collate(make):
    ds = make()
    idx = np.array([len(ds) - 1, 0, 3, 5, 1, 5])
    fast = ds.fetch_batch(idx)
    slow = default_collate([ds[int(i)] for i in idx])
    assert len(fast) == len(slow) == 2
    for f, s in zip(fast, slow):
        assert f.dtype == s.dtype and f.shape == s.shape
        np.testing.assert_array_equal(f.numpy(), s.numpy())


# --------------------------------------------------------------------- collate
def test_collate_numbers_and_dtypes():
    assert default_collate([1, 2, 3]).dtype == np.int64
    assert default_collate([1.0, 2.5]).dtype == np.float32
    mixed = default_collate([1, 2.5])  # an int first must not truncate the float
    assert mixed.dtype == np.float32 and mixed.tolist() == [1.0, 2.5]
    assert default_collate([True, False]).dtype == np.bool_
    assert default_collate([np.float64(1), np.float64(2)]).dtype == np.float64
    assert default_collate([np.int32(1), np.int32(2)]).dtype == np.int32
    arr = default_collate([np.zeros((2, 3), np.float64), np.ones((2, 3), np.float64)])
    assert arr.shape == (2, 2, 3) and arr.dtype == np.float64
    t = default_collate([cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])])
    assert t.dtype == np.float32 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_collate_structures():
    batch = default_collate([({"img": np.zeros(2, np.float32), "id": 1}, [0.5, "x"]),
                             ({"img": np.ones(2, np.float32), "id": 2}, [1.5, "y"])])
    assert isinstance(batch, list) and len(batch) == 2
    d, (floats, names) = batch
    assert set(d) == {"img", "id"} and d["img"].shape == (2, 2) and d["id"].dtype == np.int64
    assert floats.tolist() == [0.5, 1.5] and names == ["x", "y"]
    Point = namedtuple("Point", "x y")
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3] and p.y.dtype == np.float32


def test_collate_errors():
    with pytest.raises(ValueError, match=r"different shapes.*sample 0 has shape \(3,\), "
                                         r"sample 1 has shape \(4,\)"):
        default_collate([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(KeyError, match="sample 1 has keys"):
        default_collate([{"a": 1}, {"b": 1}])
    with pytest.raises(TypeError, match="dtype <U1|dtype"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError, match="cannot collate samples of type object"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])


def test_collate_matches_torch(torch):
    from torch.utils.data import default_collate as torch_collate
    samples = [(np.arange(3, dtype=np.float32) + i, i, {"w": np.float64(i) / 2}) for i in range(4)]
    ours, theirs = default_collate(samples), torch_collate(samples)
    assert isinstance(theirs, list) and isinstance(ours, list)
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
    assert ours[1].tolist() == theirs[1].tolist() and theirs[1].dtype == torch.int64
    assert str(ours[2]["w"].dtype) == str(theirs[2]["w"].dtype).replace("torch.", "")


# ----------------------------------------------------------------- random_split
def test_random_split_lengths_disjoint_and_seeded():
    ds = TensorDataset(np.arange(50))
    parts = random_split(ds, [30, 15, 5], generator=np.random.default_rng(3))
    assert [len(p) for p in parts] == [30, 15, 5]
    seen = np.concatenate([p.indices for p in parts])
    assert sorted(seen.tolist()) == list(range(50))
    again = random_split(ds, [30, 15, 5], generator=np.random.default_rng(3))
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again))
    other = random_split(ds, [30, 15, 5], generator=np.random.default_rng(4))
    assert not np.array_equal(parts[0].indices, other[0].indices)


def test_random_split_uses_global_generator():
    ds = TensorDataset(np.arange(20))
    cr.manual_seed(11)
    a = random_split(ds, [10, 10])
    cr.manual_seed(11)
    b = random_split(ds, [10, 10])
    assert np.array_equal(a[0].indices, b[0].indices)


@pytest.mark.parametrize("n, fractions, expected", [
    (10, [0.8, 0.2], [8, 2]),
    (11, [0.5, 0.5], [6, 5]),
    (10, [0.33, 0.33, 0.34], [4, 3, 3]),
    (7, [0.1, 0.1, 0.8], [1, 1, 5]),
])
def test_random_split_fractions_follow_torch_rule(n, fractions, expected, torch):
    ours = [len(s) for s in random_split(TensorDataset(np.arange(n)), fractions)]
    theirs = [len(s) for s in torch.utils.data.random_split(range(n), fractions)]
    assert ours == expected == theirs


def test_random_split_errors():
    ds = TensorDataset(np.arange(10))
    with pytest.raises(ValueError, match=r"sum to 9, but the dataset has 10"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="fractions"):
        random_split(ds, [0.5, 0.4])
    with pytest.raises(TypeError, match="generator"):
        random_split(ds, [5, 5], generator=42)
    with pytest.warns(UserWarning, match="index 1 is 0"):
        random_split(TensorDataset(np.arange(2)), [0.9, 0.1])


# --------------------------------------------------------------------- samplers
def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = np.random.default_rng(0)
    assert sorted(RandomSampler(range(6), generator=g)) == list(range(6))
    longer = list(RandomSampler(range(4), num_samples=10, generator=g))
    assert len(longer) == 10 and sorted(longer[:4]) == [0, 1, 2, 3]
    with_repl = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(with_repl) == 50 and set(with_repl) <= {0, 1, 2}
    assert sorted(SubsetRandomSampler([5, 7, 9], generator=g)) == [5, 7, 9]
    draws = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=g))
    counts = np.bincount(draws, minlength=3)
    assert counts[0] == 0 and 2.5 < counts[2] / counts[1] < 3.5
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, drop_last=False)) == 3
    with pytest.raises(ValueError, match="weights"):
        WeightedRandomSampler([-1.0, 2.0], 3)
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)


# --------------------------------------------------------------------- DataLoader
@pytest.mark.parametrize("n, bs, drop_last, expected_len, last", [
    (10, 3, False, 4, 1), (10, 3, True, 3, 3), (9, 3, False, 3, 3), (9, 3, True, 3, 3),
    (2, 5, False, 1, 2), (2, 5, True, 0, None),
])
def test_loader_len_and_batch_sizes(n, bs, drop_last, expected_len, last):
    loader = DataLoader(TensorDataset(np.arange(n)), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == expected_len
    if last is not None:
        assert all(len(b[0]) == bs for b in batches[:-1]) and len(batches[-1][0]) == last
    assert sum(len(b[0]) for b in batches) == (n // bs * bs if drop_last else n)


def test_loader_len_matches_torch(torch):
    for n, bs, drop in [(60000, 128, False), (60000, 128, True), (7, 7, True), (1, 4, False)]:
        ours = DataLoader(TensorDataset(np.arange(n)), batch_size=bs, drop_last=drop)
        theirs = torch.utils.data.DataLoader(range(n), batch_size=bs, drop_last=drop)
        assert len(ours) == len(theirs)


def test_loader_sequential_order_and_values():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[1][0].numpy(), x[4:8])
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64


def test_shuffle_reproducible_and_new_each_epoch():
    ds = TensorDataset(np.arange(100))
    cr.manual_seed(5)
    loader = DataLoader(ds, batch_size=16, shuffle=True)
    epoch1, epoch2 = _flat_first(loader), _flat_first(loader)
    for order in (epoch1, epoch2):  # every sample exactly once per epoch
        assert sorted(order.tolist()) == list(range(100))
    assert not np.array_equal(epoch1, epoch2)
    assert not np.array_equal(epoch1, np.arange(100))
    cr.manual_seed(5)  # same seed -> the same sequence of epochs, even with a new loader
    fresh = DataLoader(ds, batch_size=16, shuffle=True)
    assert np.array_equal(_flat_first(fresh), epoch1) and np.array_equal(_flat_first(fresh), epoch2)
    cr.manual_seed(6)
    assert not np.array_equal(_flat_first(fresh), epoch1)


def _flat_first(loader):
    return np.concatenate([b[0].numpy() for b in loader])


def test_shuffle_with_explicit_generator_ignores_global_seed():
    ds = TensorDataset(np.arange(30))
    orders = []
    for global_seed in (1, 2):
        cr.manual_seed(global_seed)
        orders.append(_flat_first(DataLoader(ds, batch_size=7, shuffle=True,
                                             generator=np.random.default_rng(42))))
    assert np.array_equal(orders[0], orders[1])


def test_fast_and_slow_paths_agree():
    # Pairs goes item by item; the TensorDataset with the same content is fancy-indexed.
    n = 23
    tensor_ds = TensorDataset(np.stack([np.arange(n), -np.arange(n)], 1).astype(np.float32),
                              np.arange(n) % 3)
    fast = list(DataLoader(tensor_ds, batch_size=5, shuffle=True, generator=np.random.default_rng(0)))
    slow = list(DataLoader(Pairs(n), batch_size=5, shuffle=True, generator=np.random.default_rng(0)))
    assert len(fast) == len(slow) == 5
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())


def test_loader_custom_collate_sampler_and_duck_typed_dataset():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return samples

    out = list(DataLoader(Pairs(5), batch_size=2, collate_fn=collate))
    assert seen == [2, 2, 1] and isinstance(out[0], list) and isinstance(out[0][0], tuple)
    ordered = DataLoader(TensorDataset(np.arange(6)), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert [b[0].tolist() for b in ordered] == [[5, 4], [3, 2], [1, 0]]
    batches = DataLoader(TensorDataset(np.arange(6)), batch_sampler=[[0, 5], [2]])
    assert [b[0].tolist() for b in batches] == [[0, 5], [2]] and len(batches) == 2
    duck = list(DataLoader(DuckTyped(), batch_size=4))
    assert duck[0]["x"].tolist() == [0.0, 1.0, 2.0, 3.0] and duck[1]["name"] == ["s4", "s5", "s6"]


@pytest.mark.parametrize("bad", [0, -3, 2.0, "8", None, True])
def test_batch_size_must_be_positive_int(bad):
    with pytest.raises(ValueError, match=rf"batch_size must be a positive int, got {bad!r}"):
        DataLoader(TensorDataset(np.arange(4)), batch_size=bad)


def test_loader_argument_errors():
    ds = TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_sampler is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        DataLoader(ds, shuffle=True, generator=0)
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        DataLoader(42)


def test_loader_over_concat_and_subset_keeps_every_sample():
    a = TensorDataset(np.arange(0, 10), np.zeros(10, np.int64))
    b = TensorDataset(np.arange(10, 17), np.ones(7, np.int64))
    train, val = random_split(a + b, [0.7, 0.3], generator=np.random.default_rng(1))
    got = []
    for x, y in DataLoader(train, batch_size=4, shuffle=True):
        np.testing.assert_array_equal(y.numpy(), (x.numpy() >= 10).astype(np.int64))
        got.extend(x.tolist())
    for x, _ in DataLoader(val, batch_size=100):
        got.extend(x.tolist())
    assert sorted(got) == list(range(17))


def test_num_workers_zero_is_accepted_and_more_is_refused_by_name():
    ds = cr.data.TensorDataset(np.arange(6.0))
    assert len(cr.data.DataLoader(ds, batch_size=2, num_workers=0)) == 3
    with pytest.raises(ValueError, match="num_workers=2 is not supported"):
        cr.data.DataLoader(ds, batch_size=2, num_workers=2)
