r"""The causal (undecimated, *à trous*) filter bank of the decoder.

A decimated DWT cannot be causal: its boundary modes and its synthesis
filters reach ahead in time. The decoder therefore splits each channel with
an undecimated bank of *causal* filters (zeros padded on the left only):

.. math::
    a_0 = x,\quad a_j = \bar h_{\uparrow 2^{j-1}} * a_{j-1},\quad d_j = a_{j-1} - a_j

and synthesises by summing the bands, :math:`x = a_J + \sum_j d_j`. Band values
at position :math:`t` depend on :math:`x[\le t]` only, and the sum has no delay.
Every function here has its exact adjoint (used by the backward pass).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn.dwt.wavelets import as_wavelet


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
    :math:`s[t] = \sum_i \bar h[i]\, x[t - i\delta]`. Reads no sample after ``t``."""
    n = x.shape[1]
    s = xp.zeros_like(x)  # (B, N, D)
    for i, hi in enumerate(h.tolist()):
        lag = i * dilation
        if lag < n and hi != 0.0:
            s[:, lag:, :] += hi * x[:, : n - lag, :]
    return s


def causal_filter_adjoint(xp: Any, g: Any, h: np.ndarray, dilation: int) -> Any:
    r"""Adjoint of :func:`causal_filter`: :math:`z[t] = \sum_i \bar h[i]\, g[t + i\delta]`."""
    n = g.shape[1]
    z = xp.zeros_like(g)  # (B, N, D)
    for i, hi in enumerate(h.tolist()):
        lag = i * dilation
        if lag < n and hi != 0.0:
            z[:, : n - lag, :] += hi * g[:, lag:, :]
    return z


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
        details.append(a - s)
        a = s
    return [a, *details[::-1]]


def causal_analysis_adjoint(xp: Any, dbands: list, h: np.ndarray) -> Any:
    r"""Adjoint of :func:`causal_analysis`: from the last level down,
    :math:`\bar a_{j-1} = \bar d_j + C_j^\top(\bar a_j - \bar d_j)`."""
    levels = len(dbands) - 1
    da = dbands[0]
    for j in range(levels, 0, -1):
        dd = dbands[levels - j + 1]  # gradient of d_j
        da = dd + causal_filter_adjoint(xp, da - dd, h, 2 ** (j - 1))
    return da
