"""Data for the ``chainrule`` command: named data sets, user files, splits and preprocessing
(reading a user's CSV and IDX files is in :mod:`chainrule.cli.tables`, one image file for
``predict`` in :mod:`chainrule.cli.images`).

A run's data is described by a JSON-friendly *spec* (stored in its config), so ``evaluate``
and ``predict`` rebuild exactly the same test split and preprocessing from a checkpoint:

    {"name": "sonar", "test_split": 0.2, "val_split": 0.2, "split_seed": 0,
     "task": "classification", "target": null, "missing": "error"}

Splits use their own generator seeded with ``split_seed`` (never the global one), so they
do not depend on what else drew random numbers. ``task`` is None in a new spec whose data
decides it (a CSV or IDX labels); the run stores the task found.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.cli import tables
from chainrule.cli.errors import UserError
from chainrule.cli.inputs import input_file, reading
from chainrule.cli.targets import TASKS, fit_target_scaling, to_model_units
from chainrule.data import datasets, expand_features, generated, load_idx_pair

# Named data sets: the shipped files, the generated problems (2-D classes, a 1-D curve).
SHIPPED = ("mnist", "sonar", "ionosphere", "diabetes")
GENERATED = {"spirals": (generated.make_spirals, {"noise": 0.02, "turns": 2.0}, 1000),
             "xor": (generated.make_xor, {"noise": 0.2}, 800),
             "moons": (generated.make_moons, {"noise": 0.15}, 800),
             "circles": (generated.make_circles, {"noise": 0.08, "factor": 0.5}, 800),
             "sine": (generated.make_sine, {"noise": 0.1}, 500)}
TEXT = {"shakespeare": {"seq_len": 32, "windows": 20000, "test_windows": 2000}}
NAMES = SHIPPED + tuple(GENERATED) + tuple(TEXT)
REGRESSION = ("diabetes", "sine")  # the named sets with numeric targets
# Named sets that split the same way whatever --seed says, so every run (and the
# least-squares baseline in the docs) is measured on the same test rows.
FIXED_SPLIT_SEED = {"diabetes": 0}


@dataclass
class Raw:
    """A data set before preprocessing: features as read, labels as class indices
    (classification) or float64 targets of shape (N, K) in their own units (regression)."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    kind: str  # "image" (N, H, W) pixels, "tabular" (N, F) or "text" (N, T) character ids
    vocab: list[str] | None = None  # text: the characters, in id order
    task: str = "classification"
    target_names: list[str] | None = None  # regression: one name per target column
    reason: str = ""  # why the task was chosen, when the data decided it
    notes: list[str] = field(default_factory=list)  # what was done to the rows
    target_columns: list[int] | None = None  # a CSV's target columns (from 0)


