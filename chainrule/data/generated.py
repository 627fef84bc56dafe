"""Synthetic sets for toy problems and tests: 2-D classification (xor, circles, moons,
spirals, Gaussian blobs), 2-D regression (a plane, Gaussian bumps) and a noisy 1-D curve (sine).

Every classification generator returns ``(X float32 (n, 2), y int64 (n,))``, every 2-D
regression generator ``(X float32 (n, 2), y float32 (n,))``; :func:`make_sine`, the first
regression a learner can see, ``(X float32 (n, 1), y float32 (n,))``. Randomness comes from
``seed``: an int (a fresh ``numpy.random.default_rng(seed)``), a ``numpy.random.Generator``,
or None for chainrule's global generator (so ``cr.manual_seed`` governs it). ``noise`` is the
standard deviation of Gaussian noise added to both coordinates after the labels are fixed,
so large noise makes the classes overlap (for regression: blurs the target). Classes are as
balanced as ``n`` allows, and
samples are shuffled unless ``shuffle=False`` (then they come class by class).
"""
from __future__ import annotations

import math

import numpy as np

from chainrule.random import default_generator

Seed = int | np.random.Generator | None


def _rng(seed: Seed, who: str) -> np.random.Generator:
    if seed is None:
        return default_generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise TypeError(f"{who}: seed must be a non-negative int, a numpy.random.Generator or None, "
                    f"got {seed!r}")


