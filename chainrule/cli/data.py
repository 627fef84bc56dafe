"""Data for the ``chainrule`` command: named data sets, user files, splits and preprocessing
(reading one image file for ``predict`` is in :mod:`chainrule.cli.images`).

A run's data is described by a JSON-friendly *spec* (stored in its config), so ``evaluate``
and ``predict`` rebuild exactly the same test split and preprocessing from a checkpoint:

    {"name": "sonar", "test_split": 0.2, "val_split": 0.2, "split_seed": 0}

Splits use their own generator seeded with ``split_seed`` (never the global one), so they
do not depend on what else drew random numbers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.cli.errors import UserError
from chainrule.cli.inputs import input_file, reading
from chainrule.data import datasets, expand_features, generated, load_csv, load_idx_pair

# Named data sets: the shipped files and the generated 2-D problems.
SHIPPED = ("mnist", "sonar", "ionosphere")
GENERATED = {"spirals": (generated.make_spirals, {"noise": 0.02, "turns": 2.0}, 1000),
             "xor": (generated.make_xor, {"noise": 0.2}, 800),
             "moons": (generated.make_moons, {"noise": 0.15}, 800),
             "circles": (generated.make_circles, {"noise": 0.08, "factor": 0.5}, 800)}
TEXT = {"shakespeare": {"seq_len": 32, "windows": 20000, "test_windows": 2000}}
NAMES = SHIPPED + tuple(GENERATED) + tuple(TEXT)


@dataclass
class Raw:
    """A data set before preprocessing: features as read, labels as class indices."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    kind: str  # "image" (N, H, W) pixels, "tabular" (N, F) or "text" (N, T) character ids
    vocab: list[str] | None = None  # text: the characters, in id order


@dataclass
class Prepared:
    """Model-ready float32 arrays (shape ``(N, *input_shape)``) and the preprocessing used."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray
    preprocessing: dict[str, Any]
    class_names: list[str]


# ------------------------------------------------------------------------- spec
def make_spec(data: str, seed: int, val_split: float, test_split: float = 0.2,
              idx: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The data section of a run's config, checking what the user gave."""
    for name, value in (("--val-split", val_split), ("test split", test_split)):
        if not 0.0 <= value < 1.0:
            raise UserError(f"{name} must be in [0, 1), got {value}")
    spec: dict[str, Any] = {"val_split": float(val_split), "test_split": float(test_split),
                            "split_seed": int(seed)}
    idx = {k: v for k, v in (idx or {}).items() if v}
    if idx:
        if "images" not in idx or "labels" not in idx:
            raise UserError("IDX data needs both --idx-images and --idx-labels")
        if ("test_images" in idx) != ("test_labels" in idx):
            raise UserError("give both --idx-test-images and --idx-test-labels, or neither")
        for v in idx.values():
            input_file(v, "IDX file")
        spec.update(name="idx", **{k: os.path.abspath(v) for k, v in idx.items()})
        return spec
    if data in NAMES:
        spec["name"] = data
        spec.update(TEXT.get(data, {}))
        return spec
    if os.path.splitext(data)[1] or os.sep in data or os.path.exists(data):
        input_file(data, "data file")
        spec.update(name="csv", path=os.path.abspath(data))
        return spec
    raise UserError(f"unknown --data {data!r}; choose from {', '.join(NAMES)}, or give a CSV "
                    f"file path (or IDX files with --idx-images/--idx-labels)")


def describe(spec: dict[str, Any]) -> str:
    """A short name for run folders and messages: ``mnist``, ``mydata`` (from mydata.csv)."""
    if spec["name"] == "csv":
        return os.path.splitext(os.path.basename(spec["path"]))[0] or "csv"
    if spec["name"] == "idx":
        return os.path.basename(spec["images"]).split(".")[0] or "idx"
    return spec["name"]


