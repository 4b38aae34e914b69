"""Wavelets (filter banks) and boundary modes.

A discrete wavelet is, for the DWT, four finite filters: the analysis
(decomposition) low-pass ``dec_lo`` and high-pass ``dec_hi``, and the synthesis
(reconstruction) pair ``rec_lo``, ``rec_hi``. wavelearn takes them from
PyWavelets, so every name in ``pywt.wavelist(kind='discrete')`` works (in any
letter case, as in PyWavelets); a custom filter bank works too:
``Wavelet('mine', filter_bank=(dec_lo, dec_hi, rec_lo, rec_hi))``, a
``pywt.Wavelet`` built from one, or any object with the four filters as
attributes.

For an *orthogonal* wavelet the synthesis filters are the time-reversed
analysis filters, :math:`g[k] = h[F-1-k]`, and the one-level transform is an
orthogonal matrix (in periodization mode): its inverse is its transpose.

Boundary modes are named as in PyWavelets (:data:`MODES`); its old short
names (``'per'``, ``'sym'``, ``'zpd'``, ...) and its integer codes
(``pywt.Modes.symmetric == 1``, ...) are accepted too, see :func:`check_mode`.
"""

from __future__ import annotations

import difflib
import numbers
import warnings
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

# PyWavelets' integer mode codes: MODE_CODES[pywt.Modes.<name>] == name
MODE_CODES = (
    "zero",
    "symmetric",
    "constant",
    "smooth",
    "periodic",
    "periodization",
    "reflect",
    "antisymmetric",
    "antireflect",
)

# PyWavelets' old short names of the modes (still accepted by pywt)
MODE_ALIASES = {
    "zpd": "zero",
    "cpd": "constant",
    "sym": "symmetric",
    "ppd": "periodic",
    "sp1": "smooth",
    "per": "periodization",
}

FILTER_NAMES = ("dec_lo", "dec_hi", "rec_lo", "rec_hi")


@lru_cache(maxsize=1024)
def discrete_names() -> tuple[str, ...]:
    return tuple(pywt.wavelist(kind="discrete"))


def _closest(name: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _is_continuous(name: str) -> bool:
    """True for the names of PyWavelets' continuous wavelets, with or without
    parameters: 'morl', 'gaus3', 'cmor1.5-1.0', 'shan1-1.5', 'fbsp1-1.5-1.0', ..."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return isinstance(pywt.DiscreteContinuousWavelet(name), pywt.ContinuousWavelet)
    except Exception:  # a probe: whatever pywt raises means "not a continuous name"
        return False


class Wavelet:
    r"""A discrete wavelet: its four filters as read-only float64 NumPy arrays.

    Args:
        name: a name from ``pywt.wavelist(kind='discrete')``, e.g. ``'haar'``,
            ``'db4'``, ``'sym6'``, ``'coif3'``, ``'bior2.2'`` (any letter case);
            with ``filter_bank``, any label (default ``'custom'``).
        filter_bank: the filters of a custom wavelet, as ``pywt.Wavelet``
            takes them: a sequence ``(dec_lo, dec_hi, rec_lo, rec_hi)``, an
            object with a ``filter_bank`` attribute (such as a ``pywt.Wavelet``),
            or an object with ``dec_lo``, ``dec_hi``, ``rec_lo``, ``rec_hi``
            attributes. The four filters must be real, non-empty and of equal
            length; an odd length gets a trailing zero, as in PyWavelets.

    Attributes:
        name: the name it was made from (lower case), or the custom label.
        dec_lo: the analysis low-pass filter :math:`h`, ``(F,)``.
        dec_hi: the analysis high-pass filter :math:`g`, ``(F,)``.
        rec_lo: the synthesis low-pass filter :math:`\tilde h`, ``(F,)``.
        rec_hi: the synthesis high-pass filter :math:`\tilde g`, ``(F,)``.
        dec_len: the filter length ``F``.
        orthogonal: whether the filter bank is orthogonal (bool; False for a custom
            filter bank, as in PyWavelets).
        biorthogonal: whether it reconstructs perfectly (bool; False for a custom
            filter bank, as in PyWavelets).

    Two wavelets are equal (and hash alike) when their names and filters are:
    cached helpers keyed by a wavelet never confuse two custom filter banks.
    """

    def __init__(self, name: str | None = None, filter_bank: Any = None) -> None:
        if filter_bank is not None:
            self._init_custom("custom" if name is None else name, filter_bank)
        else:
            self._init_named(name)
        for a in self.filters:
            a.flags.writeable = False
        self._key = (self.name, *(a.tobytes() for a in self.filters))

    def _init_named(self, name: Any) -> None:
        if name is None:
            raise TypeError("Wavelet needs a name (such as 'db4') or a filter_bank=")
        if not isinstance(name, str):
            raise TypeError(f"wavelet must be a name (str) or a Wavelet, got {type(name).__name__}")
        lower = name.lower()
        if lower not in discrete_names():
            if _is_continuous(lower):
                raise ValueError(
                    f"wavelet {name!r} is a continuous wavelet (for the CWT); the DWT needs a "
                    "discrete one, e.g. 'haar', 'db4', 'sym6' (see "
                    "pywt.wavelist(kind='discrete'))"
                )
            raise ValueError(
                f"unknown wavelet {name!r}{_closest(lower, discrete_names())} "
                "(valid names: pywt.wavelist(kind='discrete'), in any letter case)"
            )
        w = pywt.Wavelet(lower)
        self.name = lower
        self.dec_lo, self.dec_hi, self.rec_lo, self.rec_hi = (
            np.asarray(getattr(w, f), dtype=np.float64) for f in FILTER_NAMES
        )
        self.orthogonal = bool(w.orthogonal)
        self.biorthogonal = bool(w.biorthogonal)

    def _init_custom(self, name: Any, filter_bank: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Wavelet name must be a str, got {type(name).__name__}")
        self.name = name
        self.dec_lo, self.dec_hi, self.rec_lo, self.rec_hi = _filter_bank(filter_bank)
        self.orthogonal = self.biorthogonal = False

    @property
    def filters(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(dec_lo, dec_hi, rec_lo, rec_hi)`` (``pywt.Wavelet.filter_bank``)."""
        return self.dec_lo, self.dec_hi, self.rec_lo, self.rec_hi

    filter_bank = filters

    @property
    def dec_len(self) -> int:
        """The filter length ``F`` (all four filters have it)."""
        return len(self.dec_lo)

    def __len__(self) -> int:
        return self.dec_len

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Wavelet) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Wavelet({self.name!r}, F={self.dec_len}, orthogonal={self.orthogonal})"


