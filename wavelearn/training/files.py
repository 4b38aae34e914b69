"""Read the user's own series: CSV / TSV tables and ``.npz`` archives.

Two formats (the same for training and for prediction):

* **CSV / TSV** (``.csv``: commas; ``.tsv``, ``.txt``: tabs; anything else:
  tabs if the first line has one, else commas): one series per row, the
  label in the first column -- or in the column named ``label_column`` of a
  header row. A first row whose cells are not all numbers is a header.
  Series of different lengths are right-padded with empty cells or ``NaN``
  (the UCR archive's convention); labels may be numbers or names.
* **NPZ** (``numpy.savez``): ``X`` of shape ``(n, T)`` or ``(n, C, T)``
  (several channels) and ``y`` of shape ``(n,)``; ``y`` may be missing in a
  file that is only to be predicted.

Every problem raises :class:`DataFileError`, one line naming the file, the
row (its line number in a table) and what is wrong: an empty file, ragged
rows, a cell that is not a number, a missing label column.
:func:`check_labels` adds the checks of a training / test pair: at least
two classes, and no test label that training lacks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
MISSING = {"", "nan", "NaN", "NAN", "na", "NA"}


class DataFileError(ValueError):
    """A data file that cannot be used; the message names the file, the row and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str, row: int | None = None) -> None:
        where = f"{path}" if row is None else f"{path}, row {row}"
        super().__init__(f"{where}: {problem}")
        self.path, self.row, self.problem = str(path), row, problem


class SeriesFile(NamedTuple):
    """A data file's contents: ``X (n, C, T)`` float64 (NaN padding), labels ``(n,)`` or None,
    and ``rows``, each example's row number in the file (for messages)."""

    X: np.ndarray
    labels: np.ndarray | None
    path: str
    rows: np.ndarray


def read_series(path: str | os.PathLike, label_column: str | int | None = 0,
                require_labels: bool = True) -> SeriesFile:
    """Read a CSV, TSV or NPZ file (see the module docstring).

    ``label_column``: the index or header name of the label column of a table
    (default 0, the first); None: the table has no labels (prediction input).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "no such file")
    if path.suffix.lower() == ".npz":
        return _read_npz(path, require_labels)
    X, labels, rows = _parse_table(path, None, None, label_column)
    if labels is None and require_labels:
        raise DataFileError(path, "has no label column")
    return SeriesFile(X[:, None, :], labels, str(path), rows)


def _delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() in TABLE_SUFFIXES:
        return TABLE_SUFFIXES[path.suffix.lower()]
    return "\t" if "\t" in first_line else ","


def read_table(path: str | os.PathLike, delimiter: str | None = None,
               header: bool | None = None,
               label_column: str | int | None = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """A table -> ``(X (n, T) float64, labels (n,) or None)``.

    ``header=None`` detects a header row (a first row with a cell, the label's
    excepted, that is not a number). Labels that are all numbers become
    float64, otherwise strings.
    """
    X, labels, _ = _parse_table(Path(path), delimiter, header, label_column)
    return X, labels


def _parse_table(path: Path, delimiter: str | None, header: bool | None,
                 label_column: str | int | None) -> tuple[np.ndarray, Any, np.ndarray]:
    """:func:`read_table`, also returning each example's line number."""
    lines = [(i, line) for i, line in enumerate(
        path.read_text(encoding="utf-8-sig").splitlines(), start=1) if line.strip()]
    if not lines:
        raise DataFileError(path, "the file is empty")
    sep = delimiter or _delimiter(path, lines[0][1])
    rows = [(i, [c.strip() for c in line.split(sep)]) for i, line in lines]
    names, rows = _header(path, rows, header, label_column)
    if not rows:
        raise DataFileError(path, "has a header but no rows")
    col = _label_index(path, names, label_column, len(rows[0][1]))
    width = len(rows[0][1])
    for number, cells in rows:
        if len(cells) != width:
            raise DataFileError(path, f"has {len(cells)} cells, but row {rows[0][0]} has "
                                f"{width} (pad shorter series with empty cells or NaN)", number)
    labels = None if col is None else [cells.pop(col) for _, cells in rows]
    if width - (col is not None) < 1:
        raise DataFileError(path, "has no value columns", rows[0][0])
    X = np.stack([_numbers(path, number, cells, col) for number, cells in rows])
    numbers = np.asarray([number for number, _ in rows], dtype=np.int64)
    return X, None if labels is None else _labels(labels), numbers


