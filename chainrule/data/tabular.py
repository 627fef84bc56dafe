"""Read a user's own tabular data from a CSV (or other delimited) text file.

(Named ``tabular`` so it does not shadow the standard library's ``csv`` module.)

Every message names the file, the line and the column, both counted from 1 as an editor
and a spreadsheet count them (a header row is line 1); ``label_column`` given as a number
is a Python index (from 0, negative from the end), as in pandas and NumPy.
"""
from __future__ import annotations

import csv
import os
import re
import warnings
from pathlib import Path
from typing import Sequence, Union

import numpy as np

__all__ = ["load_csv", "csv_header", "MissingValueError", "MISSING_MARKERS", "MISSING_POLICIES"]

_INT = re.compile(r"[+-]?\d+")
_INT64 = np.iinfo(np.int64)

#: Cells that stand for "no value" (as pandas reads them, plus the UCI archive's "?").
MISSING_MARKERS = frozenset({"", "NA", "N/A", "n/a", "na", "NaN", "nan", "-nan", "NULL",
                             "null", "None", "none", "?"})
#: What ``load_csv(missing=...)`` does with missing or non-finite cells.
MISSING_POLICIES = ("error", "keep", "drop")

LabelColumn = Union[int, str, None, Sequence[Union[int, str]]]


class MissingValueError(ValueError):
    """A missing (empty, ``NA``, ...) or non-finite (NaN, Inf) cell that ``load_csv`` may
    not keep: any cell with ``missing='error'``, a label cell unless ``missing='drop'``.

    ``where`` names the file, line and column (``data.csv: line 4, column 3 ('BMI')``),
    ``text`` is the cell as written, ``problem`` says what is wrong with it ("is missing",
    "is not a finite number") and ``in_label`` tells a label cell from a feature cell.
    """

    def __init__(self, message: str, where: str, text: str, problem: str, in_label: bool):
        super().__init__(message)
        self.where, self.text, self.problem, self.in_label = where, text, problem, in_label


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text  # float() accepts "1_000"; a data file means something else


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows as (line number, stripped fields). A UTF-8 byte-order mark (which
    spreadsheet programs write) is not part of the first field."""
    rows = []
    with path.open("r", newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for fields in reader:
                if any(field.strip() for field in fields):
                    rows.append((reader.line_num, [field.strip() for field in fields]))
        except (csv.Error, UnicodeDecodeError) as err:
            raise ValueError(f"load_csv: {path} could not be read as delimited text near line "
                             f"{reader.line_num}: {err}") from err
    return rows


def _has_header(first: list[str]) -> bool:
    """The "auto" rule: a first row none of whose fields is a number is a header."""
    return not any(_is_number(f) for f in first)


def csv_header(path: str | os.PathLike, delimiter: str = ",") -> list[str] | None:
    """The column names of a delimited file, or None when its first row is data (the
    ``header="auto"`` rule of :func:`load_csv`).

    Example:
        >>> from chainrule.data import datasets
        >>> csv_header(datasets.data_path("diabetes/diabetes.tab.txt"), delimiter="\\t")[-2:]
        ['S6', 'Y']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"csv_header: no such file: {path}")
    with path.open("r", newline="", encoding="utf-8-sig") as f:
        try:
            for fields in csv.reader(f, delimiter=delimiter):
                fields = [field.strip() for field in fields]
                if any(fields):
                    return fields if _has_header(fields) else None
        except (csv.Error, UnicodeDecodeError) as err:
            raise ValueError(f"csv_header: {path} could not be read as delimited text: "
                             f"{err}") from err
    return None


def _column_label(col: int, names: list[str] | None) -> str:
    """``column 3 ('BMI')``: counted from 1, with the header's name when there is one."""
    return f"column {col + 1} ({names[col]!r})" if names else f"column {col + 1}"


