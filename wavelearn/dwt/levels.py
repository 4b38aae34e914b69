r"""One level of the DWT on ``(P, N, Q)`` arrays, and its adjoint: the building block
of :mod:`wavelearn.dwt.transforms` (and of the mixing layers).

Analysis pads by the boundary mode, filters and downsamples
(:func:`~wavelearn.dwt.filterbank.extend_filter_down`); synthesis upsamples,
filters and folds the ends back (:func:`~wavelearn.dwt.filterbank.filter_up_fold`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from wavelearn.dwt import filterbank as fb
from wavelearn.dwt import finite as fin
from wavelearn.dwt.wavelets import Wavelet


@lru_cache(maxsize=1024)
def analysis_filters(wavelet: Wavelet, mode: str, n: int) -> tuple[np.ndarray, int, int, int]:
    r"""``(filters, left, right, n_out)`` of one analysis level.

    :math:`c[o] = \sum_j h[j]\, x_e[2o + 1 - j]` (PyWavelets pads ``F - 1``
    samples on each side) is a correlation with the reversed filter, which is
    what :func:`filterbank.filter_down` computes. The first padded sample is
    never read, so we pad one sample less on the left.
    """
    F = wavelet.dec_len
    rev = np.stack([wavelet.dec_lo[::-1], wavelet.dec_hi[::-1]])  # (2, F)
    if mode == "periodization":
        left = F // 2 - 1
        return rev, left, left + n % 2, -(-n // 2)
    return rev, F - 2, F - 1, (n + F - 1) // 2


@lru_cache(maxsize=1024)
def synthesis_filters(wavelet: Wavelet) -> np.ndarray:
    return np.stack([wavelet.rec_lo, wavelet.rec_hi])  # (2, F)


def analysis_level(
    xp: Any, x: Any, w: Wavelet, mode: str, *, finite: bool = False
) -> tuple[Any, Any]:
    """One analysis level: ``x (P, N, Q) -> (cA, cD)``, each ``(P, n, Q)``.
    ``finite``: ``x`` is known to be finite (see :mod:`wavelearn.dwt.finite`)."""
    filters, left, right, n_out = analysis_filters(w, mode, x.shape[1])
    y = fb.extend_filter_down(xp, x, filters, n_out, left, right, mode,
                              finite=finite)  # (2, P, n_out, Q)
    return y[0], y[1]


def analysis_growth(w: Wavelet, mode: str, n: int) -> float:
    """How much :func:`analysis_level` may grow magnitudes (:func:`finite.level_growth`)."""
    filters, left, right, _ = analysis_filters(w, mode, n)
    return fin.level_growth(filters, n, left, right, mode)


def analysis_level_adjoint(xp: Any, da: Any, dd: Any, n: int, w: Wavelet, mode: str) -> Any:
    """The adjoint of :func:`analysis_level`: ``E^T`` of the upsampled-and-filtered bands."""
    filters, left, right, _ = analysis_filters(w, mode, n)
    return fb.filter_up_fold(xp, [da, dd], filters, n, left, right, mode)  # (P, n, Q)


def synthesis_level(
    xp: Any, a: Any, d: Any, w: Wavelet, mode: str, *, finite: bool = False
) -> Any:
    r"""One synthesis level: :math:`z = \sum_b \mathrm{up}(c_b) * g_b`, of length
    :math:`2n + F - 2`; periodization wraps its ends around (the adjoint of the
    periodic padding), the other modes keep the part the padding did not
    touch, :math:`z[F-2 : 2n]` (the adjoint of zero padding). Both are
    :math:`E^T z`, which :func:`filterbank.filter_up_fold` computes without
    building all of :math:`z`. ``finite``: ``a`` and ``d`` are known to be finite."""
    n, g = a.shape[1], synthesis_filters(w)
    if 2 * n - w.dec_len + 2 < 1 and mode != "periodization":  # too few coefficients:
        # nothing is left (pywt refuses these)
        return fb.filter_up(xp, [a, d], g, 2 * n + w.dec_len - 2)[:, w.dec_len - 2 : 2 * n, :]
    return fb.filter_up_fold(xp, [a, d], g, *_synthesis_fold(w, mode, n), finite=finite)


def _synthesis_fold(w: Wavelet, mode: str, n: int) -> tuple[int, int, int, str]:
    """``(length, left, right, mode)`` of :func:`synthesis_level`'s fold: periodization
    wraps ``p = F/2 - 1`` samples around, the other modes drop ``F - 2`` per end."""
    F = w.dec_len
    if mode == "periodization":
        return 2 * n, F // 2 - 1, F // 2 - 1, "periodic"
    return 2 * n - F + 2, F - 2, F - 2, "zero"


def synthesis_growth(w: Wavelet, mode: str, n: int) -> float:
    """How much :func:`synthesis_level` may grow magnitudes (:func:`finite.level_growth`)."""
    length, left, right, fold_mode = _synthesis_fold(w, mode, n)
    return fin.level_growth(synthesis_filters(w), length, left, right, fold_mode)


def synthesis_level_adjoint(xp: Any, dy: Any, w: Wavelet, mode: str,
                            zeros: int = 0) -> tuple[Any, Any]:
    """The adjoint of :func:`synthesis_level`: pad ``dy`` back (periodically, or with
    zeros), then filter and downsample with the synthesis filters. ``zeros``: ``dy``
    stands for itself followed by that many zeros (the adjoint of a trim), which the
    zero padding of the non-periodic modes adds without a copy."""
    F, g = w.dec_len, synthesis_filters(w)
    if mode == "periodization":
        if zeros:
            dy = fb.extend(xp, dy, 0, zeros, "zero")  # (P, N, Q)
        p = F // 2 - 1
        y = fb.extend_filter_down(xp, dy, g, dy.shape[1] // 2, p, p, "periodic")
    else:
        N = dy.shape[1] + zeros
        y = fb.extend_filter_down(xp, dy, g, (N + F - 2) // 2, F - 2, F - 2 + zeros, "zero")
    return y[0], y[1]  # (P, n, Q) each
