"""load_csv: a user's own tabular data."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import load_csv


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


def test_non_numeric_feature_names_line_and_column(tmp_path):
    path = _write(tmp_path, "a,b,c\n1,2,x\n3,oops,y\n")
    with pytest.raises(ValueError, match=r"line 3, column 1 \('b'\): 'oops' is not a number"):
        load_csv(path)
    path = _write(tmp_path, "1,2,x\n3,,y\n", "noheader.csv")
    with pytest.raises(ValueError, match=r"line 2, column 1: '' is not a number"):
        load_csv(path)


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
