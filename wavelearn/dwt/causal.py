r"""The causal (undecimated, *à trous*) filter bank of the decoder.

A decimated DWT cannot be causal: its boundary modes and its synthesis
filters reach ahead in time. The decoder therefore splits each channel with
an undecimated bank of *causal* filters (zeros padded on the left only):

.. math::
    a_0 = x,\quad a_j = \bar h_{\uparrow 2^{j-1}} * a_{j-1},\quad d_j = a_{j-1} - a_j

and synthesises by summing the bands, :math:`x = a_J + \sum_j d_j`. Band values
at position :math:`t` depend on :math:`x[\le t]` only, and the sum has no delay.
Every function here has its exact adjoint (used by the backward pass).

**Streaming.** The bank is also a recurrence with a fixed memory. Level
:math:`j`'s filter reads :math:`a_{j-1}` at :math:`t, t - \delta_j, \dots,
t - (F-1)\delta_j` (:math:`\delta_j = 2^{j-1}`, :math:`F` taps), so the
:math:`R_j = (F-1)\,2^{j-1}` most recent values of :math:`a_{j-1}` are all the
past it ever needs. :func:`causal_analysis_step` keeps them in one *ring
buffer* per level, ``(B, R_j, D)``, value of time :math:`t` in slot
:math:`t \bmod R_j`, and continues :func:`causal_analysis` by any number of
new samples: it returns exactly the bands the full transform would give at
those positions. The state holds :math:`(F-1)(2^J - 1)` vectors of size
:math:`D` per sequence, whatever the length of the context
(:func:`history_lengths`).
"""

from __future__ import annotations

from operator import sub
from typing import Any

import numpy as np

from wavelearn import buffers
from wavelearn.backend import backend_of
from wavelearn.dwt import compiled
from wavelearn.dwt.wavelets import as_wavelet

__all__ = [
    "causal_analysis",
    "causal_analysis_adjoint",
    "causal_analysis_step",
    "causal_filter",
    "causal_filter_adjoint",
    "causal_lowpass",
    "filter_taps",
    "history_lengths",
    "init_history",
]


def causal_lowpass(wavelet: Any) -> np.ndarray:
    r"""The scaling filter of ``wavelet`` normalised to unit sum, :math:`\bar h = h / \sum h`,
    so that a constant sequence stays entirely in the approximation band.

    Tap :math:`i` multiplies the sample :math:`i` steps back. Of the filter's two
    orientations (``dec_lo`` and its reverse ``rec_lo``) we take the one whose
    weight sits on the *first* taps (for Daubechies wavelets the minimum-phase
    one), so the smoothed band lags the input as little as a causal filter can.
    """
    w = as_wavelet(wavelet)
    h = min((w.rec_lo, w.dec_lo), key=lambda f: float(np.sum(np.arange(f.size) * f**2)))
    total = float(h.sum())
    if not np.isfinite(total) or abs(total) <= 1e-8 * float(np.abs(h).sum()):
        raise ValueError(f"wavelet {w.name!r}: the causal bank needs a low-pass scaling filter "
                         f"(taps summing to a finite non-zero value); dec_lo sums to {total:g}")
    return h / total


def causal_filter(xp: Any, x: Any, h: np.ndarray, dilation: int) -> Any:
    r"""Causal dilated convolution along axis 1, zeros before the start:
    :math:`s[t] = \sum_i \bar h[i]\, x[t - i\delta]`. Reads no sample after ``t``.
    (NumPy arrays: the same sums as one compiled pass, :func:`compiled.causal_filter`.)"""
    if compiled.causal_available(x):
        return compiled.causal_filter(x, h, dilation, adjoint=False)
    n = x.shape[1]
    s, scratch = _zeros(xp, x), _scratch(x)  # (B, N, D) each
    for i, hi in enumerate(h.tolist()):
        lag = i * dilation
        if lag < n and hi != 0.0:
            s[:, lag:, :] += _times(hi, x[:, : n - lag, :], scratch)
    buffers.give(scratch)
    return s


def causal_filter_adjoint(xp: Any, g: Any, h: np.ndarray, dilation: int) -> Any:
    r"""Adjoint of :func:`causal_filter`: :math:`z[t] = \sum_i \bar h[i]\, g[t + i\delta]`."""
    if compiled.causal_available(g):
        return compiled.causal_filter(g, h, dilation, adjoint=True)
    n = g.shape[1]
    z, scratch = _zeros(xp, g), _scratch(g)  # (B, N, D) each
    for i, hi in enumerate(h.tolist()):
        lag = i * dilation
        if lag < n and hi != 0.0:
            z[:, : n - lag, :] += _times(hi, g[:, lag:, :], scratch)
    buffers.give(scratch)
    return z


