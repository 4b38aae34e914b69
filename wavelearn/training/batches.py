"""Batches: from a task's arrays (:class:`~wavelearn.training.tasks.TaskData`) to model inputs.

* Classification: examples chosen by index (:func:`classification_batch`); an
  epoch visits them in a random order, optionally in length-sorted buckets for
  text (:func:`bucketed_order`); evaluations use a fixed seeded subset
  (:func:`subset_indices`).
* Character LM: windows cut from one id stream, the targets shifted by one
  (:func:`lm_windows`); evaluations use non-overlapping windows spread over the
  test text (:func:`lm_eval_starts`).

A batch is a dict of NumPy arrays: ``'signal'`` ``(B, L, C)`` or ``'input_ids'``
``(B, L)`` (+ ``'attention_mask'`` for text), and ``'targets'`` (``(B,)`` labels,
or ``(B, L)`` next characters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from wavelearn.training.tasks import TaskData


def subset_indices(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """A fixed, seeded choice of ``min(limit, n)`` of ``n`` indices, in increasing order.

    Used instead of "the first ``limit``" because some files are sorted by class
    (the ECG5000 test split starts with 2,627 normal beats).
    """
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def classification_batch(data: TaskData, split: str, index: np.ndarray) -> dict[str, np.ndarray]:
    """Examples ``index`` of a split; text batches are cut to their longest real row."""
    x = (data.train_x if split == "train" else data.test_x)[index]
    y = (data.train_y if split == "train" else data.test_y)[index]
    if data.input_type == "signal":
        return {"signal": x, "targets": y}
    mask = (data.train_mask if split == "train" else data.test_mask)[index]
    width = max(1, int(mask.sum(axis=1).max()))
    return {"input_ids": x[:, :width], "attention_mask": mask[:, :width], "targets": y}


def bucketed_order(perm: np.ndarray, lengths: np.ndarray, batch_size: int, chunk: int,
                   rng: np.random.Generator) -> np.ndarray:
    """An epoch's example order whose batches hold texts of similar lengths.

    ``perm`` (a random order) is cut into runs of ``chunk`` batches; each run
    is sorted by length (stable) and cut into batches, and the order of all
    the full batches is shuffled. Examples after the last full batch keep
    their place at the end. Every example still appears exactly once.
    """
    full = perm.size // batch_size * batch_size
    runs = [perm[i:min(i + chunk * batch_size, full)] for i in range(0, full, chunk * batch_size)]
    ordered = np.concatenate([run[np.argsort(lengths[run], kind="stable")] for run in runs]
                             or [perm[:0]])
    batches = ordered.reshape(-1, batch_size)  # (full // B, B)
    return np.concatenate([batches[rng.permutation(len(batches))].reshape(-1), perm[full:]])


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