def _filter_bank(bank: Any) -> list[np.ndarray]:
    """The four filters of a custom filter bank (see :class:`Wavelet`), float64,
    of one even length."""
    if hasattr(bank, "filter_bank"):
        bank = bank.filter_bank
    elif all(hasattr(bank, f) for f in FILTER_NAMES):
        bank = [getattr(bank, f) for f in FILTER_NAMES]
    if isinstance(bank, (str, bytes)) or not hasattr(bank, "__len__") or len(bank) != 4:
        raise ValueError(
            "filter_bank must hold four filters (dec_lo, dec_hi, rec_lo, rec_hi): a sequence "
            f"of four, or an object with those attributes; got {type(bank).__name__}"
        )
    filters = [_one_filter(f, name) for f, name in zip(bank, FILTER_NAMES, strict=True)]
    lengths = {len(f) for f in filters}
    if len(lengths) != 1:
        got = ", ".join(f"{n}: {len(f)}" for n, f in zip(FILTER_NAMES, filters, strict=True))
        raise ValueError(f"the four filters of filter_bank must have the same length; got {got}")
    if lengths.pop() % 2:  # PyWavelets pads odd lengths with a zero at the end
        filters = [np.append(f, 0.0) for f in filters]
    return filters


def _one_filter(f: Any, name: str) -> np.ndarray:
    a = np.asarray(f)
    if a.dtype == object and all(isinstance(v, numbers.Real) for v in a.flat):
        a = a.astype(np.float64)
    if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "biuf":
        raise ValueError(
            f"filter_bank: {name} must be a non-empty 1-d sequence of real numbers; got "
            f"{a.size} value(s) of dtype {a.dtype} in {a.ndim} dimension(s)"
        )
    return a.astype(np.float64)


@lru_cache(maxsize=1024)
def _wavelet_by_name(name: str) -> Wavelet:
    return Wavelet(name)


def as_wavelet(wavelet: Any) -> Wavelet:
    """A :class:`Wavelet` from a name (any letter case), a Wavelet, a
    ``pywt.Wavelet`` (built-in or custom) or any object with the four filters
    ``dec_lo``, ``dec_hi``, ``rec_lo``, ``rec_hi`` as attributes."""
    if isinstance(wavelet, Wavelet):
        return wavelet
    if isinstance(wavelet, str):
        return _wavelet_by_name(wavelet.lower()) if wavelet.lower() in discrete_names() \
            else Wavelet(wavelet)  # raises the right error
    if isinstance(wavelet, pywt.ContinuousWavelet):
        return Wavelet(wavelet.name)  # raises: continuous
    if isinstance(wavelet, pywt.Wavelet) and wavelet.name in discrete_names():
        named = _wavelet_by_name(wavelet.name)
        if all(np.array_equal(a, b) for a, b in zip(named.filters, wavelet.filter_bank,
                                                     strict=True)):
            return named
    if isinstance(wavelet, pywt.Wavelet) or all(hasattr(wavelet, f) for f in FILTER_NAMES):
        name = getattr(wavelet, "name", None)
        return Wavelet(name if isinstance(name, str) and name else "custom", wavelet)
    raise TypeError(
        "wavelet must be a name such as 'db4', a wavelearn.Wavelet, a pywt.Wavelet or an "
        f"object with dec_lo, dec_hi, rec_lo and rec_hi filters; got {type(wavelet).__name__}"
    )


def check_mode(mode: Any) -> str:
    """The name (one of :data:`MODES`) of a boundary mode given by its name, by
    one of PyWavelets' old short names (``'zpd'``, ``'cpd'``, ``'sym'``,
    ``'ppd'``, ``'sp1'``, ``'per'``) or by its PyWavelets integer code 0..8
    (``pywt.Modes.periodization == 5``); anything else raises."""
    if isinstance(mode, str):
        if mode in MODES:
            return mode
        if mode in MODE_ALIASES:
            return MODE_ALIASES[mode]
        raise ValueError(
            f"unknown mode {mode!r}{_closest(mode, MODES)}; mode must be one of "
            f"{', '.join(MODES)} (or a PyWavelets alias: {', '.join(MODE_ALIASES)})"
        )
    if isinstance(mode, (int, np.integer)) and not isinstance(mode, (bool, np.bool_)):
        if 0 <= mode < len(MODE_CODES):
            return MODE_CODES[int(mode)]
        raise ValueError(
            f"unknown mode code {mode}; PyWavelets' mode codes are 0..{len(MODE_CODES) - 1}: "
            + ", ".join(f"{k}={m}" for k, m in enumerate(MODE_CODES))
        )
    raise TypeError(
        f"mode must be a name such as 'symmetric' (one of {', '.join(MODES)}) or a PyWavelets "
        f"mode code (int 0..{len(MODE_CODES) - 1}); got {type(mode).__name__}"
    )