def _zeros(xp: Any, x: Any) -> Any:
    """Zeros like ``x``; for NumPy in memory from :mod:`wavelearn.buffers`."""
    if not isinstance(x, np.ndarray):
        return xp.zeros_like(x)
    z = buffers.empty(x.shape, x.dtype)
    z.fill(0)
    return z


def _scratch(x: Any) -> np.ndarray | None:
    """For a NumPy ``x``, one buffer of its shape (from :mod:`wavelearn.buffers`) that
    every tap's product is written into in turn; None for other arrays."""
    return buffers.empty(x.shape, x.dtype) if isinstance(x, np.ndarray) else None


def _times(hi: float, v: Any, scratch: np.ndarray | None) -> Any:
    """``hi * v``, written into the first rows of ``scratch`` where there is one (the same
    values, without a new array per tap: eight of them per level for db4)."""
    if scratch is None:
        return hi * v
    return np.multiply(v, hi, out=scratch[:, : v.shape[1]])  # (B, n, D)


def causal_analysis(xp: Any, x: Any, h: np.ndarray, levels: int) -> list:
    r"""Causal *à trous* decomposition: ``[a_J, d_J, ..., d_1]``, each ``(B, N, D)``.

    .. math::
        a_0 = x,\quad a_j = \bar h_{\uparrow 2^{j-1}} * a_{j-1},\quad d_j = a_{j-1} - a_j

    (:math:`\bar h_{\uparrow \delta}`: the lowpass with :math:`\delta - 1`
    zeros between its taps). Every filter is causal (zeros are padded on the
    left), so band values at position :math:`t` depend on :math:`x[\le t]`
    only; and the bands telescope, :math:`x = a_J + \sum_j d_j`, so the
    synthesis is a sum -- causal too, with no delay. A decimated DWT cannot
    do this: its boundary modes and its synthesis filters reach ahead in time.
    """
    a, details = x, []
    for j in range(1, levels + 1):
        s = causal_filter(xp, a, h, 2 ** (j - 1))  # (B, N, D)
        details.append(buffers.combine(sub, a, s))  # (B, N, D): a - s
        a = s
    return [a, *details[::-1]]


def causal_analysis_adjoint(xp: Any, dbands: list, h: np.ndarray) -> Any:
    r"""Adjoint of :func:`causal_analysis`: from the last level down,
    :math:`\bar a_{j-1} = \bar d_j + C_j^\top(\bar a_j - \bar d_j)`."""
    levels = len(dbands) - 1
    da = dbands[0]
    for j in range(levels, 0, -1):
        dd = dbands[levels - j + 1]  # gradient of d_j
        g = buffers.combine(sub, da, dd)  # (B, N, D): da - dd
        z = causal_filter_adjoint(xp, g, h, 2 ** (j - 1))  # (B, N, D)
        buffers.give(g)
        z += dd  # dd + C^T g, written over z (the same bits: + commutes)
        consumed, da = da, z
        buffers.give(consumed)  # (a band of dbands stays its list's)
    return da


# ---------------------------------------------------------------------------
# Streaming: the bank as a recurrence over ring buffers of past a_{j-1}
# ---------------------------------------------------------------------------


def filter_taps(h: np.ndarray) -> int:
    """``F``: the taps of ``h`` up to its last non-zero one (trailing zeros read nothing)."""
    nonzero = np.flatnonzero(h)
    return int(nonzero[-1]) + 1 if nonzero.size else 1


def history_lengths(h: np.ndarray, levels: int) -> list[int]:
    r"""``[R_1, ..., R_J]``, :math:`R_j = (F-1)\,2^{j-1}`: how many past values of
    :math:`a_{j-1}` level :math:`j` reads (its dilated filter spans
    :math:`t - (F-1)2^{j-1} .. t`). In all :math:`(F-1)(2^J-1)` vectors per sequence."""
    taps = filter_taps(h)
    return [(taps - 1) * 2 ** (j - 1) for j in range(1, levels + 1)]


def init_history(xp: Any, batch: int, dim: int, h: np.ndarray, levels: int,
                 dtype: Any, device: Any = None) -> list:
    """Empty ring buffers, one ``(B, R_j, D)`` per level: zeros, which is exactly
    the zero padding of :func:`causal_filter` before the first sample."""
    return [xp.zeros((batch, r, dim), dtype=dtype, device=device)
            for r in history_lengths(h, levels)]