# ----------------------------------------------------------------------- loading
def _holdout(n: int, fraction: float, seed: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): a seeded random ``fraction`` of ``n`` held out."""
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    order = np.random.default_rng([seed, salt]).permutation(n)
    k = max(1, int(round(n * fraction)))
    if k >= n:
        raise UserError(f"cannot hold out {fraction:.0%} of {n} samples and keep some to train on")
    return np.sort(order[k:]), np.sort(order[:k])


def _class_indices(y: np.ndarray, names: list[str] | None, source: str) -> tuple[np.ndarray, list[str]]:
    """Labels as indices 0..K-1 plus the class names."""
    if names is not None:
        return y.astype(np.int64), list(names)
    if y.dtype.kind == "f":
        raise UserError(f"{source}: the labels are fractional numbers (a regression target); "
                        f"chainrule train does classification, so labels must be classes")
    values = np.unique(y)
    if np.array_equal(values, np.arange(values.size)):  # already 0..K-1
        return y.astype(np.int64), [str(v) for v in range(values.size)]
    # Arbitrary integer codes (say 3 and 7): index them in sorted order.
    return np.searchsorted(values, y).astype(np.int64), [str(v) for v in values.tolist()]


def _split_test(X, y, spec, names, kind) -> Raw:
    keep, test = _holdout(len(y), spec["test_split"], spec["split_seed"], 1)
    if len(test) == 0:
        raise UserError(f"{describe(spec)} has no test split of its own; use a test split > 0")
    return Raw(X[keep], y[keep], X[test], y[test], names, kind)


def load_raw(spec: dict[str, Any]) -> Raw:
    """Read the data a spec names, with its test split."""
    name = spec["name"]
    if name == "mnist":
        X_tr, y_tr = datasets.load_mnist("train")
        X_te, y_te = datasets.load_mnist("test")
        return Raw(X_tr, y_tr, X_te, y_te, [str(d) for d in range(10)], "image")
    if name in ("sonar", "ionosphere"):
        X, y, names = datasets.load_sonar() if name == "sonar" else datasets.load_ionosphere()
        return _split_test(X, y, spec, names, "tabular")
    if name in GENERATED:
        make, kwargs, n = GENERATED[name]
        X, y = make(n, seed=spec["split_seed"], **kwargs)
        return _split_test(X, y, spec, ["0", "1"], "tabular")
    if name in TEXT:
        return _char_windows(datasets.load_shakespeare(), spec)
    if name == "csv":
        path = input_file(spec["path"], "data file")
        with reading(path, "data file"):
            X, y, names = load_csv(path, label_column=-1)
        if X.shape[1] == 0:
            raise UserError(f"{path}: needs feature columns before the label column")
        if "test_path" in spec:   # a test file of its own (the playground's exports)
            test_path = input_file(spec["test_path"], "data file")
            with reading(test_path, "data file"):
                X_te, y_te, names_te = load_csv(test_path, label_column=-1)
            if X_te.shape[1] != X.shape[1] or names_te != names:
                raise UserError(f"{spec['test_path']} does not have the columns and classes "
                                f"of {path}")
            if spec.get("task") == "regression":
                return Raw(X, y.astype(np.float32), X_te, y_te.astype(np.float32), ["value"],
                           "tabular")
            both, names = _class_indices(np.concatenate([y, y_te]), names, path)
            return Raw(X, both[:len(y)], X_te, both[len(y):], names, "tabular")
        y, names = _class_indices(y, names, path)
        if len(names) < 2:
            raise UserError(f"{path}: the label column has a single class {names}; need >= 2")
        return _split_test(X, y, spec, names, "tabular")
    if name == "idx":
        for key in ("images", "labels", "test_images", "test_labels"):
            if key in spec:
                input_file(spec[key], "IDX file")
        X, y = load_idx_pair(spec["images"], spec["labels"])
        kind = "image" if X.ndim == 3 else "tabular"
        if X.ndim not in (2, 3):
            raise UserError(f"{spec['images']}: expected images (N, H, W) or rows (N, F), got "
                            f"shape {X.shape}")
        if "test_images" in spec:
            X_te, y_te = load_idx_pair(spec["test_images"], spec["test_labels"])
            if X_te.shape[1:] != X.shape[1:]:
                raise UserError(f"IDX test images have shape {X_te.shape[1:]} per sample, the "
                                f"training images {X.shape[1:]}")
            both, names = _class_indices(np.concatenate([y, y_te]), None, spec["labels"])
            return Raw(X, both[:len(y)], X_te, both[len(y):], names, kind)
        y, names = _class_indices(y, None, spec["labels"])
        return _split_test(X, y, spec, names, kind)
    raise UserError(f"unknown data set {name!r} in the run's config")


def _display_char(c: str) -> str:
    return {"\n": "\\n", " ": "space", "\t": "\\t"}.get(c, c)


def _char_windows(text: str, spec: dict[str, Any]) -> Raw:
    """Next-character prediction: windows of ``seq_len`` character ids, each labelled with
    the character that follows. Training windows start in the first 90% of the text, test
    windows in the last 10%, so no test character was seen in training."""
    T = spec["seq_len"]
    corpus = datasets.CharDataset(text, block_size=T)
    chars, ids = corpus.chars, corpus.ids
    cut = int(len(ids) * 0.9)
    rng = np.random.default_rng([spec["split_seed"], 3])

    def windows(lo: int, hi: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        starts = rng.integers(lo, hi - T, size=n)
        return ids[starts[:, None] + np.arange(T)], ids[starts + T]

    X_tr, y_tr = windows(0, cut, spec["windows"])
    X_te, y_te = windows(cut, len(ids), spec["test_windows"])
    return Raw(X_tr, y_tr, X_te, y_te, [_display_char(c) for c in chars], "text", chars)


# ------------------------------------------------------------------ preprocessing
def fit_preprocessing(X: np.ndarray, kind: str, vocab: list[str] | None = None) -> dict[str, Any]:
    """Standardisation fitted on training inputs: one mean/std over all pixels for images
    (after scaling uint8 to [0, 1]), one per column for tables (constant columns keep
    std 1, so they become 0 instead of NaN). Text keeps its character ids and records the
    vocabulary."""
    if kind == "text":
        return {"kind": "text", "vocab": list(vocab), "input_shape": [int(X.shape[1])]}
    scale = 1.0 / 255.0 if X.dtype == np.uint8 else 1.0
    Xs = X.astype(np.float64) * scale
    if kind == "image":
        return {"kind": "image", "scale": scale, "mean": float(Xs.mean()),
                "std": float(Xs.std()) or 1.0, "input_shape": [1, *X.shape[1:]]}
    std = Xs.std(axis=0)
    std[std < 1e-12] = 1.0
    return {"kind": "tabular", "scale": scale, "mean": Xs.mean(axis=0).tolist(),
            "std": std.tolist(), "input_shape": [int(X.shape[1])]}


def apply_preprocessing(X: np.ndarray, prep: dict[str, Any], source: str = "input") -> np.ndarray:
    """Scale, standardise and reshape raw inputs exactly as the model was trained."""
    shape = tuple(prep["input_shape"])
    per_sample = int(np.prod(shape))
    X = np.asarray(X)
    if prep["kind"] == "text":
        if X.ndim != 2 or X.shape[1] != shape[0]:
            raise UserError(f"{source}: the model reads windows of {shape[0]} characters, got "
                            f"shape {X.shape}")
        return X.astype(np.int64)
    if prep.get("features"):
        # Points (x1, x2), standardised, then expanded into the model's input features.
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise UserError(f"{source}: the model reads points (x1, x2), 2 values per sample; "
                            f"the data has sample shape {X.shape[1:]}")
        Z = (X * prep["scale"] - np.asarray(prep["mean"])) / np.asarray(prep["std"])
        return expand_features(Z, prep["features"]).astype(np.float32)
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != per_sample:
        got = int(np.prod(X.shape[1:])) if X.ndim >= 2 else 1
        raise UserError(f"{source}: the model expects {per_sample} values per sample "
                        f"({'features' if prep['kind'] == 'tabular' else f'pixels, images of shape {shape[1:]}'}"
                        f"), but the data has {got} (sample shape {X.shape[1:]})")
    mean = np.asarray(prep["mean"], dtype=np.float64)
    std = np.asarray(prep["std"], dtype=np.float64)
    flat = X.reshape(len(X), per_sample).astype(np.float64) * prep["scale"]
    if prep["kind"] == "tabular":
        flat = (flat - mean) / std
    else:
        flat = (flat - float(mean)) / float(std)
    return flat.astype(np.float32).reshape((len(X),) + shape)


def prepare(spec: dict[str, Any], preprocessing: dict[str, Any] | None = None) -> Prepared:
    """Load, split (train / validation / test) and preprocess. With ``preprocessing`` given
    (from a checkpoint) it is applied instead of being fitted on the training part."""
    raw = load_raw(spec)
    keep, val = _holdout(len(raw.y_train), spec["val_split"], spec["split_seed"], 2)
    X_tr, y_tr = raw.X_train[keep], raw.y_train[keep]
    prep = preprocessing or fit_preprocessing(X_tr, raw.kind, raw.vocab)
    src = describe(spec)
    out = Prepared(apply_preprocessing(X_tr, prep, src), y_tr, None, None,
                   apply_preprocessing(raw.X_test, prep, src), raw.y_test, prep, raw.class_names)
    if len(val):
        out.X_val, out.y_val = apply_preprocessing(raw.X_train[val], prep, src), raw.y_train[val]
    return out


# ---------------------------------------------------------------------- inputs
def read_text_window(path: str, prep: dict[str, Any]) -> tuple[np.ndarray, str]:
    """The last ``seq_len`` characters of a text file as ids ``(1, T)``, and that text."""
    T, vocab = prep["input_shape"][0], prep["vocab"]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text ({e})") from None
    if len(text) < T:
        raise UserError(f"{path} has {len(text)} characters; the model needs at least {T}")
    window = text[-T:]
    unknown = sorted(set(window) - set(vocab))
    if unknown:
        raise UserError(f"{path}: characters {unknown} are not in the model's vocabulary")
    index = {c: i for i, c in enumerate(vocab)}
    return np.array([[index[c] for c in window]], dtype=np.int64), window


def read_feature_rows(path: str, prep: dict[str, Any]) -> np.ndarray:
    """Rows of features from a CSV (no label column; a header row is allowed)."""
    try:
        X, _, _ = load_csv(path, label_column=None)
    except ValueError as e:
        raise UserError(f"{e} (predict reads rows of {int(np.prod(prep['input_shape']))} numeric "
                        f"features, without a label column)") from None
    width = 2 if prep.get("features") else prep["input_shape"][0]   # features: points (x1, x2)
    if prep["kind"] == "tabular" and X.shape[1] != width:
        raise UserError(f"{path} has {X.shape[1]} columns, but the model expects "
                        f"{width} features (one per column, no label column)")
    return X
