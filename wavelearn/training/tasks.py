"""Training tasks: from a :data:`wavelearn.training.datasets.TASKS` entry to model-ready arrays.

:func:`prepare_task` loads a task's train and test splits and turns them into
NumPy arrays a model can eat, in one of three shapes:

* **text classification** (``imdb``, ``rotten_tomatoes``): a
  :class:`~wavelearn.training.datasets.WordTokenizer` fitted on the *training* split only;
  ``x`` int64 ids ``(n, L)`` right-padded, ``mask`` int64 ``(n, L)``.
* **signal classification** (``forda``, ``ecg5000``, ``digits``, ``mnist``):
  ``x`` float32 ``(n, L, C)``, each series normalised to mean 0 and standard
  deviation 1 (over all its values). Time series have ``C = 1``; images are
  pixel sequences (``C = 1``, ``image_layout='pixels'``) or sequences of rows
  (``C`` = image width, ``image_layout='rows'``). A model reads them through a
  learned ``Linear(C, D)`` projection as ``inputs_embeds``.
* **character language modelling** (``shakespeare``): a
  :class:`~wavelearn.training.datasets.CharTokenizer` fitted on the training text; ``x`` is
  the whole split as one int64 id stream; training windows are cut from it by
  :func:`lm_windows`.

The module also holds the simple baselines that ``wavelearn train`` prints
next to the model's test metric: the majority class, a multinomial logistic
regression written in NumPy (on the normalised signal, or on a bag of words
for text) and an interpolated character n-gram model for the LM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from wavelearn.training import datasets as wdata

IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28)}
"""Image tasks -> (height, width), for ``image_layout='rows'``."""

DEFAULT_VOCAB_SIZE = 20_000
"""Word vocabulary size (special tokens included) of the text tasks."""


@dataclass
class TaskData:
    """One task's splits, ready for a model.

    Attributes:
        name: the :data:`~wavelearn.training.datasets.TASKS` key.
        kind: ``'classification'`` or ``'lm'``.
        input_type: ``'tokens'`` (ids through an embedding) or ``'signal'``
            (floats through a projection, as ``inputs_embeds``).
        seq_len: ``L``, the model's sequence length for this task.
        train_x, test_x: see the module docstring for shapes per kind.
        train_y, test_y: int64 labels ``(n,)`` (``None`` for the LM).
        train_mask, test_mask: int64 attention masks ``(n, L)`` for text
            (``None`` otherwise).
        num_classes: number of classes (``None`` for the LM).
        in_features: ``C`` of a signal task (``None`` for tokens).
        tokenizer: the fitted tokenizer of a token task (``None`` for signals).
    """

    name: str
    kind: Literal["classification", "lm"]
    input_type: Literal["tokens", "signal"]
    seq_len: int
    train_x: np.ndarray
    test_x: np.ndarray
    train_y: np.ndarray | None = None
    test_y: np.ndarray | None = None
    train_mask: np.ndarray | None = None
    test_mask: np.ndarray | None = None
    num_classes: int | None = None
    in_features: int | None = None
    tokenizer: wdata.CharTokenizer | wdata.WordTokenizer | None = None

    @property
    def vocab_size(self) -> int | None:
        """Size of the tokenizer's vocabulary (``None`` for signal tasks)."""
        return None if self.tokenizer is None else self.tokenizer.vocab_size

    @property
    def num_train(self) -> int:
        """Number of training examples (characters for the LM)."""
        return int(self.train_x.shape[0])


# --------------------------------------------------------------------------- preparation