def _header(path: Path, rows: list, header: bool | None,
            label_column: str | int | None) -> tuple[list[str] | None, list]:
    """Split off a header row when there is one -> (names or None, the other rows)."""
    first = rows[0][1]
    if header is None:
        skip = label_column if isinstance(label_column, int) else None
        header = isinstance(label_column, str) or any(
            not _is_number(c) for i, c in enumerate(first) if i != skip and c not in MISSING)
    return (first, rows[1:]) if header else (None, rows)


def _label_index(path: Path, names: list[str] | None, label_column: str | int | None,
                 width: int) -> int | None:
    if label_column is None:
        return None
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            raise DataFileError(path, f"has no column named {label_column!r} (header: "
                                f"{', '.join(names or [])[:200] or 'none'})", 1)
        return names.index(label_column)
    if not -width <= label_column < width:
        raise DataFileError(path, f"label column {label_column} does not exist "
                            f"({width} columns)")
    return label_column % width


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _numbers(path: Path, number: int, cells: list[str], label_col: int | None) -> np.ndarray:
    """One row's values as float64 (missing cells -> NaN); the row and column on failure."""
    values = ["nan" if c in MISSING else c for c in cells]
    try:
        return np.asarray(values, dtype=np.float64)
    except ValueError:
        for j, c in enumerate(values):
            if not _is_number(c):
                column = j + 1 + (label_col is not None and j >= label_col)
                raise DataFileError(path, f"column {column}: {c[:40]!r} is not a number",
                                    number) from None
        raise


def _labels(labels: list[str]) -> np.ndarray:
    if all(_is_number(v) for v in labels):
        return np.asarray(labels, dtype=np.float64)
    return np.asarray(labels, dtype=str)


def _read_npz(path: Path, require_labels: bool) -> SeriesFile:
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {k: archive[k] for k in archive.files}
    except (ValueError, OSError) as e:
        raise DataFileError(path, f"is not a readable .npz archive ({e})") from None
    if "X" not in contents:
        raise DataFileError(path, f"has no array 'X' (it holds {sorted(contents) or 'nothing'})")
    X, y = contents["X"], contents.get("y")
    if X.ndim not in (2, 3) or X.shape[0] == 0 or X.shape[-1] == 0:
        raise DataFileError(path, f"X must have shape (n, T) or (n, C, T) with n, T >= 1, "
                            f"got {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
        raise DataFileError(path, f"X must hold real numbers, got dtype {X.dtype}")
    if y is None and require_labels:
        raise DataFileError(path, "has no array 'y' (the labels)")
    if y is not None and (y.ndim != 1 or y.shape[0] != X.shape[0]):
        raise DataFileError(path, f"y must have shape ({X.shape[0]},) like X's first axis, "
                            f"got {y.shape}")
    X = np.asarray(X, dtype=np.float64)
    rows = np.arange(X.shape[0], dtype=np.int64)  # npz: the index along X's first axis
    return SeriesFile(X if X.ndim == 3 else X[:, None, :], y, str(path), rows)


def check_labels(train: SeriesFile, test: SeriesFile | None = None) -> np.ndarray:
    """The sorted classes of ``train``; DataFileError for one class or unseen test labels."""
    classes = np.unique(train.labels)
    if classes.size < 2:
        raise DataFileError(train.path, f"all {train.labels.shape[0]} rows have the same "
                            f"label {label_text(classes[0])}; classification needs at least "
                            "two classes")
    if test is not None and test.labels is not None:
        unseen = ~np.isin(test.labels, classes)
        if unseen.any():
            i = int(np.argmax(unseen))
            raise DataFileError(test.path, f"label {label_text(test.labels[i])} does not occur "
                                f"in the training file {train.path}", int(test.rows[i]))
    return classes


def label_text(value: Any) -> str:
    """A label as written in a file: ``1`` for 1.0, names unchanged."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value)
