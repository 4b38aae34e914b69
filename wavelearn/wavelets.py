"""Wavelets (filter banks) and boundary modes.

A discrete wavelet is, for the DWT, four finite filters: the analysis
(decomposition) low-pass ``dec_lo`` and high-pass ``dec_hi``, and the synthesis
(reconstruction) pair ``rec_lo``, ``rec_hi``. wavelearn takes them from
PyWavelets, so every name in ``pywt.wavelist(kind='discrete')`` works.

For an *orthogonal* wavelet the synthesis filters are the time-reversed
analysis filters, :math:`g[k] = h[F-1-k]`, and the one-level transform is an
orthogonal matrix (in periodization mode): its inverse is its transpose.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any

import numpy as np
import pywt

MODES = (
    "zero",
    "constant",
    "symmetric",
    "reflect",
    "periodic",
    "smooth",
    "periodization",
    "antisymmetric",
    "antireflect",
)


@lru_cache(maxsize=1024)
def _discrete_names() -> tuple[str, ...]:
    return tuple(pywt.wavelist(kind="discrete"))


def _closest(name: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class Wavelet:
    r"""A discrete wavelet: its four filters as float64 NumPy arrays.

    Args:
        name: a name from ``pywt.wavelist(kind='discrete')``, e.g. ``'haar'``,
            ``'db4'``, ``'sym6'``, ``'coif3'``, ``'bior2.2'``.

    Attributes:
        name: the name it was made from.
        dec_lo: the analysis low-pass filter :math:`h`, ``(F,)``.
        dec_hi: the analysis high-pass filter :math:`g`, ``(F,)``.
        rec_lo: the synthesis low-pass filter :math:`\tilde h`, ``(F,)``.
        rec_hi: the synthesis high-pass filter :math:`\tilde g`, ``(F,)``.
        dec_len: the filter length ``F``.
        orthogonal: whether the filter bank is orthogonal (bool).
        biorthogonal: whether it reconstructs perfectly (bool).
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"wavelet must be a name (str) or a Wavelet, got {type(name).__name__}")
        if name not in _discrete_names():
            if name in pywt.wavelist(kind="continuous"):
                raise ValueError(
                    f"wavelet {name!r} is a continuous wavelet; the DWT needs a discrete one, "
                    "e.g. 'haar', 'db4', 'sym6' (see pywt.wavelist(kind='discrete'))"
                )
            raise ValueError(
                f"unknown wavelet {name!r}{_closest(name, _discrete_names())} "
                "(valid names: pywt.wavelist(kind='discrete'))"
            )
        w = pywt.Wavelet(name)
        self.name = name
        self.dec_lo = np.asarray(w.dec_lo, dtype=np.float64)
        self.dec_hi = np.asarray(w.dec_hi, dtype=np.float64)
        self.rec_lo = np.asarray(w.rec_lo, dtype=np.float64)
        self.rec_hi = np.asarray(w.rec_hi, dtype=np.float64)
        self.orthogonal = bool(w.orthogonal)
        self.biorthogonal = bool(w.biorthogonal)
        for a in (self.dec_lo, self.dec_hi, self.rec_lo, self.rec_hi):
            a.flags.writeable = False

    @property
    def dec_len(self) -> int:
        """The filter length ``F`` (all four filters have it)."""
        return len(self.dec_lo)

    def __len__(self) -> int:
        return self.dec_len

    def __repr__(self) -> str:
        return f"Wavelet({self.name!r}, F={self.dec_len}, orthogonal={self.orthogonal})"


@lru_cache(maxsize=1024)
def _wavelet_by_name(name: str) -> Wavelet:
    return Wavelet(name)


def as_wavelet(wavelet: Any) -> Wavelet:
    """A :class:`Wavelet` from a name, a Wavelet, or a ``pywt.Wavelet``."""
    if isinstance(wavelet, Wavelet):
        return wavelet
    if isinstance(wavelet, pywt.Wavelet):
        return _wavelet_by_name(wavelet.name)
    if isinstance(wavelet, str):
        return _wavelet_by_name(wavelet)
    raise TypeError(
        f"wavelet must be a name such as 'db4', a wavelearn.Wavelet or a pywt.Wavelet, "
        f"got {type(wavelet).__name__}"
    )


def check_mode(mode: Any) -> str:
    """Return ``mode`` if it is one of the nine boundary modes, else raise ValueError."""
    if not isinstance(mode, str) or mode not in MODES:
        hint = _closest(mode, MODES) if isinstance(mode, str) else ""
        raise ValueError(
            f"unknown mode {mode!r}{hint}; mode must be one of {', '.join(MODES)}"
        )
    return mode
