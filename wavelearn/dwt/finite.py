r"""Finite data, checked once per transform instead of once per level.

The blocked NumPy path (:mod:`wavelearn.dwt.filterbank`) needs finite input:
a zero of a block matrix times ``inf`` is NaN, which would spread within a
block where the tap loop (and PyWavelets) keeps ``inf``. Checking every level's
input is a pass over memory per level. Instead a multilevel transform checks
its input once and carries an upper bound :math:`\beta` on the magnitudes:

- :func:`magnitude_bound`: :math:`\beta_0 = 2\sqrt{\sum_i |x_i|^2} + 1` (one
  pass of BLAS dot products). A sum of non-negative floats, rounded, is never below its
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
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wavelearn.dwt import filterbank as fb


def magnitude_bound(arrays: list[Any]) -> float:
    r""":math:`\beta \ge \max |a_i|` over all ``arrays`` if they are finite NumPy
    float/complex arrays, else ``inf``. Arrays that are views of one contiguous
    buffer not much larger than them (the bands of :func:`filterbank.new_bands`)
    are bounded through that buffer, in one pass."""
    total, seen = 0.0, set()
    for a in arrays:
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "fc":
            return math.inf
        part = _flat(a)
        if part is None:
            total = max(total, _bound_strided(a) ** 2)
            continue
        key = (part.__array_interface__["data"][0], part.size)  # one buffer, one pass
        if key in seen:
            continue
        seen.add(key)
        total = max(total, _sum_squares(part))
    return 2.0 * math.sqrt(total) + 1.0 if math.isfinite(total) else math.inf


def _flat(a: np.ndarray) -> np.ndarray | None:
    """A 1-D contiguous array holding every element of ``a`` (``a`` itself, or
    the buffer ``a`` is a view of, when at most 4 times larger), else None."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    base = a.base
    if isinstance(base, np.ndarray) and base.flags.c_contiguous and base.dtype == a.dtype \
            and base.size <= 4 * a.size:
        return base.reshape(-1)
    return None


DOT_CHUNK = 8192  # elements per dot product: OpenBLAS threads longer ones (above 10000)


def _sum_squares(v: np.ndarray) -> float:
    """:math:`\\sum |v_i|^2` of a 1-D contiguous array, inf if not finite: dot products
    of chunks (one batched ``matmul``) summed in float64. Chunks, because a
    threaded OpenBLAS dot costs up to 30 times more on a busy machine (measured)."""
    if v.dtype.kind == "c":
        v = v.view(v.real.dtype)  # |re + i im|^2 = re^2 + im^2
    k = v.size // DOT_CHUNK
    rows, tail = v[: k * DOT_CHUNK].reshape(k, 1, DOT_CHUNK), v[k * DOT_CHUNK :]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow: inf, as it should
        s = float(np.matmul(rows, rows.transpose(0, 2, 1)).sum(dtype=np.float64)) if k else 0.0
        s += float(np.dot(tail, tail)) if tail.size else 0.0
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
