"""wavelearn.training.files: CSV / TSV / NPZ series, one-line errors naming file and row."""

from __future__ import annotations

import numpy as np
import pytest

from wavelearn.training.files import DataFileError, check_labels, read_series, read_table


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_labels_first(tmp_path) -> None:
    data = read_series(write(tmp_path, "a.csv", "1,0.5,1.5,2\n2,3,4,5\n"))
    assert data.X.shape == (2, 1, 3)
    np.testing.assert_array_equal(data.X[1, 0], [3, 4, 5])
    np.testing.assert_array_equal(data.labels, [1.0, 2.0])
    np.testing.assert_array_equal(data.rows, [1, 2])


def test_named_label_column_header_and_string_labels(tmp_path) -> None:
    path = write(tmp_path, "a.csv", "t0,t1,kind\n0.1,0.2,cat\n0.3,0.4,dog\n")
    data = read_series(path, label_column="kind")
    np.testing.assert_array_equal(data.labels, ["cat", "dog"])
    np.testing.assert_array_equal(data.X[:, 0], [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_array_equal(data.rows, [2, 3])  # line numbers, after the header


def test_tsv_with_nan_and_empty_padding(tmp_path) -> None:
    X, labels = read_table(write(tmp_path, "a.tsv", "0\t1\t2\t3\n1\t4\tNaN\t\n"))
    assert np.isnan(X[1, 1:]).all() and X[1, 0] == 4
    np.testing.assert_array_equal(labels, [0, 1])


def test_npz_two_and_three_dimensional(tmp_path) -> None:
    np.savez(tmp_path / "a.npz", X=np.ones((4, 7)), y=np.arange(4))
    np.savez(tmp_path / "b.npz", X=np.ones((4, 3, 7)), y=np.arange(4))
    assert read_series(tmp_path / "a.npz").X.shape == (4, 1, 7)
    assert read_series(tmp_path / "b.npz").X.shape == (4, 3, 7)


@pytest.mark.parametrize(("text", "message"), [
    ("", r"a\.csv: the file is empty"),
    ("1,2,3\n1,2\n", r"a\.csv, row 2: has 2 cells, but row 1 has 3"),
    ("1,2,3\n1,2,x3\n", r"a\.csv, row 2: column 3: 'x3' is not a number"),
    ("a,b\n", r"a\.csv: has a header but no rows"),
])
def test_bad_tables_give_one_line_with_file_and_row(tmp_path, text, message) -> None:
    with pytest.raises(DataFileError, match=message) as info:
        read_series(write(tmp_path, "a.csv", text))
    assert "\n" not in str(info.value)


def test_missing_label_column_is_named(tmp_path) -> None:
    path = write(tmp_path, "a.csv", "x,y\n1,2\n")
    with pytest.raises(DataFileError, match=r"row 1: has no column named 'label'"):
        read_series(path, label_column="label")


def test_bad_npz_files(tmp_path) -> None:
    np.savez(tmp_path / "noy.npz", X=np.ones((2, 3)))
    np.savez(tmp_path / "badx.npz", X=np.ones(3), y=np.ones(3))
    np.savez(tmp_path / "ylen.npz", X=np.ones((2, 3)), y=np.ones(3))
    with pytest.raises(DataFileError, match="no array 'y'"):
        read_series(tmp_path / "noy.npz")
    assert read_series(tmp_path / "noy.npz", require_labels=False).labels is None
    with pytest.raises(DataFileError, match=r"X must have shape \(n, T\) or \(n, C, T\)"):
        read_series(tmp_path / "badx.npz")
    with pytest.raises(DataFileError, match=r"y must have shape \(2,\)"):
        read_series(tmp_path / "ylen.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match="junk.npz: is not a readable .npz"):
        read_series(tmp_path / "junk.npz")


def test_single_class_and_unseen_test_labels(tmp_path) -> None:
    one = read_series(write(tmp_path, "one.csv", "1,0,1\n1,2,3\n"))
    with pytest.raises(DataFileError, match=r"one\.csv: all 2 rows have the same label"):
        check_labels(one)
    train = read_series(write(tmp_path, "train.csv", "1,0,1\n2,2,3\n"))
    test = read_series(write(tmp_path, "test.csv", "1,0,1\n1,0,1\n3,2,3\n"))
    with pytest.raises(DataFileError, match=r"test\.csv, row 3: label 3 does not occur in "
                                            r"the training file"):
        check_labels(train, test)
