"""The data of a playground session: points, labels, the train/test split and the input
features the network sees.

Generated sets come from :mod:`chainrule.data.generated` (with the generator call kept, so
an exported script regenerates the very same points); a CSV upload is read with
:func:`chainrule.data.load_csv`. The points are standardised with the training points'
mean and standard deviation, and the page draws them in those units, so the inputs a
derivation shows are the coordinates on the heatmap (and their features).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from chainrule.data import generated, load_csv
from chainrule.data.features import expand_features
from chainrule.playground.settings import NUM_POINTS, Settings, SettingsError

MAX_UPLOAD_BYTES = 512 * 1024     # a CSV upload larger than this is refused
MAX_UPLOAD_ROWS = 5000


def generator_call(settings: Settings) -> tuple[str, dict]:
    """The :mod:`chainrule.data.generated` function and its arguments for a named set (the
    exported script writes the same call)."""
    n, noise, seed = NUM_POINTS, float(settings.noise), int(settings.seed)
    calls = {
        "circle": ("make_circles", dict(n=n, noise=noise, factor=0.5, seed=seed)),
        "xor": ("make_xor", dict(n=n, noise=noise, seed=seed)),
        # two Gaussian clusters whose spread grows with the noise setting
        "gaussian": ("make_blobs", dict(n=n, centers=[[0.7, 0.7], [-0.7, -0.7]],
                                        std=round(0.25 + noise, 6), seed=seed)),
        "spiral": ("make_spirals", dict(n=n, noise=noise, turns=1.75, seed=seed)),
        "moons": ("make_moons", dict(n=n, noise=noise, seed=seed)),
        "plane": ("make_plane", dict(n=n, noise=noise, seed=seed)),
        "bumps": ("make_gaussian_bumps", dict(n=n, noise=noise, seed=seed)),
    }
    return calls[settings.dataset]


@dataclass
class Upload:
    """A user's CSV: 2 feature columns and a label column, as read."""
    X: np.ndarray             # (n, 2) float64
    labels: np.ndarray        # (n,) int64 classes (0/1) or float64 targets
    class_names: list[str] | None   # classification: the two classes, in label order
    filename: str


def read_upload(content: bytes, filename: str, problem: str) -> Upload:
    """Check and read an uploaded CSV (``x1,x2,label`` rows, a header row allowed)."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise SettingsError(f"the CSV file is {len(content):,} bytes; the playground takes at "
                            f"most {MAX_UPLOAD_BYTES:,}")
    folder = tempfile.mkdtemp(prefix="chainrule-playground-")
    path = os.path.join(folder, "upload.csv")
    try:
        with open(path, "wb") as f:
            f.write(content)
        try:
            X, y, names = load_csv(path, label_column=-1)
        except (ValueError, UnicodeDecodeError) as e:
            raise SettingsError(str(e).replace(path, filename)) from None
    finally:
        try:
            os.unlink(path)
        finally:
            os.rmdir(folder)
    if X.shape[1] != 2:
        raise SettingsError(f"{filename} has {X.shape[1] + 1} columns; the playground reads "
                            f"3: x1, x2 and the label")
    if not 10 <= len(X) <= MAX_UPLOAD_ROWS:
        raise SettingsError(f"{filename} has {len(X)} rows; the playground takes 10 to "
                            f"{MAX_UPLOAD_ROWS}")
    if not np.all(np.isfinite(X)):
        raise SettingsError(f"{filename} has infinite or NaN coordinates")
    if problem == "regression":
        if names is not None:
            raise SettingsError(f"{filename}: regression needs numeric labels (the target "
                                f"values), found text such as {names[0]!r}")
        labels = y.astype(np.float64)
        if not np.all(np.isfinite(labels)):
            raise SettingsError(f"{filename} has infinite or NaN targets")
        return Upload(X.astype(np.float64), labels, None, filename)
    values = np.unique(y)
    if len(values) != 2:
        raise SettingsError(f"{filename}: classification here is binary, so the label column "
                            f"must hold exactly 2 classes; it holds {len(values)}")
    if y.dtype.kind == "f":
        raise SettingsError(f"{filename}: class labels must be whole numbers or words, found "
                            f"fractions (for targets, choose regression)")
    classes = [names[int(v)] if names is not None else str(v) for v in values.tolist()]
    return Upload(X.astype(np.float64), np.searchsorted(values, y).astype(np.int64), classes,
                  filename)


@dataclass
class Problem:
    """Points, labels and split of one session, standardised with the training points."""
    X: np.ndarray             # (n, 2) raw points, float64
    y: np.ndarray             # (n,) classes 0/1 or regression targets, float64
    train: np.ndarray         # indices of the training points
    test: np.ndarray          # indices of the test points
    mean: np.ndarray          # (2,) of the training points
    std: np.ndarray           # (2,)
    class_names: list[str] | None
    extent: float             # the heatmap shows [-extent, extent]^2 (standardised units)

    @property
    def Z(self) -> np.ndarray:
        """The points in standardised units (what the page draws)."""
        return (self.X - self.mean) / self.std

    def inputs(self, features, points: np.ndarray | None = None) -> np.ndarray:
        """The network's inputs: the features of standardised ``points`` (default: all)."""
        return expand_features(self.Z if points is None else points, features)


def make_problem(settings: Settings, upload: Upload | None = None) -> Problem:
    """The data the settings describe (a CSV upload when ``dataset`` is "csv")."""
    if settings.dataset == "csv":
        if upload is None:
            raise SettingsError("choose a CSV file to upload first (columns x1, x2, label)")
        X, y, names = upload.X, upload.labels.astype(np.float64), upload.class_names
    else:
        name, kwargs = generator_call(settings)
        X, y = getattr(generated, name)(**kwargs)
        X, y = X.astype(np.float64), y.astype(np.float64)
        names = ["0", "1"] if settings.problem == "classification" else None
    order = np.random.default_rng([settings.seed, 1]).permutation(len(X))
    n_train = min(max(1, int(round(len(X) * settings.train_ratio))), len(X) - 1)
    train, test = np.sort(order[:n_train]), np.sort(order[n_train:])
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std[std < 1e-12] = 1.0   # a constant column becomes 0, not NaN
    Z = (X - mean) / std
    extent = float(np.ceil(max(1.0, np.abs(Z).max() * 1.05) * 4) / 4)
    return Problem(X, y, train, test, mean, std, names, extent)


def grid_points(extent: float, size: int) -> np.ndarray:
    """Pixel centres of a ``size`` x ``size`` heatmap over [-extent, extent]^2, row by row
    from the top (x2 high) to the bottom, as an image is drawn."""
    step = 2 * extent / size
    coords = -extent + step * (np.arange(size) + 0.5)
    x1, x2 = np.meshgrid(coords, coords[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)
