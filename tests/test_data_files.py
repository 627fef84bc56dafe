"""Shipped data files (checksums, loaders, dataset wrappers) and the IDX reader."""
from __future__ import annotations

import gzip
import hashlib
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    MNIST, CharDataset, DataLoader, IDXError, Ionosphere, Sonar, TinyShakespeare, datasets,
    load_idx_pair, read_idx, write_idx)

# Published SHA-256 values (from the data sets' provenance notes), written out here on purpose
# rather than read from the package, so a changed file and a changed table cannot agree.
PUBLISHED_SHA256 = {
    "mnist/train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "mnist/train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "mnist/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "mnist/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "tinyshakespeare/input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    "uci-sonar/sonar.all-data": "e90434cdbf00fcf93ffa911fe447ae25606979658e60f1d32e155c3b5240234d",
    "uci-sonar/sonar.names": "f3d650ae9772b1a5021d977fe9f8194259f3dddec1922128c8104cf1c4e7250f",
    "uci-ionosphere/ionosphere.data": "46d52186b84e20be52918adb93e8fb9926b34795ff7504c24350ae0616a04bbd",
    "uci-ionosphere/ionosphere.names": "a368e4fd9b910a3ac97fa306add17446c13105367e17f5b691455db2ea8411cf",
    "diabetes/diabetes.tab.txt": "0555e4a1cdccc6d60145de2154ec3078923f89124957a7fd6c749773f2513872",
}
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ------------------------------------------------------------------- shipped files
@pytest.mark.parametrize("name", sorted(PUBLISHED_SHA256))
def test_shipped_file_checksum(name):
    digest = hashlib.sha256(datasets.data_path(name).read_bytes()).hexdigest()
    assert digest == PUBLISHED_SHA256[name]


def test_package_table_and_readme_agree_with_published_values():
    assert datasets.SHA256 == PUBLISHED_SHA256
    readme = (datasets.FILES_DIR / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"`([0-9a-f]{64})`", readme)) >= set(PUBLISHED_SHA256.values())
    for licence in ("CC BY-SA 3.0", "CC BY 4.0", "public domain", "MIT", "Gorman", "Sigillito",
                    "Efron", "BSD-3-Clause"):
        assert licence in readme
    assert datasets.verify_files() == {name: True for name in PUBLISHED_SHA256}


def test_missing_shipped_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="install is incomplete"):
        datasets.data_path("mnist/no-such-file.gz")


@pytest.mark.parametrize("split, counts", [("train", MNIST_TRAIN_COUNTS), ("test", MNIST_TEST_COUNTS)])
def test_load_mnist_shapes_and_label_histogram(split, counts):
    images, labels = datasets.load_mnist(split)
    n = sum(counts)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == counts
    assert images.min() == 0 and images.max() == 255
    images[0, 0, 0] = 7  # copies: changing them leaves the cached arrays alone
    assert datasets.load_mnist(split)[0][0, 0, 0] == 0


def test_load_mnist_rejects_unknown_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        datasets.load_mnist("val")


def test_mnist_dataset_variants():
    raw_images, raw_labels = datasets.load_mnist("test")
    ds = MNIST("test")
    assert len(ds) == 10000
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and y == raw_labels[3]
    np.testing.assert_allclose(x.numpy()[0], raw_images[3] / 255.0, rtol=1e-6)
    flat = MNIST("test", flatten=True, normalize=False)[-1][0]
    assert flat.shape == (784,) and flat.dtype == np.uint8
    np.testing.assert_array_equal(flat.numpy(), raw_images[-1].ravel())
    std = MNIST("test", normalize="standard")
    batch = std.fetch_batch(np.arange(2000))[0].numpy()
    assert abs(batch.mean()) < 0.1 and abs(batch.std() - 1) < 0.1
    with pytest.raises(ValueError, match="normalize"):
        MNIST("test", normalize="zscore")


def test_mnist_loader_just_works_and_matches_item_path():
    cr.manual_seed(0)
    loader = DataLoader(MNIST("train"), batch_size=128, shuffle=True)
    assert len(loader) == 469
    seen = np.zeros(10, np.int64)
    for x, y in loader:
        assert x.dtype == np.float32 and y.dtype == np.int64
        seen += np.bincount(y.numpy(), minlength=10)
    assert seen.tolist() == MNIST_TRAIN_COUNTS and x.shape == (96, 1, 28, 28)
    # A transform sends batches through the per-sample path; the values must be the same.
    idx = np.array([5, 0, 59999, 17])
    plain = MNIST("train", flatten=True).fetch_batch(idx)
    per_item = MNIST("train", flatten=True, transform=lambda t: t * 1.0).fetch_batch(idx)
    np.testing.assert_array_equal(plain[0].numpy(), per_item[0].numpy())
    np.testing.assert_array_equal(plain[1].numpy(), per_item[1].numpy())


