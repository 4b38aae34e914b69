"""Preprocessing of raw task data: normalised signals, patches, image rows, text lengths.

Used by :meth:`wavelearn.training.tasks.Task.prepare`:

* :func:`normalize_series`: each series to mean 0 and standard deviation 1;
* :func:`signal_features`: raw series ``(n, length)`` -> ``(n, L, C)``, cut into
  patches of ``C`` samples, or images into rows (``image_layout='rows'``);
* :func:`round_lengths_down`: texts cut to multiples of a length, keeping
  their ending, so that padded batches hold few distinct lengths;
* :func:`take_subset`: a seeded subset of a split (``limit_train``, ``limit_test``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn.training.batches import subset_indices

IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28)}
"""Image tasks -> (height, width), for ``image_layout='rows'``."""

IMAGE_LAYOUTS = ("pixels", "rows")
"""How an image becomes a sequence: one pixel per step, or one row per step."""


def check_image_layout(value: Any) -> str | None:
    """The problem with an ``image_layout`` value, or None when it is allowed."""
    if value not in IMAGE_LAYOUTS:
        return f"must be one of {', '.join(map(repr, IMAGE_LAYOUTS))}, got {value!r}"
    return None


def normalize_series(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Each series (first axis) shifted and scaled to mean 0 and std 1 over all its values.

    A constant series becomes all zeros. Returns float32 of the same shape.
    """
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return ((x - mean) / np.maximum(std, eps)).astype(np.float32)



def signal_features(name: str, x: np.ndarray, max_seq_len: int | None, image_layout: str,
                    patch_size: int) -> np.ndarray:
    """Raw loader output (n, length) -> normalised (n, L, C) float32."""
    problem = check_image_layout(image_layout)
    if problem:
        raise ValueError(f"image_layout {problem}")
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


def take_subset(items: Any, limit: int | None) -> Any:
    """A seeded subset of ``limit`` examples (all when ``limit`` is None); lists or arrays."""
    index = subset_indices(len(items), limit)
    if isinstance(items, np.ndarray):
        return items[index]
    return [items[i] for i in index]


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
