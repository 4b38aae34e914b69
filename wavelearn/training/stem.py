r"""From raw series to model tokens: lengths, normalisation, patches and augmentation.

A data set of ``n`` series with ``C`` channels is an array ``X (n, C, T)``
(aeon's layout; ``(n, T)`` is one channel). Series shorter than ``T`` are
stored right-padded with NaN, the convention of the UCR archive's
variable-length sets; :func:`series_lengths` finds each real length ``L_i``.

The model never sees a raw sample. Each series is

1. **normalised** (:func:`normalize`): shifted and scaled to mean 0 and
   standard deviation 1 over its real values (per channel or over all
   channels), so amplitude and offset, which the UCR archive already removes,
   never decide a class;
2. cut into **overlapping patches** (:func:`patch_tokens`): token ``t`` holds
   samples ``[tS, tS + K)`` of every channel, ``S`` the stride and ``K`` the
   patch width. A ``Linear(C K, D)`` on the tokens is then a strided
   convolution with ``D`` filters of width ``K``: a "convolutional stem" that
   needs no backward of its own beyond :class:`~wavelearn.nn.Linear`'s;
   with ``diff=True`` the first difference :math:`x_{t} - x_{t-1}` is a second
   set of ``C`` channels (a fixed high-pass filter next to the raw samples).

A series of real length ``L`` gives :math:`N = \lfloor (\max(L, K) - K) / S \rfloor + 1`
tokens; the rest of the row is padding, marked 0 in the attention mask, so
the model mixes only real tokens (never zeros standing in for missing samples).

Training batches are **augmented** (:func:`augment`): a random window of
each series (a fraction of its length drawn from ``[crop, 1]``) is stretched
back to the full length by linear interpolation, and Gaussian noise of
standard deviation ``noise`` is added. Both keep the class of any series
whose class does not hinge on exact positions or on tiny wiggles.
"""

from __future__ import annotations

import numpy as np

NORMALIZATIONS = ("series", "channel", "none")


class SeriesError(ValueError):
    """A series that cannot be read; ``index`` is its row in ``X``, ``problem`` what is wrong."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(f"series {index} (row {index} of X) {problem}")
        self.index, self.problem = index, problem


def as_3d(X: np.ndarray) -> np.ndarray:
    """``(n, T)`` -> ``(n, 1, T)``; ``(n, C, T)`` unchanged. float64."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        return X[:, None, :]
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n, T) or (n, C, T), got {X.shape}")
    return X


def series_lengths(X: np.ndarray) -> np.ndarray:
    """Real length of each series of ``X (n, C, T)``: NaN only as right padding -> ``(n,)``.

    Raises :class:`SeriesError` (a ValueError) naming the first series with a
    NaN followed by a number (a gap, not padding), with infinite values, or
    with no value at all.
    """
    finite = ~np.isnan(X).any(axis=1)  # (n, T): every channel has a value
    lengths = finite.sum(axis=1)  # (n,)
    gaps = finite[:, 1:] & ~finite[:, :-1]  # a value after a missing one
    bad = np.flatnonzero(gaps.any(axis=1) | np.isinf(X).any(axis=(1, 2)) | (lengths == 0))
    if bad.size:
        i = int(bad[0])
        problem = ("has no values" if lengths[i] == 0 else
                   "holds an infinite value" if np.isinf(X[i]).any() else
                   "has a missing value (NaN) before its end; only trailing NaN "
                   "(padding of a shorter series) is allowed")
        raise SeriesError(i, problem)
    partial = np.isnan(X).any(axis=1) & ~np.isnan(X).all(axis=1)  # (n, T)
    if partial.any():
        i = int(np.flatnonzero(partial.any(axis=1))[0])
        raise SeriesError(i, "has channels of different lengths (NaN in some channels only)")
    return lengths.astype(np.int64)