@dataclass
class Prepared:
    """Model-ready float32 arrays (shape ``(N, *input_shape)``; regression targets
    standardised, shape (N, K)) and the preprocessing used."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray
    preprocessing: dict[str, Any]
    class_names: list[str]
    task: str = "classification"
    target_names: list[str] | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    target_columns: list[int] | None = None


# ------------------------------------------------------------------------- spec
def make_spec(data: str, seed: int, val_split: float, test_split: float = 0.2,
              idx: dict[str, str | None] | None = None, task: str | None = None,
              target: list[str] | None = None, missing: str = "error") -> dict[str, Any]:
    """The data section of a run's config, checking what the user gave. ``task`` None
    lets a user's data decide; ``target`` names a CSV's target columns (default: the last)."""
    for name, value in (("--val-split", val_split), ("test split", test_split)):
        if not 0.0 <= value < 1.0:
            raise UserError(f"{name} must be in [0, 1), got {value}")
    if task is not None and task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if missing not in tables.MISSING:
        raise UserError(f"--missing must be one of {', '.join(tables.MISSING)}, got {missing!r}")
    spec: dict[str, Any] = {"val_split": float(val_split), "test_split": float(test_split),
                            "split_seed": int(seed), "task": task, "target": target,
                            "missing": missing}
    idx = {k: v for k, v in (idx or {}).items() if v}
    if idx:
        if "images" not in idx or "labels" not in idx:
            raise UserError("IDX data needs both --idx-images and --idx-labels")
        if ("test_images" in idx) != ("test_labels" in idx):
            raise UserError("give both --idx-test-images and --idx-test-labels, or neither")
        if target is not None:
            raise UserError("--target picks columns of a CSV file; IDX labels come from "
                            "--idx-labels")
        for v in idx.values():
            input_file(v, "IDX file")
        spec.update(name="idx", **{k: os.path.abspath(v) for k, v in idx.items()})
        return spec
    if data in NAMES:
        if target is not None:
            raise UserError(f"--target picks columns of a CSV file; --data {data} has its own")
        own = "regression" if data in REGRESSION else "classification"
        if task is not None and task != own:
            raise UserError(f"--data {data} is a {own} set; --task {task} needs data with "
                            f"{'numeric targets (diabetes, sine or a CSV)' if task == 'regression' else 'classes'}")
        spec.update(name=data, task=own, split_seed=FIXED_SPLIT_SEED.get(data, int(seed)))
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


def _split_test(X, y, spec, names, kind, **extra) -> Raw:
    keep, test = _holdout(len(y), spec["test_split"], spec["split_seed"], 1)
    if len(test) == 0:
        raise UserError(f"{describe(spec)} has no test split of its own; use a test split > 0")
    return Raw(X[keep], y[keep], X[test], y[test], names, kind, **extra)


def _task(spec: dict[str, Any]) -> str | None:
    """The spec's task; a run saved before regression existed was a classifier."""
    return spec["task"] if "task" in spec else "classification"


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
    if name == "diabetes":
        X, y, _ = datasets.load_diabetes()
        return _split_test(X, y.astype(np.float64)[:, None], spec, [], "tabular",
                           task="regression", target_names=["Y"])
    if name in GENERATED:
        make, kwargs, n = GENERATED[name]
        X, y = make(n, seed=spec["split_seed"], **kwargs)
        if name in REGRESSION:
            return _split_test(X, y.astype(np.float64)[:, None], spec, [], "tabular",
                               task="regression", target_names=["y"])
        return _split_test(X, y, spec, ["0", "1"], "tabular")
    if name in TEXT:
        return _char_windows(datasets.load_shakespeare(), spec)
    if name == "csv":
        return _load_csv(spec)
    if name == "idx":
        return _load_idx(spec)
    raise UserError(f"unknown data set {name!r} in the run's config")


def _load_csv(spec: dict[str, Any]) -> Raw:
    """A user's CSV, split here, or with a test file of its own (``test_path``: the
    playground's exports), read with the same task and target columns."""
    path = input_file(spec["path"], "data file")
    with reading(path, "data file"):
        table = tables.read_csv_table(path, _task(spec), spec.get("target"),
                                      spec.get("missing", "error"))
    labels = table.labels
    if labels.task == "classification" and len(labels.class_names) < 2 \
            and "test_path" not in spec:
        raise UserError(f"{spec['path']}: the label column has a single class "
                        f"{labels.class_names}; need >= 2")
    extra = dict(task=labels.task, target_names=labels.target_names, reason=labels.reason,
                 notes=table.notes, target_columns=table.target_columns)
    if "test_path" not in spec:
        return _split_test(table.X, labels.y, spec, labels.class_names or [], "tabular",
                           **extra)
    test_path = input_file(spec["test_path"], "data file")
    with reading(test_path, "data file"):
        test = tables.read_csv_table(test_path, labels.task, spec.get("target"),
                                     spec.get("missing", "error"))
    if test.X.shape[1] != table.X.shape[1]:
        raise UserError(f"{spec['test_path']} has {test.X.shape[1]} feature columns, "
                        f"{spec['path']} {table.X.shape[1]}")
    y_test = test.labels.y
    names = labels.class_names
    if labels.task == "classification":  # the test file's classes by name, in train's order
        unknown = sorted(set(test.labels.class_names) - set(names))
        if unknown:
            raise UserError(f"{spec['test_path']} has classes {unknown} that {spec['path']} "
                            f"does not have")
        y_test = np.array([names.index(test.labels.class_names[k]) for k in y_test],
                          dtype=np.int64)
    return Raw(table.X, labels.y, test.X, y_test, names or [], "tabular", **extra)