def test_uci_sets():
    X, y, names = datasets.load_sonar()
    assert X.shape == (208, 60) and X.dtype == np.float32 and names == ["M", "R"]
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [111, 97]
    assert 0.0 <= X.min() and X.max() <= 1.0
    X, y, names = datasets.load_ionosphere()
    assert X.shape == (351, 34) and names == ["b", "g"]
    assert np.bincount(y).tolist() == [126, 225]
    sonar, iono = Sonar(), Ionosphere()
    assert len(sonar) == 208 and sonar.classes == ["M", "R"] and len(iono) == 351
    xb, yb = next(iter(DataLoader(iono, batch_size=64)))
    assert xb.shape == (64, 34) and yb.dtype == np.int64


def test_diabetes_regression_set():
    X, y, names = datasets.load_diabetes()
    assert X.shape == (442, 10) and X.dtype == np.float32 and y.dtype == np.float32
    assert names == ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]
    assert set(np.unique(X[:, 1]).tolist()) == {1.0, 2.0} and (y.min(), y.max()) == (25, 346)
    # The provenance check: least squares with an intercept on all rows, R^2 = 0.5177.
    A = np.c_[X.astype(np.float64), np.ones(len(X))]
    residual = y - A @ np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
    assert 1 - residual @ residual / np.sum((y - y.mean()) ** 2) == pytest.approx(0.5177, abs=1e-4)
    ds = datasets.Diabetes()
    assert len(ds) == 442 and ds.feature_names == names


def test_shakespeare_and_char_dataset():
    text = datasets.load_shakespeare()
    assert len(text) == 1115394 and text.startswith("First Citizen:") and len(set(text)) == 65
    ds = TinyShakespeare(block_size=8)
    assert ds.vocab_size == 65 and len(ds) == len(text) - 8
    x, y = ds[0]
    assert ds.decode(x) == text[:8] and ds.decode(y) == text[1:9]
    bx, by = ds.fetch_batch(np.array([0, 100, len(ds) - 1]))
    assert bx.shape == (3, 8) and bx.dtype == np.int64
    assert ds.decode(bx[2]) == text[-9:-1] and ds.decode(by[2]) == text[-8:]
    small = CharDataset("abcabd", block_size=2)
    assert small.chars == ["a", "b", "c", "d"] and small.encode("dab").tolist() == [3, 0, 1]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        small.encode("z")
    with pytest.raises(ValueError, match="block_size"):
        CharDataset("abc", block_size=3)


# ------------------------------------------------------------------------ IDX
def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    """Build IDX content by hand from the spec (independent of write_idx)."""
    big = array.astype(array.dtype.newbyteorder(">"))
    return (bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
            + big.tobytes())


@pytest.mark.parametrize("dtype, code", [
    (np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
    (np.float32, 0x0D), (np.float64, 0x0E)])
@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_round_trip(tmp_path, rng, dtype, code, compressed):
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    raw = _idx_bytes(array, code)
    path = tmp_path / "data.idx"  # the name does not say gzip: detection is by content
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # writeable
    out = tmp_path / "again.idx.gz"
    write_idx(out, array)
    assert gzip.decompress(out.read_bytes()) == raw


def test_read_idx_matches_shipped_header():
    labels = read_idx(datasets.data_path("mnist/t10k-labels-idx1-ubyte.gz"))
    assert labels.shape == (10000,) and labels.dtype == np.uint8 and labels[:3].tolist() == [7, 2, 1]


def test_read_idx_truncated(tmp_path):
    raw = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08)
    path = tmp_path / "short.idx"
    path.write_bytes(raw[:-5])
    with pytest.raises(IDXError, match=r"short\.idx is truncated: the header says shape \(2, 3, 4\) of "
                                       r"uint8, i\.e\. 24 data bytes, but found 19"):
        read_idx(path)
    path.write_bytes(raw[:9])  # cut inside the dimension sizes
    with pytest.raises(IDXError, match=r"truncated: expected a 16-byte header for 3 dimensions, found 9"):
        read_idx(path)
    path.write_bytes(raw[:3])
    with pytest.raises(IDXError, match=r"expected at least 4 header bytes .*found 3"):
        read_idx(path)
    gz = tmp_path / "short.idx.gz"
    gz.write_bytes(gzip.compress(raw)[:-12])
    with pytest.raises(IDXError, match=r"short\.idx\.gz is gzip-compressed but the stream is truncated"):
        read_idx(gz)


