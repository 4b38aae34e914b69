r"""Simple baselines that ``wavelearn train`` prints next to the model's test metric.

* :func:`majority_accuracy`: always predict the most frequent training class.
* :func:`logistic_regression`: a multinomial logistic regression written in
  NumPy (full-batch Adam), on the normalised signal or on a bag of words
  (:func:`bag_of_words`, a :class:`SparseRows` matrix) for text.
* :class:`CharNGram`: an interpolated absolute-discounting character n-gram
  model for the language-model task (bits per character).

Which baselines a task gets is the task's choice
(:meth:`wavelearn.training.tasks.Task.baselines`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from wavelearn.training.tasks import TaskData




def majority_accuracy(train_y: np.ndarray, test_y: np.ndarray) -> float:
    """Test accuracy of always predicting the most frequent training class."""
    majority = np.bincount(train_y).argmax()
    return float(np.mean(test_y == majority))


@dataclass
class SparseRows:
    """A CSR matrix in NumPy: rows ``r`` hold ``data[indptr[r]:indptr[r+1]]`` at ``indices``."""

    rows: np.ndarray  # (nnz,) row of each entry
    indices: np.ndarray  # (nnz,) column of each entry
    data: np.ndarray  # (nnz,) value of each entry
    shape: tuple[int, int]

    def dot(self, w: np.ndarray) -> np.ndarray:
        """``X @ w`` for ``w (d, k)`` -> ``(n, k)``."""
        vals = self.data[:, None] * w[self.indices]  # (nnz, k)
        return np.stack([np.bincount(self.rows, vals[:, j], self.shape[0])
                         for j in range(w.shape[1])], axis=1)

    def tdot(self, r: np.ndarray) -> np.ndarray:
        """``X.T @ r`` for ``r (n, k)`` -> ``(d, k)``."""
        vals = self.data[:, None] * r[self.rows]  # (nnz, k)
        return np.stack([np.bincount(self.indices, vals[:, j], self.shape[1])
                         for j in range(r.shape[1])], axis=1)


def bag_of_words(ids: np.ndarray, vocab_size: int) -> SparseRows:
    """Binary bag-of-words of padded id rows ``(n, L)`` (ids 0, 1 = pad, unk are dropped)."""
    n = ids.shape[0]
    keys = np.unique(np.arange(n, dtype=np.int64)[:, None] * vocab_size + ids)
    rows, cols = keys // vocab_size, keys % vocab_size
    keep = cols >= 2
    rows, cols = rows[keep], cols[keep]
    # l2-normalised rows, so long and short reviews weigh alike
    norms = np.sqrt(np.bincount(rows, minlength=n)).clip(min=1.0)
    return SparseRows(rows, cols, 1.0 / norms[rows], (n, vocab_size))


def logistic_regression(
    x_train: np.ndarray | SparseRows,
    y_train: np.ndarray,
    num_classes: int,
    *,
    l2: float = 1e-4,
    steps: int = 300,
    lr: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, full-batch Adam on the mean cross-entropy.

    ``x_train`` is dense ``(n, d)`` or a :class:`SparseRows`. Returns the
    weight ``(d, C)`` and bias ``(C,)``. Deterministic (zero initialisation).
    """
    n, d = x_train.shape
    onehot = np.eye(num_classes)[y_train]  # (n, C)
    params = [np.zeros((d, num_classes)), np.zeros(num_classes)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for t in range(1, steps + 1):
        probs = _softmax(_linear(x_train, *params))
        r = (probs - onehot) / n  # (n, C)
        grads = [_tdot(x_train, r) + l2 * params[0], r.sum(axis=0)]
        for p, g, m in zip(params, grads, moments, strict=True):
            m[0] = 0.9 * m[0] + 0.1 * g
            m[1] = 0.999 * m[1] + 0.001 * g * g
            p -= lr * (m[0] / (1 - 0.9**t)) / (np.sqrt(m[1] / (1 - 0.999**t)) + 1e-8)
    return params[0], params[1]


def _linear(x: np.ndarray | SparseRows, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (x.dot(w) if isinstance(x, SparseRows) else x @ w) + b


def _tdot(x: np.ndarray | SparseRows, r: np.ndarray) -> np.ndarray:
    return x.tdot(r) if isinstance(x, SparseRows) else x.T @ r


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logistic_regression_accuracy(task: TaskData) -> float:
    """Test accuracy of :func:`logistic_regression` on the task's features.

    Signals: the normalised values, flattened. Text: an l2-normalised binary
    bag of words over the tokenizer's vocabulary (of the first ``L`` tokens).
    """
    if task.input_type == "signal":
        x_train = task.train_x.reshape(task.train_x.shape[0], -1).astype(np.float64)
        x_test = task.test_x.reshape(task.test_x.shape[0], -1).astype(np.float64)
    else:
        x_train = bag_of_words(task.train_x, task.vocab_size)
        x_test = bag_of_words(task.test_x, task.vocab_size)
    steps = 300 if task.input_type == "signal" else 60  # the bag of words converges fast
    w, b = logistic_regression(x_train, task.train_y, task.num_classes, steps=steps)
    return float(np.mean(_linear(x_test, w, b).argmax(axis=1) == task.test_y))


class CharNGram:
    """Interpolated absolute-discounting character n-gram model.

    .. math::
        P_k(c \\mid h) = \\frac{\\max(N(hc) - \\delta, 0)}{N(h)}
            + \\frac{\\delta\\, T(h)}{N(h)}\\, P_{k-1}(c \\mid h'),

    with :math:`h` the last :math:`k-1` characters, :math:`h'` the last
    :math:`k-2`, :math:`T(h)` the number of distinct characters seen after
    :math:`h`, and :math:`P_k = P_{k-1}` for an unseen :math:`h`. The unigram
    is add-one smoothed. Counts are sorted NumPy key arrays (no Python dicts),
    so a 5-gram model of 4.5 million characters fits in seconds.
    """

    def __init__(self, order: int = 5, discount: float = 0.75) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.order, self.discount = order, discount
        self.tables: list[tuple[np.ndarray, ...]] = []

    def fit(self, ids: np.ndarray, vocab_size: int) -> CharNGram:
        """Count the n-grams of the id stream ``ids`` (ids in ``[0, vocab_size)``)."""
        self.vocab_size = vocab_size
        ids = np.asarray(ids, dtype=np.int64)
        self.unigram = (np.bincount(ids, minlength=vocab_size) + 1.0) / (ids.size + vocab_size)
        self.tables = []
        key = ids.copy()  # key of the k-gram ending at each position (k = 1 here)
        for k in range(2, self.order + 1):
            key = key[:-1] * vocab_size + ids[k - 1:]  # k-grams, aligned to their last char
            grams, gram_counts = np.unique(key, return_counts=True)
            contexts, first = np.unique(grams // vocab_size, return_index=True)
            ctx_totals = np.add.reduceat(gram_counts, first)
            ctx_types = np.diff(np.append(first, grams.size))
            self.tables.append((grams, gram_counts, contexts, ctx_totals, ctx_types))
        return self

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        """Natural-log probability of each ``ids[t]`` given the characters before it."""
        ids = np.asarray(ids, dtype=np.int64)
        prob = self.unigram[ids]
        key = ids.copy()
        for k, table in enumerate(self.tables, start=2):
            key = np.concatenate([np.full(1, -1), key[:-1]]) * self.vocab_size + ids
            valid = np.arange(ids.size) >= k - 1  # a full context exists
            prob = np.where(valid, self._interpolate(table, key, prob), prob)
        return np.log(prob)

    def _interpolate(self, table: tuple[np.ndarray, ...], key: np.ndarray,
                     lower: np.ndarray) -> np.ndarray:
        grams, gram_counts, contexts, ctx_totals, ctx_types = table
        n_gram = _lookup(grams, gram_counts, key)
        ctx = key // self.vocab_size
        n_ctx = _lookup(contexts, ctx_totals, ctx)
        types = _lookup(contexts, ctx_types, ctx)
        safe = np.maximum(n_ctx, 1)
        mixed = (np.maximum(n_gram - self.discount, 0.0) + self.discount * types * lower) / safe
        return np.where(n_ctx > 0, mixed, lower)

    def bits_per_char(self, ids: np.ndarray) -> float:
        """Mean negative log2-probability of ``ids[1:]`` (the first id has no context)."""
        return float(-self.log_probs(ids)[1:].mean() / math.log(2.0))


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values[i]`` where ``keys[i] == query`` (sorted ``keys``), else 0."""
    pos = np.searchsorted(keys, query).clip(max=keys.size - 1)
    return np.where(keys[pos] == query, values[pos], 0).astype(np.float64)