def _idx_pair(images: str, labels: str, missing: str) -> tuple[np.ndarray, np.ndarray, int]:
    """An IDX pair with non-finite items refused or dropped; also how many were dropped."""
    X, y = load_idx_pair(images, labels)
    keep = tables.finite_items(X, images, missing, "values") & \
        tables.finite_items(y, labels, missing, "labels")
    return X[keep], y[keep], int((~keep).sum())


def _load_idx(spec: dict[str, Any]) -> Raw:
    for key in ("images", "labels", "test_images", "test_labels"):
        if key in spec:
            input_file(spec[key], "IDX file")
    missing = spec.get("missing", "error")
    X, y, dropped = _idx_pair(spec["images"], spec["labels"], missing)
    kind = "image" if X.ndim == 3 else "tabular"
    if X.ndim not in (2, 3):
        raise UserError(f"{spec['images']}: expected images (N, H, W) or rows (N, F), got "
                        f"shape {X.shape}")
    n_train = len(y)
    if "test_images" in spec:
        X_te, y_te, dropped_te = _idx_pair(spec["test_images"], spec["test_labels"], missing)
        dropped += dropped_te
        if X_te.shape[1:] != X.shape[1:]:
            raise UserError(f"IDX test images have shape {X_te.shape[1:]} per sample, the "
                            f"training images {X.shape[1:]}")
        y = np.concatenate([y, y_te])
    labels = tables.resolve_labels(y, None, _task(spec), spec["labels"], ["label"])
    notes = [f"dropped {dropped} IDX items with non-finite values"] if dropped else []
    extra = dict(task=labels.task, target_names=labels.target_names, reason=labels.reason,
                 notes=notes)
    names = labels.class_names or []
    if "test_images" in spec:
        return Raw(X, labels.y[:n_train], X_te, labels.y[n_train:], names, kind, **extra)
    return _split_test(X, labels.y, spec, names, kind, **extra)


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
def fit_preprocessing(X: np.ndarray, kind: str, vocab: list[str] | None = None,
                      missing: str = "error") -> dict[str, Any]:
    """Standardisation fitted on training inputs: one mean/std over all pixels for images
    (after scaling uint8 to [0, 1]), one per column for tables (constant columns keep
    std 1, so they become 0 instead of NaN). Text keeps its character ids and records the
    vocabulary. With ``missing`` "mean" or "zero" the preprocessing also holds ``fill``,
    the value each missing input takes (the training rows' column mean, or 0; for images
    one value for every pixel), applied before scaling."""
    if kind == "text":
        return {"kind": "text", "vocab": list(vocab), "input_shape": [int(X.shape[1])]}
    scale = 1.0 / 255.0 if X.dtype == np.uint8 else 1.0
    Xs = X.astype(np.float64).reshape(len(X), -1)
    fill = None
    if missing in ("mean", "zero"):
        finite = np.isfinite(Xs)
        if missing == "zero":
            fill = np.zeros(Xs.shape[1] if kind == "tabular" else 1)
        elif kind == "tabular":
            counts = finite.sum(axis=0)
            fill = np.where(finite, Xs, 0.0).sum(axis=0) / np.maximum(counts, 1)
        else:
            fill = np.array([Xs[finite].mean() if finite.any() else 0.0])
        Xs = np.where(finite, Xs, fill if kind == "tabular" else fill[0])
    Xs = Xs * scale
    if kind == "image":
        prep = {"kind": "image", "scale": scale, "mean": float(Xs.mean()),
                "std": float(Xs.std()) or 1.0, "input_shape": [1, *X.shape[1:]]}
        if fill is not None:
            prep["fill"] = float(fill[0])
        return prep
    std = Xs.std(axis=0)
    std[std < 1e-12] = 1.0
    prep = {"kind": "tabular", "scale": scale, "mean": Xs.mean(axis=0).tolist(),
            "std": std.tolist(), "input_shape": [int(X.shape[1])]}
    if fill is not None:
        prep["fill"] = fill.tolist()
    return prep