def test_read_idx_wrong_magic(tmp_path):
    raw = bytearray(_idx_bytes(np.zeros((2, 2), np.uint8), 0x08))
    path = tmp_path / "magic.idx"
    raw[0] = 0x12
    path.write_bytes(bytes(raw))
    with pytest.raises(IDXError, match=r"magic\.idx has a wrong magic number: expected the first two "
                                       r"bytes to be 0x00 0x00, found 0x12 0x00"):
        read_idx(path)
    raw[0] = 0
    raw[2] = 0x0A  # not a type code in the spec
    path.write_bytes(bytes(raw))
    with pytest.raises(IDXError, match=r"wrong magic number 0x00000A02: expected a type code in "
                                       r"\{0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E\}, found 0x0A"):
        read_idx(path)
    raw[2], raw[3] = 0x08, 0
    path.write_bytes(bytes(raw))
    with pytest.raises(IDXError, match="expected at least 1 dimension, found 0"):
        read_idx(path)


def test_read_idx_size_mismatch_and_missing(tmp_path):
    path = tmp_path / "long.idx"
    path.write_bytes(_idx_bytes(np.zeros((2, 2), np.int16), 0x0B) + b"\x00\x01\x02")
    with pytest.raises(IDXError, match=r"long\.idx has a size mismatch: the header says shape \(2, 2\) "
                                       r"of int16, i\.e\. 8 data bytes, but found 11 \(3 extra\)"):
        read_idx(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "absent.idx")


def test_load_idx_pair(tmp_path):
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    (tmp_path / "img.idx").write_bytes(_idx_bytes(images, 0x08))
    (tmp_path / "lab.idx").write_bytes(_idx_bytes(np.array([2, 0, 1], np.uint8), 0x08))
    (tmp_path / "lab4.idx").write_bytes(_idx_bytes(np.array([2, 0, 1, 1], np.uint8), 0x08))
    x, y = load_idx_pair(tmp_path / "img.idx", tmp_path / "lab.idx")
    np.testing.assert_array_equal(x, images)
    assert y.dtype == np.int64 and y.tolist() == [2, 0, 1]
    with pytest.raises(IDXError, match=r"img\.idx has 3 samples but .*lab4\.idx has 4 labels"):
        load_idx_pair(tmp_path / "img.idx", tmp_path / "lab4.idx")
    with pytest.raises(IDXError, match=r"one label per sample .*found shape \(3, 2, 2\)"):
        load_idx_pair(tmp_path / "img.idx", tmp_path / "img.idx")


def test_mnist_in_torchvisions_form_with_transforms():
    """MNIST(root, train=..., download=..., transform=...): the transform gets the raw
    uint8 (28, 28) image; ToTensor/Normalize/Compose build whole batches at once, equal to
    the per-sample path; other callables run per sample."""
    from chainrule.data import transforms
    raw_images, raw_labels = datasets.load_mnist("test")
    to_input = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = MNIST("../data", train=False, download=True, transform=to_input)
    assert len(ds) == 10000 and not ds.train and ds.root == "../data"
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and y == raw_labels[3]
    np.testing.assert_allclose(x.numpy()[0], (raw_images[3] / np.float32(255) - 0.1307) / 0.3081,
                               rtol=1e-5)
    idx = np.array([3, 0, 9999])
    batch = ds.fetch_batch(idx)
    np.testing.assert_allclose(batch[0].numpy()[0], x.numpy(), rtol=1e-6)
    slow = MNIST("../data", train=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Lambda(lambda t: (t - 0.1307) / 0.3081)]))
    np.testing.assert_allclose(slow.fetch_batch(idx)[0].numpy(), batch[0].numpy(), rtol=1e-5)
    plain = MNIST("data", train=True)
    assert plain.train and len(plain) == 60000 and plain[0][0].dtype == np.uint8
    assert plain[0][0].shape == (28, 28)
    with pytest.raises(ValueError, match="flatten= and normalize= belong to chainrule's form"):
        MNIST("../data", train=True, flatten=True)


def test_transforms_on_color_images_and_errors():
    from chainrule.data import transforms
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)   # (H, W, C)
    t = transforms.ToTensor()(rgb)
    assert t.shape == (3, 2, 3) and np.isclose(t.numpy()[2, 1, 2], 17 / 255)
    floats = transforms.ToTensor()(np.full((2, 2), 3.0))          # no scaling for floats
    assert floats.numpy().max() == 3.0
    norm = transforms.Normalize((1.0, 2.0, 3.0), (2.0, 2.0, 2.0))(cr.ones(3, 2, 2))
    np.testing.assert_allclose(norm.numpy()[:, 0, 0], [0.0, -0.5, -1.0])
    with pytest.raises(TypeError, match="apply ToTensor first"):
        transforms.Normalize((0.5,), (0.5,))(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="division by zero"):
        transforms.Normalize((0.5,), (0.0,))
    assert "ToTensor()" in repr(transforms.Compose([transforms.ToTensor()]))


def test_torch_utils_data_spelling():
    import chainrule.utils.data as tud
    for name in ("Dataset", "DataLoader", "TensorDataset", "random_split", "Subset",
                 "ConcatDataset", "RandomSampler", "default_collate"):
        assert getattr(tud, name) is getattr(cr.data, name)
    assert cr.utils.data.DataLoader is DataLoader
