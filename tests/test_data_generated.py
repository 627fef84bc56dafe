"""Synthetic 2-D sets: shapes, balance, seeding, noise, and the geometry of each."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import make_blobs, make_circles, make_moons, make_spirals, make_xor

GENERATORS = {
    "xor": lambda n, noise, seed: make_xor(n, noise=noise, seed=seed),
    "circles": lambda n, noise, seed: make_circles(n, noise=noise, factor=0.4, seed=seed),
    "moons": lambda n, noise, seed: make_moons(n, noise=noise, seed=seed),
    "spirals": lambda n, noise, seed: make_spirals(n, noise=noise, turns=1.5, seed=seed),
    "blobs": lambda n, noise, seed: make_blobs(n, centers=[[0, 0], [4, 4]], std=noise, seed=seed),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("n", [101, 200])
def test_shapes_dtypes_and_balance(name, n):
    X, y = GENERATORS[name](n, 0.1, 0)
    assert X.shape == (n, 2) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == 2 and counts.max() - counts.min() <= 1
    assert not np.array_equal(y, np.sort(y))  # shuffled


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_seed_determinism(name):
    make = GENERATORS[name]
    a, b, c = make(64, 0.2, 7), make(64, 0.2, 7), make(64, 0.2, 8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    cr.manual_seed(3)  # seed=None draws from the global generator
    g1 = make(64, 0.2, None)
    cr.manual_seed(3)
    g2 = make(64, 0.2, None)
    assert np.array_equal(g1[0], g2[0])
    gen = make(64, 0.2, np.random.default_rng(7))
    assert np.array_equal(gen[0], a[0])


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_noise_is_gaussian_with_the_given_std(name):
    make = GENERATORS[name]
    clean, y0 = make(4000, 0.0, 1)
    noisy, y1 = make(4000, 0.3, 1)
    # Same seed: the same shuffle, so rows correspond and the difference is the noise.
    assert np.array_equal(y0, y1)
    delta = (noisy - clean).astype(np.float64)
    assert abs(delta.std() - 0.3) < 0.02 and abs(delta.mean()) < 0.02


def test_xor_geometry():
    X, y = make_xor(400, noise=0.0, seed=0)
    assert set(map(tuple, X.tolist())) == {(-1.0, -1.0), (-1.0, 1.0), (1.0, 1.0), (1.0, -1.0)}
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    X, y = make_xor(403, noise=0.2, seed=0)
    assert np.bincount(y).tolist() == [202, 201]


def test_circles_and_moons_match_scikit_learn_without_noise():
    sklearn = pytest.importorskip("sklearn.datasets")
    for n in (50, 51):
        ours = make_circles(n, noise=0.0, factor=0.3, shuffle=False)
        theirs = sklearn.make_circles(n, noise=0.0, factor=0.3, shuffle=False)
        np.testing.assert_allclose(_sorted_rows(ours), _sorted_rows(theirs), atol=1e-6)
        ours = make_moons(n, noise=0.0, shuffle=False)
        theirs = sklearn.make_moons(n, noise=0.0, shuffle=False)
        np.testing.assert_allclose(_sorted_rows(ours), _sorted_rows(theirs), atol=1e-6)


def _sorted_rows(Xy):
    X, y = Xy
    rows = np.column_stack([X.astype(np.float64), y])
    key = np.round(rows, 4)  # float32 vs float64 must not change the order of near-ties
    return rows[np.lexsort(key.T[::-1])]


def test_circles_radii():
    X, y = make_circles(300, noise=0.0, factor=0.25, seed=0)
    radius = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match=r"factor must be in \[0, 1\), got 1.5"):
        make_circles(10, factor=1.5)


def test_spirals_reproduce_lang_and_witbrock():
    X, y = make_spirals(194, noise=0.0, turns=3, shuffle=False)
    i = np.arange(97)
    r = 6.5 * (104 - i) / 104
    angle = i * np.pi / 16
    first = np.stack([r * np.sin(angle), r * np.cos(angle)], 1) / 6.5
    np.testing.assert_allclose(X[:97], first, atol=1e-6)
    np.testing.assert_allclose(X[97:], -first, atol=1e-6)
    assert y[:97].tolist() == [0] * 97 and y[97:].tolist() == [1] * 97


def test_blobs_centres_and_spread():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X, y = make_blobs(3000, centers=centres, std=0.5, seed=0)
    assert np.bincount(y).tolist() == [1000, 1000, 1000]
    for k in range(3):
        np.testing.assert_allclose(X[y == k].mean(0), centres[k], atol=0.06)
        np.testing.assert_allclose(X[y == k].std(0), 0.5, atol=0.04)
    X, y = make_blobs(100, centers=4, std=1.0, seed=0)
    assert X.shape == (100, 2) and set(y.tolist()) == {0, 1, 2, 3}
    X, y = make_blobs(10, centers=np.zeros((2, 3)), seed=0)
    assert X.shape == (10, 3)


@pytest.mark.parametrize("call, message", [
    (lambda: make_xor(0), "n must be an int >= 1, got 0"),
    (lambda: make_moons(2.5), "n must be an int >= 2, got 2.5"),
    (lambda: make_moons(10, noise=-1), "noise must be a finite number >= 0, got -1"),
    (lambda: make_spirals(10, turns=0), "turns must be a number > 0, got 0"),
    (lambda: make_blobs(10, centers=0), "centers must be >= 1"),
    (lambda: make_blobs(10, centers=[1, 2]), r"shape \(k, d\), got shape \(2,\)"),
])
def test_argument_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    with pytest.raises(TypeError, match="seed must be"):
        make_xor(10, seed="abc")


# ------------------------------------------------------------------- regression sets
from chainrule.data import make_gaussian_bumps, make_plane  # noqa: E402

REGRESSION = {"plane": make_plane, "bumps": make_gaussian_bumps}


@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_sets_shapes_seeding_and_noise(name):
    make = REGRESSION[name]
    X, y = make(300, noise=0.0, seed=4)
    assert X.shape == (300, 2) and X.dtype == np.float32
    assert y.shape == (300,) and y.dtype == np.float32
    assert np.abs(X).max() <= 1.0 and -1.01 <= y.min() and y.max() <= 1.01
    X2, y2 = make(300, noise=0.0, seed=4)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    noisy, y3 = make(4000, noise=0.2, seed=1)
    clean, y4 = make(4000, noise=0.0, seed=1)
    np.testing.assert_array_equal(y3, y4)  # noise moves the points, not the targets
    delta = (noisy - clean).astype(np.float64)
    assert abs(delta.std() - 0.2) < 0.02
    with pytest.raises(ValueError, match="noise"):
        make(10, noise=-1.0)


def test_plane_and_bumps_targets_follow_their_formulas():
    X, y = make_plane(200, seed=0)
    np.testing.assert_allclose(y, X.astype(np.float64).sum(1) / 2, atol=1e-6)
    X, y = make_gaussian_bumps(2000, seed=0)
    # at a bump's centre the target is about its sign; between rows of bumps about 0
    near_up = np.hypot(X[:, 0] + 2 / 3, X[:, 1] - 5 / 12) < 0.05
    near_down = np.hypot(X[:, 0], X[:, 1] - 5 / 12) < 0.05
    assert y[near_up].min() > 0.9 and y[near_down].max() < -0.9
    far = (np.abs(X[:, 1]) < 0.02) & (np.abs(X[:, 0]) > 0.9)
    assert np.abs(y[far]).max() < 0.05
