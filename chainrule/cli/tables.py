"""A user's own data for the ``chainrule`` command: CSV files (comma, tab or semicolon
separated) and IDX arrays, with the target column(s) chosen by ``--target``, the task told
apart (classes or numbers) and missing or non-finite values refused, dropped or kept for
filling as ``--missing`` says.

Messages number lines, columns and IDX items from 1.
"""
from __future__ import annotations

import csv
import math
import warnings
from typing import NamedTuple

import numpy as np

from chainrule.cli.errors import UserError
from chainrule.cli.targets import TASKS, detect_task, run_scaling
from chainrule.data import MissingValueError, csv_header, load_csv

__all__ = ["MISSING", "Labels", "Table", "sniff_delimiter", "parse_target", "target_columns",
           "read_csv_table", "resolve_labels", "finite_items", "missing_hint",
           "read_prediction_rows"]

# --missing: refuse (the default), drop the rows, or fill the cells with the training
# rows' column mean or with zero (the fill is part of the model's preprocessing).
MISSING = ("error", "drop", "mean", "zero")
_EXACT_WHOLE = 2 ** 53  # float64 holds every whole number up to this one exactly


class Labels(NamedTuple):
    """Labels resolved for a task: int64 class indices (N,) with ``class_names``, or
    float64 targets (N, K) with ``target_names``."""
    y: np.ndarray
    task: str
    class_names: list[str] | None
    target_names: list[str] | None
    reason: str  # why this task, when it was detected rather than given


class Table(NamedTuple):
    """A CSV file read for training: features (NaN where ``--missing mean|zero`` will
    fill), resolved labels, the target columns' places in the file and notes on what was
    done to the rows."""
    X: np.ndarray
    labels: Labels
    target_columns: list[int]
    notes: list[str]


def sniff_delimiter(path: str) -> str:
    """``\\t`` or ``;`` when the first non-blank line holds more of it than commas (a
    tab-separated export, a European spreadsheet's CSV), else ``,``."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if line.strip():
                counts = {d: line.count(d) for d in (",", "\t", ";")}
                best = max(counts, key=counts.get)
                return best if counts[best] > counts[","] else ","
    return ","


def parse_target(text: str | None) -> list[str] | None:
    """``--target NAME[,NAME]``: the names (or column numbers from 1) as a list."""
    if text is None:
        return None
    names = [part.strip() for part in str(text).split(",")]
    if not all(names):
        raise UserError(f"--target: expected column names or numbers separated by commas, "
                        f"got {text!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--target names a column twice: {text!r}")
    return names


def target_columns(path: str, header: list[str] | None, ncols: int,
                   target: list[str] | None) -> list[int]:
    """0-based places of the target columns: by header name or by number (from 1); the
    last column when ``--target`` is not given."""
    if target is None:
        return [ncols - 1]
    columns = []
    for name in target:
        if header is not None and name in header:
            columns.append(header.index(name))
        elif name.isdigit() and 1 <= int(name) <= ncols:
            columns.append(int(name) - 1)
        else:
            known = (f"its columns are {header}" if header is not None
                     else f"it has no header, so give column numbers 1 to {ncols}")
            raise UserError(f"--target {name!r} is not a column of {path}; {known}")
    if len(columns) == ncols:
        raise UserError(f"--target takes every column of {path}; leave at least one feature")
    return columns


def missing_hint(in_label: bool) -> str:
    """What ``--missing`` can do about a missing or non-finite value."""
    if in_label:
        return ("a label or target cannot be filled in: use --missing drop to drop such rows, "
                "or fix the file")
    return "use --missing drop to drop such rows, or --missing mean|zero to fill such cells"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load(path: str, label_column, delimiter: str, numeric: bool, policy: str):
    """load_csv with its missing-value errors in the command's words and its warnings
    (rows dropped) returned as notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            X, y, class_names = load_csv(path, label_column, delimiter=delimiter,
                                         numeric_labels=numeric, missing=policy)
        except MissingValueError as e:
            raise UserError(f"{e.where}: {e.text!r} {e.problem}; {missing_hint(e.in_label)}") \
                from None
    notes = [str(w.message).removeprefix("load_csv: ") for w in caught]
    return X, y, class_names, notes