def _where(index: int, per_sample: int) -> str:
    """``sample 3, value 7`` (from 1) for a flat index into (N, per_sample)."""
    sample, value = divmod(index, per_sample)
    return f"sample {sample + 1}, value {value + 1} of {per_sample}"


def apply_preprocessing(X: np.ndarray, prep: dict[str, Any], source: str = "input") -> np.ndarray:
    """Fill, scale, standardise and reshape raw inputs exactly as the model was trained.
    A non-finite input is an error (naming the sample) unless the run fills them."""
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
    flat = X.reshape(len(X), per_sample).astype(np.float64)
    finite = np.isfinite(flat)
    if not finite.all():
        if prep.get("fill") is None:
            bad = int(np.argmax(~finite.ravel()))
            raise UserError(f"{source}: {_where(bad, per_sample)} is "
                            f"{flat.ravel()[bad]}; the model needs finite inputs (its run was "
                            f"trained without --missing mean|zero)")
        flat = np.where(finite, flat, np.asarray(prep["fill"], dtype=np.float64))
    flat = flat * prep["scale"]
    if prep["kind"] == "tabular":
        flat = (flat - mean) / std
    else:
        flat = (flat - float(mean)) / float(std)
    return flat.astype(np.float32).reshape((len(X),) + shape)


def prepare(spec: dict[str, Any], preprocessing: dict[str, Any] | None = None) -> Prepared:
    """Load, split (train / validation / test) and preprocess. With ``preprocessing`` given
    (from a checkpoint) it is applied instead of being fitted on the training part.
    Regression targets are standardised with the training rows' mean and std (kept in the
    preprocessing as ``targets``)."""
    raw = load_raw(spec)
    keep, val = _holdout(len(raw.y_train), spec["val_split"], spec["split_seed"], 2)
    X_tr, y_tr = raw.X_train[keep], raw.y_train[keep]
    src = describe(spec)
    prep = preprocessing
    if prep is None:
        prep = fit_preprocessing(X_tr, raw.kind, raw.vocab, spec.get("missing", "error"))
        if raw.task == "regression":
            prep["targets"] = fit_target_scaling(y_tr, raw.target_names, src)
    notes = list(raw.notes)
    missing_cells = sum(int(np.isnan(a).sum()) for a in (raw.X_train, raw.X_test)
                        if a.dtype.kind == "f")
    if missing_cells and prep.get("fill") is not None:
        how = "0" if spec.get("missing") == "zero" else "the training rows' column means"
        notes.append(f"filled {missing_cells} missing or non-finite input values with {how}")

    def targets(y: np.ndarray) -> np.ndarray:
        if raw.task != "regression":
            return y
        if "targets" in prep:
            return to_model_units(y, prep["targets"])
        # A run trained on targets as they are (the playground's exports).
        return np.asarray(y, dtype=np.float32).reshape(len(y), -1)

    out = Prepared(apply_preprocessing(X_tr, prep, src), targets(y_tr), None, None,
                   apply_preprocessing(raw.X_test, prep, src), targets(raw.y_test), prep,
                   raw.class_names, raw.task, raw.target_names, raw.reason, notes,
                   raw.target_columns)
    if len(val):
        out.X_val = apply_preprocessing(raw.X_train[val], prep, src)
        out.y_val = targets(raw.y_train[val])
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
