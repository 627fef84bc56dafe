"""load_csv: a user's own tabular data."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import MissingValueError, csv_header, load_csv


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_string_labels_with_auto_header(tmp_path):
    path = _write(tmp_path, "x1,x2,kind\n0.5,1,dog\n-2,3e-1,cat\n\n4, 5 ,dog\n")
    X, y, names = load_csv(path)
    assert X.dtype == np.float32 and X.shape == (3, 2)
    np.testing.assert_allclose(X, [[0.5, 1], [-2, 0.3], [4, 5]], rtol=1e-6)
    assert names == ["cat", "dog"] and y.dtype == np.int64 and y.tolist() == [1, 0, 1]


def test_integral_labels_kept_as_int64_without_header(tmp_path):
    path = _write(tmp_path, "3,0.1,0.2\n7,0.3,0.4\n3,0.5,0.6\n")
    X, y, names = load_csv(path, label_column=0)
    assert names is None and y.dtype == np.int64 and y.tolist() == [3, 7, 3]
    np.testing.assert_allclose(X, [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], rtol=1e-6)


def test_regression_labels_float32_and_named_label_column(tmp_path):
    path = _write(tmp_path, "price;area;rooms\n1.5;70;3\n2.25;90;4\n", "houses.txt")
    X, y, names = load_csv(path, label_column="price", delimiter=";")
    assert names is None and y.dtype == np.float32 and y.tolist() == [1.5, 2.25]
    assert X.tolist() == [[70, 3], [90, 4]]


def test_explicit_header_flags_and_no_labels(tmp_path):
    path = _write(tmp_path, "1,2\n3,4\n")
    X, y, names = load_csv(path, header=False, label_column=None)
    assert X.tolist() == [[1, 2], [3, 4]] and y is None and names is None
    X, y, _ = load_csv(path, header=True)  # the first row becomes the header
    assert X.tolist() == [[3]] and y.tolist() == [4]


def test_matches_numpy_on_the_shipped_sonar_file():
    from chainrule.data import datasets
    path = datasets.data_path("uci-sonar/sonar.all-data")
    X, y, names = load_csv(path)
    reference = np.genfromtxt(path, delimiter=",", usecols=range(60), dtype=np.float32)
    np.testing.assert_array_equal(X, reference)
    assert names == ["M", "R"] and np.bincount(y).tolist() == [111, 97]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load_csv: no such file: .*nothing\.csv"):
        load_csv(tmp_path / "nothing.csv")


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    with pytest.raises(ValueError, match=r"data\.csv is empty"):
        load_csv(_write(tmp_path, text))


def test_header_only(tmp_path):
    with pytest.raises(ValueError, match=r"has a header \(line 1\) but no data rows"):
        load_csv(_write(tmp_path, "a,b,label\n"))


def test_ragged_rows(tmp_path):
    path = _write(tmp_path, "a,b,c\n1,2,x\n3,4\n")
    with pytest.raises(ValueError, match=r"line 3 has 2 fields, expected 3 \(as in line 1\)"):
        load_csv(path)


def test_non_numeric_feature_names_line_and_column_both_from_1(tmp_path):
    path = _write(tmp_path, "a,b,c\n1,2,x\n3,oops,y\n")
    with pytest.raises(ValueError, match=r"line 3, column 2 \('b'\): 'oops' is not a number"):
        load_csv(path)
    path = _write(tmp_path, "1,2,x\n\n3,oops,y\n", "noheader.csv")  # blank lines count too
    with pytest.raises(ValueError, match=r"line 3, column 2: 'oops' is not a number"):
        load_csv(path, missing="drop")  # text is wrong, not missing, whatever the policy


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffsize,price\n1,2.5\n2,3.5\n".encode("utf-8"))
    X, y, _ = load_csv(path, label_column="price")
    assert X.tolist() == [[1], [2]] and y.tolist() == [2.5, 3.5]
    assert csv_header(path) == ["size", "price"]
    unnamed = tmp_path / "plain.csv"
    unnamed.write_bytes("\ufeff1,2\n3,4\n".encode("utf-8"))
    assert load_csv(unnamed)[0].tolist() == [[1], [3]] and csv_header(unnamed) is None


# ----------------------------------------------------------- missing and non-finite
MESSY = "a,b,label\n1,2,0\n3,NA,1\n,5,0\n6,inf,1\n7,8,1\n"


@pytest.mark.parametrize("cell, text, what", [
    ("NA", "'NA' is missing", "line 3, column 2 ('b')"),
    ("", "'' is missing", "line 3, column 2 ('b')"),
    ("nan", "'nan' is missing", "line 3, column 2 ('b')"),
    ("-inf", "'-inf' is not a finite number", "line 3, column 2 ('b')"),
    ("1e39", "'1e39' is not a finite number", "line 3, column 2 ('b')"),  # inf in float32
])
def test_a_missing_or_non_finite_feature_is_named_by_file_line_and_column(tmp_path, cell, text,
                                                                         what):
    path = _write(tmp_path, f"a,b,label\n1,2,0\n3,{cell},1\n")
    with pytest.raises(MissingValueError) as info:
        load_csv(path)
    message = str(info.value)
    assert f"data.csv: {what}: {text}" in message and "missing='drop'" in message
    assert info.value.where.endswith(what) and info.value.text == cell
    assert not info.value.in_label


def test_missing_keep_reads_nan_and_drop_drops_rows_with_a_warning(tmp_path):
    path = _write(tmp_path, MESSY)
    X, y, _ = load_csv(path, missing="keep")
    assert np.isnan(X).sum() == 3 and np.isnan(X[1, 1]) and np.isnan(X[2, 0])
    assert np.isnan(X[3, 1]) and y.tolist() == [0, 1, 0, 1, 1]  # inf is kept as NaN too
    with pytest.warns(UserWarning, match=r"dropped 3 of 5 rows with missing or non-finite "
                                         r"values \(lines 3, 4, 5\)"):
        X, y, _ = load_csv(path, missing="drop")
    assert X.tolist() == [[1, 2], [7, 8]] and y.tolist() == [0, 1]
    every = _write(tmp_path, "a,b\n,1\nNA,2\n", "hopeless.csv")
    with pytest.raises(ValueError, match="every row has a missing or non-finite value"):
        load_csv(every, missing="drop")
    with pytest.raises(ValueError, match="missing must be one of"):
        load_csv(path, missing="mean")


@pytest.mark.parametrize("labels", ["0,NA", "cat,", "1.5,inf"])
def test_a_missing_label_is_refused_unless_its_row_is_dropped(tmp_path, labels):
    first, second = labels.split(",")
    path = _write(tmp_path, f"a,b,label\n1,2,{first}\n3,4,{second}\n5,6,{first}\n")
    for missing in ("error", "keep"):
        with pytest.raises(MissingValueError, match=r"line 3, column 3 \('label'\): .* a "
                                                    r"label cannot be filled in") as info:
            load_csv(path, missing=missing)
        assert info.value.in_label
    with pytest.warns(UserWarning, match="dropped 1 of 3 rows"):
        X, y, _ = load_csv(path, missing="drop")
    assert X.tolist() == [[1, 2], [5, 6]] and len(y) == 2


def test_the_first_bad_cell_in_reading_order_is_reported(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,3\n4,5,NA\n,7,8\n")
    with pytest.raises(MissingValueError, match=r"line 3, column 3 \('y'\)"):
        load_csv(path, numeric_labels=True)
    path = _write(tmp_path, "a,b,y\n1,2,3\n4,,NA\n", "same_row.csv")
    with pytest.raises(MissingValueError, match=r"line 3, column 2 \('b'\)"):
        load_csv(path, numeric_labels=True)


# ------------------------------------------------------------------- regression targets
def test_several_numeric_label_columns_by_name_or_index(tmp_path):
    path = _write(tmp_path, "x,y1,z,y2\n1,0.5,2,7\n3,1.5,4,9\n")
    X, y, names = load_csv(path, label_column=["y1", "y2"])
    assert X.tolist() == [[1, 2], [3, 4]] and names is None
    assert y.dtype == np.float32 and y.tolist() == [[0.5, 7], [1.5, 9]]
    X, y, _ = load_csv(path, label_column=[3])
    assert y.shape == (2, 1) and X.shape == (2, 3)
    with pytest.raises(ValueError, match="names a column twice"):
        load_csv(path, label_column=["y1", 1])
    with pytest.raises(ValueError, match="label_column is an empty list"):
        load_csv(path, label_column=[])


def test_numeric_labels_name_a_text_target_by_line_and_column(tmp_path):
    path = _write(tmp_path, "x,target\n1,0.5\n2,high\n")
    with pytest.raises(ValueError, match=r"line 3, column 2 \('target'\): 'high' is not a "
                                         r"number \(the labels must be numeric\)"):
        load_csv(path, numeric_labels=True)
    X, y, names = load_csv(path)  # without: text labels are class names
    assert names == ["0.5", "high"]
    X, y, _ = load_csv(_write(tmp_path, "x,t\n1,2\n3,4\n", "ints.csv"), numeric_labels=True)
    assert y.dtype == np.float32 and y.tolist() == [2, 4]


def test_integer_labels_too_large_for_int64_are_numbers_not_an_overflow(tmp_path):
    path = _write(tmp_path, f"x,t\n1,{10 ** 30}\n2,5\n")
    X, y, names = load_csv(path)
    assert y.dtype == np.float32 and y[0] == np.float32(1e30) and names is None


def test_argument_errors(tmp_path):
    path = _write(tmp_path, "1,2\n3,4\n")
    with pytest.raises(ValueError, match="label_column 5 is out of range for 2 columns"):
        load_csv(path, label_column=5)
    with pytest.raises(ValueError, match="is a name, but .* has no header"):
        load_csv(path, label_column="y")
    with pytest.raises(ValueError, match="header must be True, False or 'auto'"):
        load_csv(path, header="yes")
    with pytest.raises(ValueError, match="delimiter must be a single character"):
        load_csv(path, delimiter=", ")
    with pytest.raises(ValueError, match="only the label column"):
        load_csv(_write(tmp_path, "1\n2\n", "one.csv"))
    named = _write(tmp_path, "a,b\n1,2\n", "named.csv")
    with pytest.raises(ValueError, match=r"label_column 'c' is not a column .*\['a', 'b'\]"):
        load_csv(named, label_column="c")