def causal_analysis_step(xp: Any, x: Any, history: list, positions: np.ndarray,
                         h: np.ndarray, lengths: np.ndarray | None = None) -> list:
    r"""Continue :func:`causal_analysis` by ``n`` new samples per row.

    ``x (B, n, D)``: row ``b`` holds the samples of times ``positions[b] + k``.
    ``history``: the ring buffers of :func:`init_history` after ``positions[b]``
    samples of row ``b``; updated *in place* to include the new ones (only the
    first ``lengths[b]`` of row ``b`` when given: right padding). ``positions``
    (and ``lengths``) are NumPy int arrays ``(B,)``; the caller advances them.

    Returns ``[a_J, d_J, ..., d_1]``, each ``(B, n, D)``: the bands that
    :func:`causal_analysis` of the whole sequence has at those times, computed
    with the same operations in the same order (so equal to the last bit on
    NumPy). Level by level,

    .. math::
        a_j[t] = \sum_{i<F} \bar h_i\, a_{j-1}[t - i\,2^{j-1}], \qquad
        d_j[t] = a_{j-1}[t] - a_j[t],

    with :math:`a_{j-1}` at times before ``positions`` read from the buffer.
    A single new sample (``n == 1``, no ``lengths``) reads only the ``F - 1``
    slots it needs and overwrites the oldest one: constant work per sample.
    """
    a, details = x, []  # a: a_{j-1} at the new times, (B, n, D)
    for j, ring in enumerate(history, start=1):
        if x.shape[1] == 1 and lengths is None:
            s = _ring_filter_one(xp, ring, a, positions, h, 2 ** (j - 1))  # (B, 1, D)
        else:
            s = _ring_filter_chunk(xp, ring, a, positions, h, 2 ** (j - 1), lengths)
        details.append(a - s)
        a = s
    return [a, *details[::-1]]


def _ring_filter_one(xp: Any, ring: Any, a: Any, positions: np.ndarray, h: np.ndarray,
                     dilation: int) -> Any:
    """One level, one new sample per row: the filter output ``(B, 1, D)``; then the
    sample replaces the oldest value of the ring (slot ``t mod R``)."""
    B, r = ring.shape[0], ring.shape[1]
    taps = filter_taps(h)
    rows = np.arange(B)
    slots = (positions[:, None] - dilation * np.arange(1, taps)[None, :]) % r  # (B, F-1)
    past = ring[_index(ring, rows[:, None]), _index(ring, slots)]  # (B, F-1, D)
    s = xp.zeros_like(a)  # (B, 1, D)
    for i, hi in enumerate(h[:taps].tolist()):  # the order of causal_filter
        if hi != 0.0:
            s += hi * (a if i == 0 else past[:, i - 1:i])
    ring[_index(ring, rows), _index(ring, positions % r)] = a[:, 0]
    return s


def _ring_filter_chunk(xp: Any, ring: Any, a: Any, positions: np.ndarray, h: np.ndarray,
                       dilation: int, lengths: np.ndarray | None) -> Any:
    """One level, ``n`` new samples per row: unroll the ring into time order, put
    it before the chunk, filter, keep the chunk's part ``(B, n, D)``; then the
    ring receives the last ``R`` values before time ``positions + lengths``."""
    B, n, r = a.shape[0], a.shape[1], ring.shape[1]
    rows = _index(ring, np.arange(B)[:, None])
    ahead = np.arange(r)[None, :]
    past = ring[rows, _index(ring, (positions[:, None] + ahead) % r)]  # (B, R, D), in time order
    seq = xp.concat([past, a], axis=1)  # (B, R + n, D): times positions - R ...
    s = xp.zeros_like(a)  # (B, n, D)
    for i, hi in enumerate(h[:filter_taps(h)].tolist()):  # the order of causal_filter
        if hi != 0.0:
            s += hi * seq[:, r - i * dilation: r - i * dilation + n]
    used = np.full(B, n) if lengths is None else np.asarray(lengths)  # new samples per row
    keep = seq[rows, _index(ring, used[:, None] + ahead)]  # (B, R, D): the R values before
    ring[rows, _index(ring, (positions[:, None] + used[:, None] + ahead) % r)] = keep
    return s


def _index(like: Any, idx: np.ndarray) -> Any:
    """An integer index array on the backend (and device) of ``like``."""
    return idx if isinstance(like, np.ndarray) else backend_of(like).asarray(idx)