def normalize(X: np.ndarray, lengths: np.ndarray, how: str = "series",
              eps: float = 1e-8) -> np.ndarray:
    r"""Per series :math:`(x - \mu) / \max(\sigma, \epsilon)` over its real values.

    ``how``: ``'series'`` (one mean and std over all channels), ``'channel'``
    (per channel) or ``'none'``. Padding becomes 0. ``(n, C, T)`` float32.
    """
    if how not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {how!r}")
    real = np.arange(X.shape[2]) < lengths[:, None, None]  # (n, 1, T)
    x = np.where(real, X, 0.0)  # (n, C, T)
    if how != "none":
        axes = (1, 2) if how == "series" else (2,)
        count = real.sum(axis=axes, keepdims=True) * (X.shape[1] if how == "series" else 1)
        mean = x.sum(axis=axes, keepdims=True) / count
        var = (np.where(real, x - mean, 0.0) ** 2).sum(axis=axes, keepdims=True) / count
        x = np.where(real, (x - mean) / np.maximum(np.sqrt(var), eps), 0.0)
    return x.astype(np.float32)


def num_tokens(lengths: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Tokens of series of these lengths: ``(max(L, K) - K) // S + 1``."""
    return (np.maximum(lengths, kernel) - kernel) // stride + 1


def patch_tokens(x: np.ndarray, lengths: np.ndarray, kernel: int, stride: int,
                 diff: bool = False, num: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised series ``x (n, C, T)`` -> tokens ``(n, N, F)`` and mask ``(n, N)``.

    ``F = C K`` (``2 C K`` with ``diff``). A series shorter than ``K`` is
    zero-padded to one token. ``num`` fixes ``N`` (longer rows are cut, shorter
    ones padded); default: the longest row's count.
    """
    n, C, T = x.shape
    if diff:
        d = np.diff(x, axis=2, prepend=x[:, :, :1])  # (n, C, T)
        d = np.where(np.arange(T) < lengths[:, None, None], d, 0.0)
        x = np.concatenate([x, d], axis=1)  # (n, 2C, T)
    if T < kernel:
        x = np.pad(x, ((0, 0), (0, 0), (0, kernel - T)))
    counts = num_tokens(lengths, kernel, stride)  # (n,)
    N = int(counts.max()) if num is None else num
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=2)  # (n, C', T', K)
    tokens = windows[:, :, ::stride][:, :, :N]  # (n, C', N', K)
    tokens = tokens.transpose(0, 2, 1, 3).reshape(n, tokens.shape[2], -1)  # (n, N', C' K)
    if tokens.shape[1] < N:
        tokens = np.pad(tokens, ((0, 0), (0, N - tokens.shape[1]), (0, 0)))
    mask = (np.arange(N) < counts[:, None]).astype(np.int64)  # (n, N)
    return np.where(mask[:, :, None] == 1, tokens, 0.0).astype(np.float32), mask


def augment(x: np.ndarray, lengths: np.ndarray, rng: np.random.Generator,
            crop: float = 1.0, noise: float = 0.0) -> np.ndarray:
    """Random crop-and-stretch and Gaussian noise of a batch ``x (B, C, T)`` (see module doc).

    Each series keeps its real length; ``crop=1`` and ``noise=0`` return ``x``.
    """
    if crop < 1.0:
        x = x.copy()
        for b, L in enumerate(lengths.tolist()):
            keep = max(2, int(round(L * rng.uniform(crop, 1.0))))
            start = rng.uniform(0.0, L - keep)
            grid = start + np.linspace(0.0, keep - 1, L)  # (L,) positions in the series
            left = np.minimum(grid.astype(np.int64), L - 2) if L > 1 else np.zeros(L, int)
            w = (grid - left)[None, :]  # (1, L)
            right = np.minimum(left + 1, L - 1)
            row = x[b]  # (C, T)
            row[:, :L] = (1 - w) * row[:, left] + w * row[:, right]
    if noise > 0:
        real = np.arange(x.shape[2]) < lengths[:, None, None]  # (B, 1, T)
        x = x + np.where(real, rng.normal(0.0, noise, x.shape), 0.0).astype(np.float32)
    return x