def _check_n(n, who: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{who}: n must be an int >= {minimum}, got {n!r}")
    return int(n)


def _check_nonneg(value, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _split(n: int, parts: int) -> list[int]:
    """``n`` as ``parts`` counts differing by at most one (the first ones larger)."""
    return [n // parts + (k < n % parts) for k in range(parts)]


def _finish(points: np.ndarray, labels: np.ndarray, noise: float, shuffle: bool,
            rng: np.random.Generator, label_dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    # Drawn even when noise is 0, so one seed gives the same shuffle at every noise level
    # (the clean and the noisy set then differ by the noise alone).
    points = points + rng.normal(0.0, noise, size=points.shape)
    if shuffle:
        order = rng.permutation(len(labels))
        points, labels = points[order], labels[order]
    return points.astype(np.float32), labels.astype(label_dtype)


def make_xor(n: int = 200, noise: float = 0.1, seed: Seed = None, shuffle: bool = True
             ) -> tuple[np.ndarray, np.ndarray]:
    """XOR: four clusters at (+-1, +-1); label 1 where the two coordinates of the cluster
    centre differ in sign (a network needs a hidden layer to separate them).

    Example:
        >>> X, y = make_xor(100, noise=0.1, seed=0)
        >>> X.shape, y.dtype, int(y.sum())
        ((100, 2), dtype('int64'), 50)
    """
    n = _check_n(n, "make_xor")
    noise = _check_nonneg(noise, "noise", "make_xor")
    rng = _rng(seed, "make_xor")
    # Alternate the classes so the remainder of n / 4 never unbalances them by more than 1.
    centres = np.array([[-1, -1], [-1, 1], [1, 1], [1, -1]], dtype=np.float64)
    classes = np.array([0, 1, 0, 1])
    counts = _split(n, 4)
    points = np.repeat(centres, counts, axis=0)
    labels = np.repeat(classes, counts)
    return _finish(points, labels, noise, shuffle, rng)


def make_circles(n: int = 200, noise: float = 0.0, factor: float = 0.5, seed: Seed = None,
                 shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: label 0 on the unit circle, label 1 on the circle of radius
    ``factor`` (0 <= factor < 1), points evenly spaced in angle.

    Example:
        >>> X, y = make_circles(100, noise=0.0, factor=0.3, seed=0)
        >>> float(abs((X[y == 1] ** 2).sum(1) - 0.09).max()) < 1e-6
        True
    """
    n = _check_n(n, "make_circles", 2)
    noise = _check_nonneg(noise, "noise", "make_circles")
    if not isinstance(factor, (int, float, np.number)) or not 0 <= factor < 1:
        raise ValueError(f"make_circles: factor must be in [0, 1), got {factor!r}")
    rng = _rng(seed, "make_circles")
    n_outer, n_inner = n // 2, n - n // 2  # scikit-learn's split, odd sample inside
    t_out = np.linspace(0, 2 * np.pi, n_outer, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_inner, endpoint=False)
    points = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                             factor * np.stack([np.cos(t_in), np.sin(t_in)], 1)])
    labels = np.repeat([0, 1], [n_outer, n_inner])
    return _finish(points, labels, noise, shuffle, rng)


def make_moons(n: int = 200, noise: float = 0.0, seed: Seed = None, shuffle: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: label 0 on (cos t, sin t), label 1 on
    (1 - cos t, 1/2 - sin t), t in [0, pi].

    Example:
        >>> X, y = make_moons(10, seed=0, shuffle=False)
        >>> X[0].tolist(), X[5].tolist()
        ([1.0, 0.0], [0.0, 0.5])
    """
    n = _check_n(n, "make_moons", 2)
    noise = _check_nonneg(noise, "noise", "make_moons")
    rng = _rng(seed, "make_moons")
    n_upper, n_lower = n // 2, n - n // 2  # scikit-learn's split
    t_up = np.linspace(0, np.pi, n_upper)
    t_low = np.linspace(0, np.pi, n_lower)
    points = np.concatenate([np.stack([np.cos(t_up), np.sin(t_up)], 1),
                             np.stack([1 - np.cos(t_low), 0.5 - np.sin(t_low)], 1)])
    labels = np.repeat([0, 1], [n_upper, n_lower])
    return _finish(points, labels, noise, shuffle, rng)


def make_spirals(n: int = 194, noise: float = 0.0, turns: float = 3.0, seed: Seed = None,
                 shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The two-spirals benchmark of Lang & Witbrock (1988), scaled to radius 1.

    Point i of m on a spiral, with s = i / (m - 1):
    angle = 2 pi turns s, radius r = 1 - (12/13) s, position (r sin(angle), r cos(angle));
    label 0 for that spiral, label 1 for its point reflection (-x, -y). With the defaults
    (n=194, turns=3, noise=0) these are exactly the original 2 x 97 points divided by 6.5
    (radius 6.5 (104 - i) / 104, angle i pi / 16).

    Example:
        >>> X, y = make_spirals(194, shuffle=False)
        >>> X[0].tolist(), X[97].tolist()
        ([0.0, 1.0], [0.0, -1.0])
    """
    n = _check_n(n, "make_spirals", 2)
    noise = _check_nonneg(noise, "noise", "make_spirals")
    if isinstance(turns, bool) or not isinstance(turns, (int, float, np.number)) or not turns > 0:
        raise ValueError(f"make_spirals: turns must be a number > 0, got {turns!r}")
    rng = _rng(seed, "make_spirals")
    parts = []
    for m, sign in zip(_split(n, 2), (1.0, -1.0)):
        s = np.arange(m) / max(m - 1, 1)
        angle = 2 * np.pi * turns * s
        radius = 1 - (12 / 13) * s
        parts.append(sign * np.stack([radius * np.sin(angle), radius * np.cos(angle)], 1))
    labels = np.repeat([0, 1], _split(n, 2))
    return _finish(np.concatenate(parts), labels, noise, shuffle, rng)


def make_blobs(n: int = 200, centers: int | np.ndarray = 3, std: float = 1.0,
               seed: Seed = None, shuffle: bool = True,
               center_box: tuple[float, float] = (-10.0, 10.0)) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs: label k for the points around centre k.

    ``centers`` is a count (centres drawn uniformly in ``center_box`` squared) or an array
    of centres of shape (k, d) (then X is (n, d)). ``std`` is each blob's standard deviation.

    Example:
        >>> X, y = make_blobs(90, centers=[[0, 0], [5, 5], [0, 5]], std=0.5, seed=0)
        >>> X.shape, np.bincount(y).tolist()
        ((90, 2), [30, 30, 30])
    """
    n = _check_n(n, "make_blobs")
    std = _check_nonneg(std, "std", "make_blobs")
    rng = _rng(seed, "make_blobs")
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        if centers < 1:
            raise ValueError(f"make_blobs: centers must be >= 1, got {centers}")
        low, high = center_box
        centre_array = rng.uniform(low, high, size=(int(centers), 2))
    else:
        centre_array = np.asarray(centers, dtype=np.float64)
        if centre_array.ndim != 2 or len(centre_array) == 0:
            raise ValueError(f"make_blobs: centers must be an int or an array of shape (k, d), "
                             f"got shape {centre_array.shape}")
    counts = _split(n, len(centre_array))
    points = np.repeat(centre_array, counts, axis=0)
    labels = np.repeat(np.arange(len(centre_array)), counts)
    return _finish(points, labels, std, shuffle, rng)


def make_plane(n: int = 200, noise: float = 0.0, seed: Seed = None, shuffle: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """Regression on a tilted plane: X uniform in [-1, 1]^2, target y = (x1 + x2) / 2, so y
    lies in [-1, 1] (a network without hidden layers fits it exactly).

    Example:
        >>> X, y = make_plane(100, seed=0)
        >>> X.shape, y.dtype, bool(abs(y - X.sum(1) / 2).max() < 1e-6)
        ((100, 2), dtype('float32'), True)
    """
    n = _check_n(n, "make_plane")
    noise = _check_nonneg(noise, "noise", "make_plane")
    rng = _rng(seed, "make_plane")
    points = rng.uniform(-1.0, 1.0, size=(n, 2))
    return _finish(points, points.sum(axis=1) / 2, noise, shuffle, rng, np.float32)


# (centre x, centre y, sign) of each bump: three up, three down, in a checkerboard.
_BUMPS = np.array([[-2 / 3, 5 / 12, 1], [0, 5 / 12, -1], [2 / 3, 5 / 12, 1],
                   [-2 / 3, -5 / 12, -1], [0, -5 / 12, 1], [2 / 3, -5 / 12, -1]])
_BUMP_WIDTH = 0.2


def make_gaussian_bumps(n: int = 200, noise: float = 0.0, seed: Seed = None,
                        shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Regression on six Gaussian bumps: X uniform in [-1, 1]^2 and
    y = sum_k s_k exp(-|x - c_k|^2 / (2 * 0.2^2)) with three bumps up (s_k = +1) and three
    down (s_k = -1) in a checkerboard on a 3 x 2 grid of centres c_k; y lies in [-1, 1].

    Example:
        >>> X, y = make_gaussian_bumps(500, seed=0)
        >>> bool(-1.01 < y.min() < -0.5 and 0.5 < y.max() < 1.01)
        True
    """
    n = _check_n(n, "make_gaussian_bumps")
    noise = _check_nonneg(noise, "noise", "make_gaussian_bumps")
    rng = _rng(seed, "make_gaussian_bumps")
    points = rng.uniform(-1.0, 1.0, size=(n, 2))
    sq_dist = ((points[:, None, :] - _BUMPS[None, :, :2]) ** 2).sum(axis=2)
    target = (_BUMPS[:, 2] * np.exp(-sq_dist / (2 * _BUMP_WIDTH ** 2))).sum(axis=1)
    return _finish(points, target, noise, shuffle, rng, np.float32)


def make_sine(n: int = 200, noise: float = 0.1, seed: Seed = None,
              x_range: tuple[float, float] = (-3.0, 3.0)) -> tuple[np.ndarray, np.ndarray]:
    """A noisy sine curve, the first regression a learner can see: x drawn uniformly from
    ``x_range``, y = sin(x) + noise * N(0, 1). A straight line cannot follow it (its best
    R^2 over (-3, 3) is about 0.7); one hidden layer of a few tanh units can.

    Example:
        >>> X, y = make_sine(100, noise=0.0, seed=0)
        >>> X.shape, y.dtype, bool(np.allclose(y, np.sin(X[:, 0]), atol=1e-6))
        ((100, 1), dtype('float32'), True)
    """
    n = _check_n(n, "make_sine")
    noise = _check_nonneg(noise, "noise", "make_sine")
    low, high = (float(v) for v in x_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"make_sine: x_range must be two finite numbers (low, high) with "
                         f"low < high, got {x_range!r}")
    rng = _rng(seed, "make_sine")
    x = rng.uniform(low, high, size=n)
    # Drawn even when noise is 0, as in the classification sets: one seed, same x.
    y = np.sin(x) + rng.normal(0.0, noise, size=n)
    return x[:, None].astype(np.float32), y.astype(np.float32)