def _numbers(path: Path, rows, col: int, names, role: str) -> np.ndarray:
    """Column ``col`` as float32: NaN where a cell is missing, +-inf where it is infinite
    (or too large for float32). Text that is neither a number nor a missing marker is an
    error naming its line and column, whatever the missing-value policy."""
    texts = [fields[col] for _, fields in rows]
    with np.errstate(over="ignore"):
        if not any("_" in t for t in texts):
            try:
                return np.array(texts, dtype=str).astype(np.float32)
            except ValueError:
                pass
        # Slow path: one cell at a time, to read missing markers and name a bad cell.
        values = np.empty(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            if text in MISSING_MARKERS:
                values[i] = np.nan
            elif _is_number(text):
                values[i] = float(text)
            else:
                raise ValueError(f"load_csv: {path}: line {rows[i][0]}, "
                                 f"{_column_label(col, names)}: {text!r} is not a number "
                                 f"({role} must be numeric)")
    return values


def _classes_or_numbers(texts: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """One label column in its natural type: int64 when every label is an integer literal
    that fits, float32 when every label is a number, class indices otherwise."""
    if all(_INT.fullmatch(t) for t in texts):
        ints = [int(t) for t in texts]
        if all(_INT64.min <= v <= _INT64.max for v in ints):
            return np.array(ints, dtype=np.int64), None
    if all(_is_number(t) for t in texts):
        with np.errstate(over="ignore"):
            return np.array(texts, dtype=str).astype(np.float32), None
    class_names = sorted(set(texts))
    lookup = {name: i for i, name in enumerate(class_names)}
    return np.array([lookup[t] for t in texts], dtype=np.int64), class_names


def _label_indices(label_column: LabelColumn, names, ncols: int, path: Path) -> list[int]:
    columns = label_column if isinstance(label_column, (list, tuple)) else [label_column]
    if not columns:
        raise ValueError("load_csv: label_column is an empty list; give at least one column")
    indices = []
    for column in columns:
        if isinstance(column, str):
            if names is None:
                raise ValueError(f"load_csv: label_column={column!r} is a name, but {path} "
                                 "has no header; pass an index or header=True")
            if column not in names:
                raise ValueError(f"load_csv: label_column {column!r} is not a column of "
                                 f"{path}; its columns are {names}")
            indices.append(names.index(column))
            continue
        if isinstance(column, bool) or not isinstance(column, (int, np.integer)):
            raise TypeError(f"load_csv: label_column must be an int, a column name, a list "
                            f"of them or None, got {label_column!r}")
        if not -ncols <= column < ncols:
            raise ValueError(f"load_csv: label_column {column} is out of range for "
                             f"{ncols} columns in {path}")
        indices.append(int(column) % ncols)
    if len(set(indices)) != len(indices):
        raise ValueError(f"load_csv: label_column {label_column!r} names a column twice")
    return indices


def _not_finite(text: str) -> bool:
    """A missing marker, or a number that is not finite in float32 (NaN, Inf, 1e39)."""
    if text in MISSING_MARKERS:
        return True
    if not _is_number(text):
        return False
    with np.errstate(over="ignore"):
        return not np.isfinite(np.float32(float(text)))


def _missing_error(path, rows, row: int, col: int, names, in_label: bool) -> MissingValueError:
    line, fields = rows[row]
    text = fields[col]
    where = f"{path}: line {line}, {_column_label(col, names)}"
    what = "is missing" if text in MISSING_MARKERS else "is not a finite number"
    if in_label:
        hint = "a label cannot be filled in: drop such rows (missing='drop') or fix the file"
    else:
        hint = ("pass missing='drop' to drop such rows or missing='keep' to read them as NaN "
                "and fill them yourself")
    return MissingValueError(f"load_csv: {where}: {text!r} {what}; {hint}", where, text, what,
                             in_label)


def load_csv(path: str | os.PathLike, label_column: LabelColumn = -1,
             header: bool | str = "auto", delimiter: str = ",", *,
             numeric_labels: bool = False, missing: str = "error"
             ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Load a delimited text file into features and labels.

    Args:
        path: the file (UTF-8; a byte-order mark is skipped).
        label_column: the label column: an index (negative counts from the end) or, with a
            header, a name; a list of them for several numeric targets (then ``y`` has
            shape (rows, K)); None when the file has no labels.
        header: True, False, or "auto": the first row is taken as a header when none of its
            fields is a number.
        delimiter: the field separator (one character).
        numeric_labels: labels must be numbers (regression targets): float32, and a text
            label is an error naming its line and column. Always so for several columns.
        missing: what to do with a missing cell (empty, or one of :data:`MISSING_MARKERS`
            such as ``NA``) or a non-finite one (NaN, Inf, or a number too large for
            float32): ``"error"`` (the default) raises :class:`MissingValueError` naming
            the first one's line and column; ``"keep"`` reads such feature cells as NaN;
            ``"drop"`` drops every row that holds one, with a warning that counts them.
            A label cannot be kept missing: only ``"drop"`` accepts one.

    Returns:
        ``(X, y, class_names)``: X float32 ``(rows, features)``. String labels are mapped to
        int64 indices into ``class_names`` (the distinct labels, sorted). Numeric labels are
        kept: int64 when every label is an integer literal, float32 otherwise (regression);
        ``class_names`` is then None. ``y`` and ``class_names`` are None when
        ``label_column`` is None. Blank lines are skipped.

    Raises FileNotFoundError for a missing file and ValueError for an empty file, rows with
    the wrong number of fields, a feature that is not a number, or a missing value that
    ``missing`` does not allow, each naming the line and the column (both from 1).

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
    if missing not in MISSING_POLICIES:
        raise ValueError(f"load_csv: missing must be one of {MISSING_POLICIES}, got {missing!r}")
    rows = _read_rows(path, delimiter)
    if not rows:
        raise ValueError(f"load_csv: {path} is empty (no rows)")
    first_line, first = rows[0]
    if header == "auto":
        header = _has_header(first)
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

    label_cols = [] if label_column is None else _label_indices(label_column, names, ncols, path)
    several = isinstance(label_column, (list, tuple))
    feature_cols = [c for c in range(ncols) if c not in label_cols]
    if not feature_cols:
        raise ValueError(f"load_csv: {path} has only the label column; no features to load")
    X = np.stack([_numbers(path, rows, c, names, "features") for c in feature_cols], axis=1)
    bad_x = ~np.isfinite(X)

    numeric = numeric_labels or several
    y = None
    if label_cols and numeric:
        y = np.stack([_numbers(path, rows, c, names, "the labels") for c in label_cols], axis=1)
        bad_y = ~np.isfinite(y)
    else:
        bad_y = np.array([[_not_finite(fields[c]) for c in label_cols] for _, fields in rows],
                         dtype=bool).reshape(len(rows), len(label_cols))
    bad = np.zeros((len(rows), ncols), dtype=bool)   # every cell of the file, in its place
    bad[:, feature_cols], bad[:, label_cols] = bad_x, bad_y

    if missing == "drop":
        keep = ~bad.any(axis=1)
        dropped = np.flatnonzero(~keep)
        if len(dropped) == len(rows):
            raise ValueError(f"load_csv: {path}: every row has a missing or non-finite value; "
                             f"nothing is left after dropping them")
        if len(dropped):
            lines = ", ".join(str(rows[i][0]) for i in dropped[:5])
            warnings.warn(f"load_csv: {path}: dropped {len(dropped)} of {len(rows)} rows with "
                          f"missing or non-finite values (line{'s' if len(dropped) > 1 else ''} "
                          f"{lines}{', ...' if len(dropped) > 5 else ''})", stacklevel=2)
        X = X[keep]
    else:
        # "error" reports the first bad cell; "keep" only a bad label (features become NaN).
        reported = bad if missing == "error" else bad & np.isin(np.arange(ncols), label_cols)
        if reported.any():
            row = int(np.argmax(reported.any(axis=1)))
            col = int(np.argmax(reported[row]))
            raise _missing_error(path, rows, row, col, names, col in label_cols)
        X[bad_x] = np.nan
        keep = np.ones(len(rows), dtype=bool)
    if not label_cols:
        return X, None, None
    if numeric:
        y = y[keep]
        return X, (y if several else y[:, 0]), None
    texts = [fields[label_cols[0]] for (_, fields), k in zip(rows, keep) if k]
    y, class_names = _classes_or_numbers(texts)
    return X, y, class_names