def normalize_series(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Each series (first axis) shifted and scaled to mean 0 and std 1 over all its values.

    A constant series becomes all zeros. Returns float32 of the same shape.
    """
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return ((x - mean) / np.maximum(std, eps)).astype(np.float32)


def _signal_features(
    name: str, x: np.ndarray, max_seq_len: int | None, image_layout: str, patch_size: int
) -> np.ndarray:
    """Raw loader output (n, length) -> normalised (n, L, C) float32."""
    if image_layout not in ("pixels", "rows"):
        raise ValueError(f"image_layout must be 'pixels' or 'rows', got {image_layout!r}")
    if patch_size < 1:
        raise ValueError(f"patch_size must be positive, got {patch_size}")
    if image_layout == "rows" and name in IMAGE_SHAPES:
        x = x.reshape(x.shape[0], *IMAGE_SHAPES[name])  # (n, H, W): rows as features
    else:
        steps = x.shape[1] // patch_size  # a last partial patch is dropped
        x = x[:, :steps * patch_size].reshape(x.shape[0], steps, patch_size)  # (n, L, P)
    if max_seq_len is not None:
        x = x[:, :max_seq_len]
    return normalize_series(x)


def subset_indices(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """A fixed, seeded choice of ``min(limit, n)`` of ``n`` indices, in increasing order.

    Used instead of "the first ``limit``" because some files are sorted by class
    (the ECG5000 test split starts with 2,627 normal beats).
    """
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _take(items: Any, limit: int | None) -> Any:
    """A seeded subset of ``limit`` examples (all when ``limit`` is None); lists or arrays."""
    index = subset_indices(len(items), limit)
    if isinstance(items, np.ndarray):
        return items[index]
    return [items[i] for i in index]


def prepare_task(
    name: str,
    *,
    max_seq_len: int | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    tokenizer_state: dict[str, Any] | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    image_layout: str = "pixels",
    patch_size: int = 1,
    length_multiple: int = 1,
) -> TaskData:
    """Load and preprocess task ``name`` (see the module docstring).

    Args:
        name: a :data:`wavelearn.training.datasets.TASKS` key.
        max_seq_len: cut sequences to this length (default: the task's own).
            For the LM it is the training window length.
        limit_train, limit_test: keep only a seeded subset of this many examples
            of each split (:func:`subset_indices`; the LM: the first characters);
            for quick runs and tests.
        tokenizer_state: a saved tokenizer (``to_dict``) to reuse instead of
            fitting a new one, e.g. when re-evaluating a checkpoint.
        vocab_size: word vocabulary size of the text tasks.
        image_layout: ``'pixels'`` or ``'rows'`` for the image tasks.
        patch_size: signal tasks (not image rows): ``P`` consecutive samples
            become the ``C = P`` features of one time step (a last partial
            patch is dropped); ``max_seq_len`` then counts patches.
        length_multiple: text tasks: cut each text to a multiple of this many
            tokens (:func:`round_lengths_down`) so that texts share lengths.
    """
    spec = wdata.get_task(name)
    seq_len = int(max_seq_len or spec["max_seq_len"])
    if seq_len < 1:
        raise ValueError(f"max_seq_len must be positive, got {seq_len}")
    if spec["kind"] == "lm":
        return _prepare_lm(name, spec, seq_len, limit_train, limit_test, tokenizer_state)
    train_in, train_y = spec["loader"]("train")
    test_in, test_y = spec["loader"]("test")
    train_in, train_y = _take(train_in, limit_train), _take(train_y, limit_train)
    test_in, test_y = _take(test_in, limit_test), _take(test_y, limit_test)
    common = dict(name=name, kind="classification", train_y=np.asarray(train_y),
                  test_y=np.asarray(test_y), num_classes=spec["num_classes"])
    if spec["input_type"] == "signal":
        train_x = _signal_features(name, train_in, max_seq_len, image_layout, patch_size)
        test_x = _signal_features(name, test_in, max_seq_len, image_layout, patch_size)
        return TaskData(input_type="signal", seq_len=train_x.shape[1], train_x=train_x,
                        test_x=test_x, in_features=train_x.shape[2], **common)
    if tokenizer_state is not None:
        tokenizer = wdata.tokenizer_from_dict(tokenizer_state)
    else:
        tokenizer = wdata.WordTokenizer.fit(train_in, vocab_size=vocab_size)
    train_x, train_mask = round_lengths_down(*tokenizer.encode_batch(train_in, seq_len),
                                             length_multiple, tokenizer.pad_id)
    test_x, test_mask = round_lengths_down(*tokenizer.encode_batch(test_in, seq_len),
                                           length_multiple, tokenizer.pad_id)
    return TaskData(input_type="tokens", seq_len=seq_len, train_x=train_x, test_x=test_x,
                    train_mask=train_mask, test_mask=test_mask, tokenizer=tokenizer, **common)


def round_lengths_down(ids: np.ndarray, mask: np.ndarray, multiple: int,
                       pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Cut right-padded texts to lengths that are multiples of ``multiple``.

    A text of :math:`L` tokens keeps its last
    :math:`L' = \max(\min(L, m), m \lfloor L/m \rfloor)` tokens (its ending,
    which often carries the verdict of a review), moved to the front; texts
    shorter than :math:`m` stay whole. The model runs its mixing once per
    distinct length in a batch (the mask is exact), so fewer distinct lengths
    make padded batches cheaper. ``multiple=1`` returns the inputs unchanged.
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"length_multiple must be a positive int, got {multiple!r}")
    if multiple == 1:
        return ids, mask
    lengths = mask.sum(axis=1)  # (n,)
    kept = np.maximum(np.minimum(lengths, multiple), lengths // multiple * multiple)  # (n,)
    cols = np.arange(ids.shape[1])  # (L,)
    source = np.minimum(cols + (lengths - kept)[:, None], ids.shape[1] - 1)  # (n, L)
    inside = cols < kept[:, None]  # (n, L)
    new_ids = np.where(inside, np.take_along_axis(ids, source, axis=1), pad_id)
    return new_ids.astype(ids.dtype), inside.astype(mask.dtype)


def _prepare_lm(
    name: str,
    spec: wdata.TaskSpec,
    seq_len: int,
    limit_train: int | None,
    limit_test: int | None,
    tokenizer_state: dict[str, Any] | None,
) -> TaskData:
    """The character LM: one id stream per split."""
    train_text = spec["loader"]("train")[:limit_train]  # the LM keeps contiguous text
    test_text = spec["loader"]("test")[:limit_test]
    if tokenizer_state is not None:
        tokenizer = wdata.tokenizer_from_dict(tokenizer_state)
    else:
        tokenizer = wdata.CharTokenizer.fit(train_text)
    train_x, test_x = tokenizer.encode(train_text), tokenizer.encode(test_text)
    if test_x.size <= seq_len or 0 < train_x.size <= seq_len:
        raise ValueError(f"{name}: each split needs more than max_seq_len={seq_len} characters")
    return TaskData(name=name, kind="lm", input_type="tokens", seq_len=seq_len,
                    train_x=train_x, test_x=test_x, tokenizer=tokenizer)


# --------------------------------------------------------------------------- batches


def lm_windows(ids: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of an id stream -> (inputs, targets), each int64 ``(len(starts), length)``.

    ``inputs[b] = ids[s : s + length]`` and ``targets[b]`` is the same window
    shifted by one character (the next-character targets).
    """
    offsets = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length + 1)
    window = ids[offsets]  # (B, length + 1)
    return window[:, :-1], window[:, 1:]


def lm_eval_starts(num_ids: int, length: int, max_chars: int | None) -> np.ndarray:
    """Starts of the non-overlapping evaluation windows of a stream of ``num_ids`` ids.

    Every window needs ``length + 1`` ids (inputs plus the shifted targets).
    With ``max_chars``, at most that many targets are scored, in windows spread
    evenly over the whole stream (all windows for None).
    """
    total = (num_ids - 1) // length
    count = total if max_chars is None else min(total, max(1, max_chars // length))
    chosen = np.unique(np.linspace(0, total - 1, count).round().astype(np.int64))
    return chosen * length


# --------------------------------------------------------------------------- baselines


def majority_accuracy(train_y: np.ndarray, test_y: np.ndarray) -> float:
    """Test accuracy of always predicting the most frequent training class."""
    majority = np.bincount(train_y).argmax()
    return float(np.mean(test_y == majority))


@dataclass
class _SparseRows:
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


def bag_of_words(ids: np.ndarray, vocab_size: int) -> _SparseRows:
    """Binary bag-of-words of padded id rows ``(n, L)`` (ids 0, 1 = pad, unk are dropped)."""
    n = ids.shape[0]
    keys = np.unique(np.arange(n, dtype=np.int64)[:, None] * vocab_size + ids)
    rows, cols = keys // vocab_size, keys % vocab_size
    keep = cols >= 2
    rows, cols = rows[keep], cols[keep]
    # l2-normalised rows, so long and short reviews weigh alike
    norms = np.sqrt(np.bincount(rows, minlength=n)).clip(min=1.0)
    return _SparseRows(rows, cols, 1.0 / norms[rows], (n, vocab_size))


def logistic_regression(
    x_train: np.ndarray | _SparseRows,
    y_train: np.ndarray,
    num_classes: int,
    *,
    l2: float = 1e-4,
    steps: int = 300,
    lr: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, full-batch Adam on the mean cross-entropy.

    ``x_train`` is dense ``(n, d)`` or a :class:`_SparseRows`. Returns the
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


def _linear(x: np.ndarray | _SparseRows, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (x.dot(w) if isinstance(x, _SparseRows) else x @ w) + b


def _tdot(x: np.ndarray | _SparseRows, r: np.ndarray) -> np.ndarray:
    return x.tdot(r) if isinstance(x, _SparseRows) else x.T @ r


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


def baselines(task: TaskData, ngram_order: int = 5) -> dict[str, float]:
    """The simple baselines of a task -> ``{name: test metric}``.

    Classification: ``'majority'`` and ``'logistic_regression'`` accuracy.
    LM: ``'char_{n}gram_bpc'``, bits per character of :class:`CharNGram`.
    """
    if task.kind == "lm":
        model = CharNGram(ngram_order).fit(task.train_x, task.vocab_size)
        return {f"char_{ngram_order}gram_bpc": model.bits_per_char(task.test_x)}
    return {
        "majority": majority_accuracy(task.train_y, task.test_y),
        "logistic_regression": logistic_regression_accuracy(task),
    }