def _layout(path: str) -> tuple[str, list[str] | None, int]:
    """A delimited file's delimiter, header (or None) and number of columns."""
    delimiter = sniff_delimiter(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            first = next((row for row in csv.reader(f, delimiter=delimiter) if any(row)), [])
    except (csv.Error, UnicodeDecodeError) as e:
        raise UserError(f"{path} could not be read as delimited text: {e}") from None
    return delimiter, csv_header(path, delimiter=delimiter), max(len(first), 1)


def read_csv_table(path: str, task: str | None, target: list[str] | None,
                   missing: str) -> Table:
    """Features and labels of a user's CSV for ``chainrule train`` (``task`` None: detect)."""
    if task is not None and task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    delimiter, header, ncols = _layout(path)
    columns = target_columns(path, header, ncols, target)
    names = [header[c] if header else f"column {c + 1}" for c in columns]
    if task == "classification" and len(columns) > 1:
        raise UserError(f"classification takes one label column; --target names {len(columns)} "
                        f"({', '.join(names)}): use --task regression for several targets")
    several = len(columns) > 1
    label_column = columns if several else columns[0]
    policy = missing if missing in ("error", "drop") else "keep"
    X, y, class_names, notes = _load(path, label_column, delimiter,
                                     task == "regression" or several, policy)
    if X.shape[1] == 0:
        raise UserError(f"{path}: needs feature columns besides the target")
    if task is None and class_names is not None and \
            sum(map(_is_number, class_names)) > len(class_names) / 2:
        # Mostly numbers with a few words: a numeric target with bad cells is likelier than
        # hundreds of classes named "101", "102", ... Name the first word.
        try:
            _load(path, label_column, delimiter, True, policy)
        except (UserError, ValueError) as e:
            raise UserError(f"{str(e).removeprefix('load_csv: ')} (or --task classification to "
                            f"read the labels as class names)") from None
    labels = resolve_labels(y, class_names, task, path, names)
    return Table(X, labels, columns, notes)


def resolve_labels(y: np.ndarray, class_names: list[str] | None, task: str | None,
                   source: str, target_names: list[str]) -> Labels:
    """Labels as the task needs them (``task`` None: :func:`detect_task` decides)."""
    detected, reason = detect_task(y, class_names)
    chosen = task or detected
    reason = reason if task is None else ""
    if chosen == "regression":
        if class_names is not None:
            raise UserError(f"{source}: the labels are text ({', '.join(class_names[:4])}"
                            f"{', ...' if len(class_names) > 4 else ''}), but a regression "
                            f"target must be numeric")
        values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        return Labels(values, "regression", None, list(target_names), reason)
    if class_names is not None:
        return Labels(np.asarray(y, dtype=np.int64), "classification", list(class_names), None,
                      reason)
    if y.ndim == 2:
        raise UserError(f"{source}: classification takes one label column, the labels have "
                        f"{y.shape[1]}; use --task regression")
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        raise UserError(f"{source}: the labels are fractional numbers, which cannot be classes; "
                        f"train a regression (--task regression, or leave --task out)")
    values = np.unique(y)
    inexact = np.abs(values.astype(np.float64)) > _EXACT_WHOLE
    if inexact.any():  # 10**30 reads as 1000000015047466219876688855040: not a class code
        raise UserError(f"{source}: the label {float(values[inexact][0]):g} is too large to "
                        f"be a class (whole numbers are exact only up to 2**53 = "
                        f"{_EXACT_WHOLE:,}); use --task regression if the labels are "
                        f"quantities")
    if np.array_equal(values, np.arange(values.size)):  # already 0..K-1
        return Labels(y.astype(np.int64), "classification",
                      [str(v) for v in range(values.size)], None, reason)
    # Arbitrary codes (say 3 and 7): index them in sorted order.
    names = [str(int(v)) if float(v).is_integer() else str(v) for v in values.tolist()]
    return Labels(np.searchsorted(values, y).astype(np.int64), "classification", names, None,
                  reason)


def _position(index: tuple[int, ...]) -> str:
    """``row 3, column 7`` (from 1) inside one IDX item."""
    if len(index) == 0:
        return "the value"
    if len(index) == 1:
        return f"column {index[0] + 1}"
    if len(index) == 2:
        return f"row {index[0] + 1}, column {index[1] + 1}"
    return "position (" + ", ".join(str(i + 1) for i in index) + ")"


def finite_items(arr: np.ndarray, path: str, missing: str, what: str) -> np.ndarray:
    """A boolean mask of the IDX items to keep. A non-finite value is an error naming its
    item and place (unless ``--missing`` drops such items, or fills features later)."""
    if arr.dtype.kind not in "fc":
        return np.ones(len(arr), dtype=bool)
    bad = ~np.isfinite(arr.reshape(len(arr), -1))
    bad_items = bad.any(axis=1)
    if not bad_items.any():
        return ~bad_items
    is_label = what == "labels"
    if missing == "error" or (is_label and missing != "drop"):
        item = int(np.argmax(bad_items))
        flat = int(np.argmax(bad[item]))
        index = np.unravel_index(flat, arr.shape[1:]) if arr.ndim > 1 else ()
        value = arr.reshape(len(arr), -1)[item, flat]
        kind = "missing (NaN)" if math.isnan(value) else f"not finite ({value})"
        raise UserError(f"{path}: item {item + 1}, {_position(tuple(index))}: the {what[:-1]} "
                        f"is {kind}; {missing_hint(is_label)}")
    if missing == "drop":
        return ~bad_items
    return np.ones(len(arr), dtype=bool)  # mean/zero: features stay NaN until the fill


def read_prediction_rows(path: str, data: dict, prep: dict, class_names: list[str] | None
                         ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows for ``predict``: a CSV of the model's features, or of every column of the
    training file (target columns in their places, else last), whose targets are then
    returned too, as class indices into ``class_names`` or float64 (N, K) values."""
    # A playground model expands points (x1, x2) into its features itself.
    features = 2 if prep.get("features") else int(np.prod(prep["input_shape"]))
    scaling = run_scaling(data, prep)
    regression = scaling is not None
    n_targets = len(scaling["names"]) if regression else 1
    delimiter, _, ncols = _layout(path)
    if ncols == features:
        label_column = None
    elif ncols == features + n_targets:
        columns = data.get("target_columns") or list(range(features, ncols))
        label_column = columns if regression else columns[0]
    else:
        what = ", ".join(scaling["names"]) if regression else "the label"
        raise UserError(f"{path} has {ncols} columns, but the model expects {features} "
                        f"features (one per column), or those and {what} as in its training "
                        f"data ({features + n_targets} columns)")
    try:
        X, y, file_classes = load_csv(path, label_column, delimiter=delimiter,
                                      numeric_labels=regression,
                                      missing="keep" if prep.get("fill") is not None else "error")
    except MissingValueError as e:
        hint = ("every row needs its label or target to be scored" if e.in_label else
                "the model cannot predict from it (its run was trained without --missing "
                "mean|zero, which fills such inputs)")
        raise UserError(f"{e.where}: {e.text!r} {e.problem}; {hint}") from None
    if y is None or regression:
        return X, (None if y is None else np.asarray(y, np.float64).reshape(len(y), -1))
    given = [file_classes[i] for i in y] if file_classes is not None else \
        [str(int(v)) if float(v).is_integer() else str(v) for v in y.tolist()]
    unknown = sorted(set(given) - set(class_names))
    if unknown:
        raise UserError(f"{path}: the labels {unknown[:5]} are not among the model's classes "
                        f"({', '.join(class_names)})")
    index = {name: i for i, name in enumerate(class_names)}
    return X, np.array([index[g] for g in given], dtype=np.int64)
