"""Read a user's own tabular data from a CSV (or other delimited) text file.

(Named ``tabular`` so it does not shadow the standard library's ``csv`` module.)
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

_INT = re.compile(r"[+-]?\d+")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text  # float() accepts "1_000"; a data file means something else


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows as (line number, stripped fields)."""
    rows = []
    with path.open("r", newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for fields in reader:
                if any(field.strip() for field in fields):
                    rows.append((reader.line_num, [field.strip() for field in fields]))
        except (csv.Error, UnicodeDecodeError) as err:
            raise ValueError(f"load_csv: {path} could not be read as delimited text near line "
                             f"{reader.line_num}: {err}") from err
    return rows


def _column_label(col: int, names: list[str] | None) -> str:
    return f"column {col} ({names[col]!r})" if names else f"column {col}"


def _features(path: Path, rows, cols: list[int], names) -> np.ndarray:
    table = np.array([[fields[c] for c in cols] for _, fields in rows], dtype=str)
    if table.size == 0:
        return np.zeros((len(rows), len(cols)), np.float32)
    try:
        if not any("_" in s for s in table.ravel()):
            return table.astype(np.float32)
    except ValueError:
        pass
    # Slow path only to find and name the first bad cell.
    for (line, fields) in rows:
        for c in cols:
            if not _is_number(fields[c]):
                raise ValueError(f"load_csv: {path}: line {line}, {_column_label(c, names)}: "
                                 f"{fields[c]!r} is not a number (features must be numeric)")
    return table.astype(np.float32)


def _labels(values: list[str]) -> tuple[np.ndarray, list[str] | None]:
    if all(_INT.fullmatch(v) for v in values):
        return np.array([int(v) for v in values], dtype=np.int64), None
    if all(_is_number(v) for v in values):
        return np.array(values, dtype=str).astype(np.float32), None
    class_names = sorted(set(values))
    lookup = {name: i for i, name in enumerate(class_names)}
    return np.array([lookup[v] for v in values], dtype=np.int64), class_names


def load_csv(path: str | os.PathLike, label_column: int | str | None = -1,
             header: bool | str = "auto", delimiter: str = ","
             ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Load a delimited text file into features and labels.

    Args:
        path: the file.
        label_column: index (negative counts from the end) or, with a header, the name of the
            label column; None when the file has no labels.
        header: True, False, or "auto": the first row is taken as a header when none of its
            fields is a number.
        delimiter: the field separator (one character).

    Returns:
        ``(X, y, class_names)``: X float32 ``(rows, features)``. String labels are mapped to
        int64 indices into ``class_names`` (the distinct labels, sorted). Numeric labels are
        kept: int64 when every label is an integer literal, float32 otherwise (regression);
        ``class_names`` is then None. ``y`` and ``class_names`` are None when
        ``label_column`` is None. Blank lines are skipped.

    Raises FileNotFoundError for a missing file and ValueError for an empty file, rows with
    the wrong number of fields, or a non-numeric feature (naming the line and the column).

    Example:
        >>> from chainrule.data import datasets
        >>> X, y, names = load_csv(datasets.data_path("uci-sonar/sonar.all-data"))
        >>> X.shape, names
        ((208, 60), ['M', 'R'])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_csv: no such file: {path}")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"load_csv: delimiter must be a single character, got {delimiter!r}")
    if header not in (True, False, "auto"):
        raise ValueError(f"load_csv: header must be True, False or 'auto', got {header!r}")
    rows = _read_rows(path, delimiter)
    if not rows:
        raise ValueError(f"load_csv: {path} is empty (no rows)")
    first_line, first = rows[0]
    if header == "auto":
        header = not any(_is_number(field) for field in first)
    names = first if header else None
    if header:
        rows = rows[1:]
        if not rows:
            raise ValueError(f"load_csv: {path} has a header (line {first_line}) but no data rows")
    ncols = len(first)
    for line, fields in rows:
        if len(fields) != ncols:
            raise ValueError(f"load_csv: {path}: line {line} has {len(fields)} fields, expected "
                             f"{ncols} (as in line {first_line}); the rows are ragged")

    label_idx = None
    if isinstance(label_column, str):
        if names is None:
            raise ValueError(f"load_csv: label_column={label_column!r} is a name, but {path} "
                             "has no header; pass an index or header=True")
        if label_column not in names:
            raise ValueError(f"load_csv: label_column {label_column!r} is not a column of "
                             f"{path}; its columns are {names}")
        label_idx = names.index(label_column)
    elif label_column is not None:
        if isinstance(label_column, bool) or not isinstance(label_column, (int, np.integer)):
            raise TypeError(f"load_csv: label_column must be an int, a column name or None, "
                            f"got {label_column!r}")
        if not -ncols <= label_column < ncols:
            raise ValueError(f"load_csv: label_column {label_column} is out of range for "
                             f"{ncols} columns in {path}")
        label_idx = int(label_column) % ncols

    feature_cols = [c for c in range(ncols) if c != label_idx]
    if not feature_cols:
        raise ValueError(f"load_csv: {path} has only the label column; no features to load")
    X = _features(path, rows, feature_cols, names)
    if label_idx is None:
        return X, None, None
    y, class_names = _labels([fields[label_idx] for _, fields in rows])
    return X, y, class_names
