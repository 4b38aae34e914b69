r"""Finite data, checked once per transform instead of once per level.

The blocked NumPy path (:mod:`wavelearn.dwt.filterbank`) needs finite input:
a zero of a block matrix times ``inf`` is NaN, which would spread within a
block where the tap loop (and PyWavelets) keeps ``inf``. (Where the middle of a
level runs the compiled tap sums, many channels, only the few samples its ends
read need checking: :func:`~wavelearn.dwt.filterbank.middle_by_taps`; what follows
serves the others, e.g. one long channel.) Checking every level's
input is a pass over memory per level. Instead a multilevel transform checks
its input once and carries an upper bound :math:`\beta` on the magnitudes:

- :func:`magnitude_bound`: :math:`\beta_0 = 2\sqrt{\sum_i |x_i|^2} + 1` (one
  pass: a compiled loop summing the squares in float64, :func:`compiled.sum_squares`,
  or BLAS dot products in the data's dtype). A sum of non-negative floats, rounded,
  in any order, is never below its
  largest term, so :math:`\beta_0 \ge \max_i |x_i|` (the 2 covers the rounding
  of the squares, the 1 squares that underflow). NaN or inf anywhere, or squares that overflow, give
  :math:`\beta_0 = \infty`: then the levels check as before.
- :func:`level_growth`: one level maps magnitudes at most :math:`\beta` to
  at most :math:`G\beta`, with :math:`G = \sum_b \|f_b\|_1\,(1 + \sum|M_l| +
  \sum|M_r|)` (filter taps times the extension matrices' entries; a crude but
  safe bound for the filtering, the padding and its adjoint alike).
- :func:`known_finite`: :math:`2\beta` below the dtype's largest value, so
  no sample (even rounded) overflowed: the level's input is finite.

A level whose input might have overflowed (huge data, many levels) checks
as before; results never depend on the bound, only the time does.

``waverec`` checks its result instead of its bands (:func:`wavelearn.dwt.transforms.waverec_3d`):
its levels run as if the bands were finite, and a non-finite result sends them
through the checked levels again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from wavelearn.dwt import compiled
from wavelearn.dwt import filterbank as fb


def magnitude_bound(arrays: list[Any]) -> float:
    r""":math:`\beta \ge \max |a_i|` over all ``arrays`` if they are finite NumPy
    float/complex arrays, else ``inf``. One pass over each, in place."""
    total = 0.0
    for a in arrays:
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "fc":
            return math.inf
        rows = _rows(a)
        total = max(total, _bound_strided(a) ** 2 if rows is None else _sum_squares(rows))
    return 2.0 * math.sqrt(total) + 1.0 if math.isfinite(total) else math.inf


DOT_CHUNK = 8192  # elements per dot product: OpenBLAS threads longer ones (above 10000)


def _rows(a: np.ndarray) -> np.ndarray | None:
    """Every element of ``a`` once, as a 2-D view with contiguous rows (no copy):
    chunks of :data:`DOT_CHUNK` of a contiguous array; for a ``(P, n, Q)`` view with
    contiguous ``Q``, the ``(P n, Q)`` rows when the ``n`` rows of each ``p`` are evenly
    spaced (the bands of :func:`filterbank.new_bands`, the results of
    :func:`filterbank.one_row`), or the ``(n, P Q)`` rows when each position's ``P``
    rows lie side by side (bands stored position by position, as ``wavedec`` returns
    them); None for other layouts. Complex numbers as (re, im) pairs."""
    if a.dtype.kind == "c":
        if a.size == 0 or a.strides[-1] != a.itemsize:
            return None
        a = a.view(a.real.dtype)  # |re + i im|^2 = re^2 + im^2
    if a.flags.c_contiguous:
        return a.reshape(-1)[None, :] if a.size <= DOT_CHUNK else a.reshape(-1)
    if a.ndim != 3 or a.strides[2] != a.itemsize:
        return None
    (P, n, Q), (s0, s1, _) = a.shape, a.strides
    if s0 == n * s1:  # p-major: n rows of Q per p, evenly spaced
        return as_strided(a, (P * n, Q), (s1, a.itemsize), writeable=False)
    if s0 == Q * a.itemsize:  # position-major: the P rows of one position side by side
        return as_strided(a, (n, P * Q), (s1, a.itemsize), writeable=False)
    return None


def _sum_squares(rows: np.ndarray) -> float:
    """:math:`\\sum |v_i|^2` over ``rows`` (1-D contiguous, or 2-D with contiguous
    rows), inf if not finite: batched dot products of at most :data:`DOT_CHUNK`
    elements (one ``matmul`` per stripe), summed in float64. Short, because a
    threaded OpenBLAS dot costs up to 30 times more on a busy machine (measured)."""
    if compiled.available(rows):  # one compiled pass
        s = compiled.sum_squares(rows if rows.ndim == 2 else rows[None, :])
        return s if math.isfinite(s) else math.inf
    if rows.ndim == 1:  # contiguous: cut into rows of DOT_CHUNK, and the rest
        k = rows.size // DOT_CHUNK
        head, tail = rows[: k * DOT_CHUNK].reshape(k, DOT_CHUNK), rows[k * DOT_CHUNK :]
        return _sum_squares(head) + _sum_squares(tail[None, :]) if k else \
            _sum_squares(tail[None, :])
    s = 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # overflow: inf, as it should
        for c in range(0, rows.shape[1], DOT_CHUNK):
            part = rows[:, c : c + DOT_CHUNK]  # (R, w)
            s += float(np.matmul(part[:, None, :], part[:, :, None]).sum(dtype=np.float64))
    return s if math.isfinite(s) else math.inf


def _bound_strided(a: np.ndarray) -> float:
    """``max |a|`` of a strided array from its largest and smallest real and
    imaginary parts (no copy); inf if not finite."""
    if a.size == 0:
        return 0.0
    parts = [a.real, a.imag] if a.dtype.kind == "c" else [a]
    m = 0.0
    for part in parts:
        hi, lo = float(part.max()), float(part.min())
        if not (math.isfinite(hi) and math.isfinite(lo)):
            return math.inf
        m += max(hi, -lo)  # |re| + |im| >= |a|
    return m


def level_growth(filters: np.ndarray, n: int, left: int, right: int, mode: str) -> float:
    """``G`` of one level (module docstring): magnitudes grow at most by this
    factor through :func:`filterbank.extend_filter_down` or
    :func:`filterbank.filter_up_fold` with these arguments."""
    pads = 1.0  # zero padding reads (and folds back) nothing
    if mode != "zero":
        _, m_l, _, m_r = fb.extension_matrices(n, left, right, mode)
        pads += float(np.abs(m_l).sum() + np.abs(m_r).sum())
    return float(np.abs(filters).sum()) * pads


def known_finite(bound: float, dtype: Any) -> bool:
    """A level's input with magnitudes at most ``bound`` is finite in ``dtype``."""
    if not math.isfinite(bound):
        return False
    return 2.0 * bound < float(np.finfo(np.dtype(dtype)).max)
