"""``wavelearn train`` on any UCR set or on the user's files, and ``wavelearn predict``.

* :func:`load_data`: ``ucr:<Name>`` (any set of :mod:`wavelearn.training.ucr`)
  or a training file and an optional test file (:mod:`wavelearn.training.files`);
  without a test file, a stratified 80/20 split with a fixed seed
  (:func:`wavelearn.training.datasets.stratified_split`).
* :func:`train`: the default recipe (:func:`~wavelearn.training.recipe.default_recipe`,
  overridden by the command-line options), :func:`~wavelearn.training.series.fit_series`,
  test accuracy next to two baselines (majority class, 1-NN Euclidean), and
  ``checkpoint.npz`` + ``report.json`` in the output folder.
* :func:`predict`: a checkpoint and a file of series -> a CSV with one row
  per series: its row in the input, the predicted label and one probability
  per class.

Problems with the data are :class:`~wavelearn.training.files.DataFileError`:
one line naming the file, the row and what is wrong.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wavelearn import __version__
from wavelearn.nn import serialization
from wavelearn.training import files, stem, ucr
from wavelearn.training.datasets import stratified_split
from wavelearn.training.recipe import default_recipe
from wavelearn.training.series import SeriesModel, fit_series

CHECKPOINT_FORMAT = "wavelearn-series-model"
CHECKPOINT_VERSION = 1
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass
class OwnData:
    """Training and test series with class indices; ``classes[i]`` is class ``i``'s label."""

    name: str
    X_train: np.ndarray  # (n, C, T), NaN-padded
    y_train: np.ndarray  # (n,) int64
    X_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray
    source: str


def is_own_task(task: str | None) -> bool:
    """Whether ``--task`` names a UCR set (``ucr:<Name>``)."""
    return task is not None and task.startswith(ucr.PREFIX)


def load_data(task: str | None = None, train: str | None = None, test: str | None = None,
              label_column: str | int = 0, seed: int = SPLIT_SEED) -> OwnData:
    """The data of ``--task ucr:<Name>`` or of ``--train FILE [--test FILE]``."""
    if (task is None) == (train is None):
        raise ValueError("give either --task ucr:<Name> or --train FILE")
    if task is not None:
        name = ucr.check_name(task[len(ucr.PREFIX):])
        (Xa, ya), (Xb, yb) = ucr.load(name, "train"), ucr.load(name, "test")
        return OwnData(f"ucr:{name}", Xa[:, None, :], ya, Xb[:, None, :], yb,
                       ucr.classes(name), "UCR archive train/test split")
    first = files.read_series(train, label_column)
    if test is None:
        classes = files.check_labels(first)
        y = np.searchsorted(classes, first.labels)
        a, b = stratified_split(y, TEST_FRACTION, seed)
        return OwnData(Path(train).stem, first.X[a], y[a], first.X[b], y[b], classes,
                       f"{train}, stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} "
                       f"split (seed {seed})")
    second = files.read_series(test, label_column)
    classes = files.check_labels(first, second)
    if second.X.shape[1] != first.X.shape[1]:
        raise files.DataFileError(test, f"has {second.X.shape[1]} channel(s), the training "
                                  f"file {train} has {first.X.shape[1]}")
    _check_lengths(second, int(stem.series_lengths(first.X).max()), f"the training file {train}")
    X_train, X_test = _same_width(first.X, second.X)
    return OwnData(Path(train).stem, X_train, np.searchsorted(classes, first.labels),
                   X_test, np.searchsorted(classes, second.labels), classes,
                   f"{train} / {test}")


def _same_width(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pad the narrower array with NaN (padding) to the other's T."""
    T = max(a.shape[2], b.shape[2])
    pad = [np.pad(x, ((0, 0), (0, 0), (0, T - x.shape[2])), constant_values=np.nan)
           for x in (a, b)]
    return pad[0], pad[1]


def _check_lengths(data: files.SeriesFile, longest: int, what: str) -> None:
    """DataFileError at the first series longer than ``longest`` (or with a bad NaN)."""
    try:
        lengths = stem.series_lengths(data.X)
    except stem.SeriesError as e:
        raise files.DataFileError(data.path, f"the series {e.problem}",
                                  int(data.rows[e.index])) from None
    too_long = np.flatnonzero(lengths > longest)
    if too_long.size:
        i = int(too_long[0])
        raise files.DataFileError(data.path, f"the series has {lengths[i]} samples; the model "
                                  f"reads at most {longest} (the longest in {what})",
                                  int(data.rows[i]))


# --------------------------------------------------------------------------- baselines


def one_nn_accuracy(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
                    y_test: np.ndarray) -> float:
    """1-NN with Euclidean distance (NaN padding counts as 0), in chunks of 512 test series."""
    a = np.nan_to_num(X_train.reshape(X_train.shape[0], -1).astype(np.float64))
    b = np.nan_to_num(X_test.reshape(X_test.shape[0], -1).astype(np.float64))
    if a.shape[1] != b.shape[1]:
        width = max(a.shape[1], b.shape[1])
        a, b = (np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in (a, b))
    norms = (a * a).sum(axis=1)  # (n,)
    correct = 0
    for start in range(0, b.shape[0], 512):
        chunk = b[start:start + 512]  # (m, d)
        d = norms[None, :] - 2.0 * chunk @ a.T  # (m, n); |b|^2 does not change the argmin
        correct += int(np.sum(y_train[d.argmin(axis=1)] == y_test[start:start + 512]))
    return correct / b.shape[0]


# --------------------------------------------------------------------------- train


def train(data: OwnData, out: str | os.PathLike, overrides: dict[str, Any] | None = None,
          seed: int = 0, backend: str = "numpy", progress: bool = True) -> dict[str, Any]:
    """Fit the default recipe (with ``overrides``), score it, save it; returns the report."""
    n, C, T = data.X_train.shape
    recipe = default_recipe(n, T, C, data.classes.size, **(overrides or {}))
    print(f"task {data.name}: {n} training / {data.X_test.shape[0]} test series, {C} "
          f"channel(s), length {T}, {data.classes.size} classes ({data.source})\n"
          f"recipe: {recipe.ensemble} model(s) x {recipe.steps} steps, hidden_dim "
          f"{recipe.hidden_dim}, {recipe.num_layers} layers, {recipe.wavelet} x{recipe.levels}, "
          f"patches of {recipe.kernel} every {recipe.stride} samples; backend {backend}",
          flush=True)
    started = time.perf_counter()
    model = fit_series(data.X_train, data.y_train, recipe, outputs=data.classes.size,
                       seed=seed, backend=backend, progress=progress)
    seconds = time.perf_counter() - started
    proba = model.raw_outputs(data.X_test)
    report = {
        "task": data.name, "source": data.source, "train": int(n),
        "test": int(data.X_test.shape[0]), "seconds": round(seconds, 2),
        "parameters": model.num_parameters(),
        "accuracy": float(np.mean(proba.argmax(axis=1) == data.y_test)),
        "baselines": {
            "majority": float(np.mean(data.y_test == np.bincount(data.y_train).argmax())),
            "1nn_euclidean": one_nn_accuracy(data.X_train, data.y_train, data.X_test,
                                             data.y_test)},
        "recipe": recipe.to_dict(), "records": model.records,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save(out / "checkpoint.npz", model, data.classes, data.name)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def format_report(report: dict[str, Any]) -> str:
    """Lines comparing the test accuracy with the baselines."""
    lines = [f"task {report['task']}: {report['parameters']:,} parameters, "
             f"{report['seconds']:.1f} s of training",
             f"  wavelearn {'WaveletTransformer':<24s} test accuracy {report['accuracy']:.4f} "
             f"({report['test']} examples)"]
    for name, value in report["baselines"].items():
        lines.append(f"  baseline  {name:<24s} test accuracy {value:.4f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- checkpoints


def save(path: str | os.PathLike, model: SeriesModel, classes: np.ndarray, name: str) -> None:
    """A checkpoint of a fitted model with its class labels (atomic write)."""
    arrays, meta = model.state()
    meta.update(format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION,
                wavelearn_version=__version__, name=name, classes=classes.tolist())
    serialization.save(arrays, path, meta)


def load(path: str | os.PathLike, backend: str | None = None) -> tuple[SeriesModel, np.ndarray,
                                                                         dict[str, Any]]:
    """(model, classes, metadata) of a checkpoint written by :func:`save`."""
    try:
        arrays, meta = serialization.load(path)
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {str(path)!r}") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not a checkpoint of 'wavelearn train --task "
                         f"ucr:<Name>' or '--train FILE' (format {meta.get('format')!r})")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{str(path)!r} is a version {meta.get('version')} checkpoint; this "
                         f"wavelearn reads version {CHECKPOINT_VERSION}")
    model = SeriesModel.from_state(arrays, meta, backend or "numpy")
    return model, np.asarray(meta["classes"]), meta


# --------------------------------------------------------------------------- predict


def predict(checkpoint: str | os.PathLike, input_path: str | os.PathLike,
            output: str | os.PathLike | None = None, label_column: str | int | None = None,
            backend: str | None = None) -> str:
    """Predict every series of ``input_path``; CSV text (also written to ``output``).

    Columns: ``row`` (the series' row in the input file; its index in an
    ``.npz``), ``prediction``, then ``p_<label>`` per class.
    ``label_column``: the column of a table that holds labels, to be skipped
    (None: every column is a value).
    """
    model, classes, _ = load(checkpoint, backend)
    data = files.read_series(input_path, label_column, require_labels=False)
    if data.X.shape[1] != model.channels:
        raise files.DataFileError(input_path, f"has {data.X.shape[1]} channel(s); the model "
                                  f"was trained on {model.channels}")
    _check_lengths(data, model.max_length, "the training data")
    proba = model.raw_outputs(data.X)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["row", "prediction", *[f"p_{files.label_text(c)}" for c in classes]])
    for row, p in zip(data.rows.tolist(), proba, strict=True):
        writer.writerow([row, files.label_text(classes[int(p.argmax())]), *[f"{v:.6f}" for v in p]])
    if output is not None:
        Path(output).write_text(text.getvalue(), encoding="utf-8")
    return text.getvalue()
