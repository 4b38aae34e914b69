r"""The discrete wavelet transform, its inverse, and their exact adjoints.

One level of the DWT of a signal :math:`x` of length :math:`N` with a filter
of length :math:`F`, as three linear steps (see :mod:`wavelearn.dwt.filterbank`):

.. math::
    c_A = D\,(h_{lo} * E x), \qquad c_D = D\,(h_{hi} * E x)

:math:`E` pads :math:`x` by the boundary *mode*, :math:`h * \cdot` filters
and :math:`D` keeps every second sample. The results equal PyWavelets'
(same argument names, same coefficient order and lengths):

- every mode but periodization pads :math:`F-1` samples on each side and
  gives :math:`\lfloor (N+F-1)/2 \rfloor` coefficients;
- periodization treats the signal as periodic (odd lengths first repeat
  their last sample) and gives :math:`\lceil N/2 \rceil`.

The inverse upsamples, filters with the synthesis filters and adds the two
bands. Because every step is linear, each transform is a matrix :math:`A`,
and training needs :math:`A^T` (the vector-Jacobian product):
``dwt_adjoint``, ``idwt_adjoint``, ``wavedec_adjoint``, ``waverec_adjoint``.
They are exact for every mode: the gradient that reaches the padding is folded
back onto the edge samples it was copied from (:math:`E^T`). For an
orthogonal wavelet in periodization mode :math:`A` is orthogonal, so
:math:`A^T = A^{-1}`: ``wavedec_adjoint`` equals ``waverec`` there, and only
there.

All functions take arrays of any backend (NumPy, CuPy, PyTorch) with any
number of dimensions, and transform along ``axis``. The multilevel ones run
level by level, except for short signals on the CPU: there the whole transform
:math:`A` (built once by the levels themselves) is one matrix product
(:mod:`wavelearn.dwt.dense`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from wavelearn import buffers
from wavelearn.backend import check_same_backend
from wavelearn.dwt import dense, gathered
from wavelearn.dwt import filterbank as fb
from wavelearn.dwt import finite as fin
from wavelearn.dwt.arrays import Layout, as_array, from_3d, prepare
from wavelearn.dwt.levels import (  # noqa: F401 (the level functions, also from here)
    analysis_filters,
    analysis_growth,
    analysis_level,
    analysis_level_adjoint,
    synthesis_filters,
    synthesis_growth,
    synthesis_level,
    synthesis_level_adjoint,
)
from wavelearn.dwt.wavelets import Wavelet, as_wavelet, check_mode

__all__ = [
    "dwt",
    "dwt_adjoint",
    "dwt_coeff_len",
    "dwt_max_level",
    "idwt",
    "idwt_adjoint",
    "wavedec",
    "wavedec_adjoint",
    "waverec",
    "waverec_adjoint",
]

# ---------------------------------------------------------------------------
# Lengths and levels (PyWavelets' rules)
# ---------------------------------------------------------------------------


# The highest ``level`` wavedec accepts. Above dwt_max_level every further level
# only re-filters the same F - 1 boundary coefficients (and multiplies them by
# about sqrt(2)); PyWavelets loops for ever on level=10**18, wavelearn refuses at once.
LEVEL_LIMIT = 1024


def _whole(value: Any, name: str) -> int:
    """An int from an int, a numpy integer or an integral float (as PyWavelets
    takes lengths); bools, fractions and anything else raise."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not float(value).is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _filter_len(filter_len: Any, minimum: int) -> int:
    """``F`` from a length (an int >= ``minimum``) or from a wavelet."""
    if isinstance(filter_len, (int, float, np.integer, np.floating)):
        F = _whole(filter_len, "filter_len")
        if F < minimum:
            raise ValueError(f"filter_len must be at least {minimum}, got {F}")
        return F
    return as_wavelet(filter_len).dec_len


def dwt_max_level(data_len: int, filter_len: int | str | Wavelet) -> int:
    r"""The deepest useful level: the largest :math:`L` with
    :math:`(F-1)\,2^L \le N` (0 when the signal is shorter than the filter,
    or empty). ``filter_len`` is ``F`` (at least 2) or a wavelet."""
    F = _filter_len(filter_len, 2)
    N = _whole(data_len, "data_len")
    if N < 0:
        raise ValueError(f"data_len must be at least 0, got {N}")
    return max((N // (F - 1)).bit_length() - 1, 0)


def dwt_coeff_len(data_len: int, filter_len: int | str | Wavelet, mode: str) -> int:
    r"""Coefficients per band after one level: :math:`\lceil N/2 \rceil` in
    periodization mode, else :math:`\lfloor (N+F-1)/2 \rfloor`. ``filter_len``
    is ``F`` (at least 1) or a wavelet."""
    F, mode = _filter_len(filter_len, 1), check_mode(mode)
    N = _whole(data_len, "data_len")
    if N < 1:
        raise ValueError(f"data_len must be at least 1, got {N}")
    return -(-N // 2) if mode == "periodization" else (N + F - 1) // 2


# ---------------------------------------------------------------------------
# Public API: single level
# ---------------------------------------------------------------------------


def dwt(data: Any, wavelet: Any, mode: str = "symmetric", axis: int = -1) -> tuple[Any, Any]:
    """One level of the DWT along ``axis``: returns ``(cA, cD)`` (as ``pywt.dwt``).

    Args:
        data: array (numpy, cupy or torch; any number of dimensions) or list.
        wavelet: name (``'db4'``), :class:`Wavelet` or ``pywt.Wavelet``.
        mode: one of the nine boundary modes (``wavelearn.dwt.wavelets.MODES``).
        axis: the axis to transform.
    """
    w, mode = as_wavelet(wavelet), check_mode(mode)
    xp, x3, layout = prepare(data, axis)
    a, d = analysis_level(xp, x3, w, mode)
    return from_3d(xp, a, layout), from_3d(xp, d, layout)


def idwt(cA: Any, cD: Any, wavelet: Any, mode: str = "symmetric", axis: int = -1) -> Any:
    """One level of the inverse DWT (as ``pywt.idwt``); either band may be None
    (taken as zeros). The output has ``2n - F + 2`` samples (``2n`` in
    periodization mode) for ``n`` coefficients per band."""
    w, mode = as_wavelet(wavelet), check_mode(mode)
    if cA is None and cD is None:
        raise ValueError("idwt needs cA or cD; both are None")
    named = [(n, as_array(c, n)) for n, c in (("cA", cA), ("cD", cD)) if c is not None]
    check_same_backend(*(c for _, c in named))  # before anything
    if len(named) == 2:
        _check_same_shape(named[0][1], named[1][1], "cA", "cD")
    xp, ref3, layout = prepare(named[0][1], axis, named[0][0])
    bands = {n: prepare(c, axis, n)[1] for n, c in named}
    a3, d3 = (bands.get(n, xp.zeros_like(ref3)) for n in ("cA", "cD"))
    _check_synthesis_length(a3.shape[1], w, mode, "cA and cD")
    return from_3d(xp, synthesis_level(xp, *_common_dtype(xp, a3, d3), w, mode), layout)


def _check_synthesis_length(n: int, w: Wavelet, mode: str, name: str) -> None:
    """PyWavelets refuses to reconstruct from fewer than ``F/2`` coefficients
    (outside periodization): the result would have ``2n - F + 2 < 1`` samples."""
    if mode != "periodization" and 2 * n - w.dec_len + 2 < 1:
        raise ValueError(
            f"{name} have {n} coefficient(s) along the axis, too few for {w.name} (F="
            f"{w.dec_len}) in mode {mode!r}: at least {w.dec_len // 2} are needed"
        )


def _check_same_shape(a: Any, b: Any, name_a: str, name_b: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}"
        )


def _common_dtype(xp: Any, *arrays: Any) -> list[Any]:
    """PyWavelets' rule for bands of different dtypes: float64, or complex128
    when one is complex (float32 with complex64 gives complex128)."""
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) == 1:
        return list(arrays)
    complex_ = any(xp.isdtype(d, "complex floating") for d in dtypes)
    dtype = xp.complex128 if complex_ else xp.float64
    return [xp.astype(a, dtype, copy=False) for a in arrays]


# ---------------------------------------------------------------------------
# Public API: multilevel
# ---------------------------------------------------------------------------


def check_level(level: Any, data_len: int, w: Wavelet) -> int:
    """``level`` checked (an int in ``[0, LEVEL_LIMIT]``, or None for the maximum);
    above :func:`dwt_max_level` it warns (as PyWavelets)."""
    max_level = dwt_max_level(data_len, w.dec_len)
    if level is None:
        return max_level
    if not isinstance(level, (int, np.integer)) or isinstance(level, (bool, np.bool_)):
        raise TypeError(f"level must be an int or None, got {type(level).__name__}")
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}")
    if level > LEVEL_LIMIT:
        raise ValueError(
            f"level={level} is far above dwt_max_level={max_level} for {data_len} samples "
            f"and {w.name} (F={w.dec_len}); level must be at most {LEVEL_LIMIT} (beyond "
            "dwt_max_level each level only re-filters the same boundary coefficients)"
        )
    if level > 0 and data_len == 0:
        raise ValueError(f"data has no samples along the axis, so level must be 0 or None; "
                         f"got level={level}")
    if level > max_level:
        warnings.warn(
            f"level={level} is above dwt_max_level={max_level} for {data_len} samples and "
            f"{w.name} (F={w.dec_len}): every coefficient is affected by the boundary",
            UserWarning,
            stacklevel=3,
        )
    return int(level)


def wavedec(
    data: Any, wavelet: Any, mode: str = "symmetric", level: int | None = None, axis: int = -1
) -> list[Any]:
    """Multilevel DWT: ``[cA_n, cD_n, cD_{n-1}, ..., cD_1]`` (as ``pywt.wavedec``).

    ``level=None`` means :func:`dwt_max_level`; a level above it warns and
    still works (every coefficient then feels the boundary), up to
    :data:`LEVEL_LIMIT`. ``level=0`` returns ``[data]`` (in the float dtype).
    """
    w, mode = as_wavelet(wavelet), check_mode(mode)
    xp, a, layout = prepare(data, axis, empty_axis=True)
    level = check_level(level, a.shape[1], w)
    return [from_3d(xp, c, layout) for c in wavedec_3d(xp, a, w, mode, level)]


def wavedec_3d(xp: Any, a: Any, w: Wavelet, mode: str, level: int) -> list[Any]:
    """:func:`wavedec` of ``a`` ``(P, N, Q)`` along axis 1, arguments checked:
    ``[cA_J, cD_J, ..., cD_1]``, each ``(P, n_j, Q)``. Many channels take the gathered
    levels (:mod:`wavelearn.dwt.gathered`), a short signal of few one matrix product
    (:mod:`wavelearn.dwt.dense`), the others the levels: those whose middle
    runs the compiled tap sums check the few samples their ends read
    (:func:`~wavelearn.dwt.filterbank.middle_by_taps`), the others rely on one check of
    the input (:mod:`wavelearn.dwt.finite`)."""
    if (c := gathered.wavedec(a, w, mode, level)) is not None:
        return c
    if level and (c := _wavedec_dense(xp, a, w, mode, level)) is not None:
        return c
    details = []
    checked = level and fb.blocked_candidate(a) and not fb.middle_by_taps([a], 2, w.dec_len)
    bound = fin.magnitude_bound([a]) if checked else math.inf  # (else each level: its ends)
    for _ in range(level):
        finite = fin.known_finite(bound, a.dtype)  # a's magnitudes are at most bound
        bound *= analysis_growth(w, mode, a.shape[1])
        a, d = analysis_level(xp, a, w, mode, finite=finite)
        details.append(d)
    return [a, *details[::-1]]


def _wavedec_dense(xp: Any, a: Any, w: Wavelet, mode: str, level: int) -> list[Any] | None:
    """``wavedec`` of a short signal as one matrix product (:mod:`wavelearn.dwt.dense`),
    or None where the level path is to run."""
    n = a.shape[1]
    lengths = dense.analysis_lengths(w, mode, n, level)
    if not dense.pays(w, n, lengths, a.dtype):
        return None
    op = dense.analysis_matrix(w, mode, n, level)  # (N_c, n)
    if not dense.use_dense([a], op):
        return None
    return dense.split(op.apply(xp, a), lengths)  # (P, n_k, Q) each


def _coeffs_3d(
    coeffs: Any, axis: int, name: str = "coeffs", allow_none: bool = False
) -> tuple[Any, list[Any], Layout]:
    """Check a coefficient list and view every entry as ``(P, n, Q)``; with
    ``allow_none``, ``None`` entries (bands of zeros, as in PyWavelets) stay None."""
    if not isinstance(coeffs, (list, tuple)) or len(coeffs) == 0:
        raise ValueError(f"{name} must be a non-empty list [cA_n, cD_n, ..., cD_1]")
    arrays = [None if c is None and allow_none else as_array(c, f"{name}[{j}]")
              for j, c in enumerate(coeffs)]
    given = [(j, c) for j, c in enumerate(arrays) if c is not None]
    if not given:
        raise ValueError(f"{name} holds only None; at least one band must be an array")
    check_same_backend(*(c for _, c in given))  # before anything
    j0, c0 = given[0]
    xp, first, layout = prepare(c0, axis, f"{name}[{j0}]", empty_axis=len(arrays) == 1)
    out: list[Any] = [None] * len(arrays)
    out[j0] = first
    ref = [s for k, s in enumerate(layout.shape) if k != layout.axis]
    for j, c in given[1:]:
        c3 = prepare(c, axis, f"{name}[{j}]")[1]
        rest = [s for k, s in enumerate(c.shape) if k != layout.axis]
        if rest != ref:
            raise ValueError(
                f"{name}[{j}] has shape {tuple(c.shape)}, which does not match {name}[{j0}] "
                f"{layout.shape} outside axis {layout.axis}"
            )
        out[j] = c3
    typed = iter(_common_dtype(xp, *(c for c in out if c is not None)))
    return xp, [None if c is None else next(typed) for c in out], layout


def fit_approx(a: Any, d: Any, j: int, n_levels: int) -> Any:
    """Trim ``a`` to ``d``'s length where the previous synthesis gave one sample
    more than the original (odd lengths), as PyWavelets does; else check."""
    if a.shape[1] == d.shape[1] + 1:
        return a[:, :-1, :]
    if a.shape[1] != d.shape[1]:
        level = n_levels - j + 1
        raise ValueError(
            f"coefficients do not fit together at level {level} (coeffs[{j}]): the "
            f"approximation there has {a.shape[1]} samples but the detail band {d.shape[1]}"
        )
    return a


def waverec(
    coeffs: list[Any],
    wavelet: Any,
    mode: str = "symmetric",
    axis: int = -1,
    length: int | None = None,
) -> Any:
    """Multilevel inverse DWT of ``[cA_n, cD_n, ..., cD_1]`` (as ``pywt.waverec``).

    An entry may be None: a band of zeros (as in PyWavelets). Like PyWavelets,
    the result can be one sample longer than the original signal (odd
    lengths). Pass ``length=`` (the original length along ``axis``) to get
    exactly that length back; it must be the natural length or one less.
    """
    w, mode = as_wavelet(wavelet), check_mode(mode)
    xp, cs, layout = _coeffs_3d(coeffs, axis, allow_none=True)
    return from_3d(xp, crop_length(waverec_3d(xp, cs, w, mode), length), layout)


def waverec_3d(xp: Any, cs: list[Any], w: Wavelet, mode: str) -> Any:
    """:func:`waverec` of bands ``(P, n_j, Q)`` (None: zeros) along axis 1, of one dtype:
    ``(P, N, Q)``. Many channels take the gathered levels (:mod:`wavelearn.dwt.gathered`),
    short bands of few one matrix product (:mod:`wavelearn.dwt.dense`), the others the
    levels.

    Bands of many channels, whose levels run the compiled tap sums in their middle,
    check only the few coefficients their ends read
    (:func:`~wavelearn.dwt.filterbank.middle_by_taps`). For the others (one channel:
    BLAS products with zeros), finiteness is checked on the result, not the bands: the
    levels first run as if the bands were finite (:mod:`wavelearn.dwt.finite`), and the
    result, just written and still in the cache, is checked in one pass. A non-finite
    value read anywhere, or a sum that overflowed, reaches the result (each coefficient
    feeds at least two neighbouring samples of its level, of which a trim drops at most
    one): then the levels run again, each checking its input, and give what they gave
    before (the same bits, NaN and inf in the same places: tested)."""
    if all(c is not None for c in cs) and (z := gathered.waverec(cs, w, mode)) is not None:
        return z
    if (z := _waverec_dense(xp, cs, w, mode)) is not None:
        return z
    given = [c for c in cs if c is not None]
    if len(cs) > 1 and fb.middle_by_taps(given, 2, w.dec_len):  # each level: its ends
        return _waverec_levels(xp, cs, w, mode, finite=False)
    if len(cs) > 1 and fb.blocked_candidate(given[0]):
        with np.errstate(all="ignore"):  # non-finite data are done again below
            z = _waverec_levels(xp, cs, w, mode, finite=True)
        if math.isfinite(fin.magnitude_bound([z])):
            return z
    return _waverec_levels(xp, cs, w, mode, finite=False)


def _waverec_levels(xp: Any, cs: list[Any], w: Wavelet, mode: str, finite: bool) -> Any:
    """The levels of :func:`waverec_3d`; ``finite``: every level's input is taken to be
    finite (no check)."""
    a = cs[0]
    for j in range(1, len(cs)):
        a, d = _level_pair(xp, a, cs[j], j, len(cs) - 1)
        _check_synthesis_length(d.shape[1], w, mode, f"coeffs[{j}]")
        z = synthesis_level(xp, a, d, w, mode, finite=finite)
        buffers.give(a)  # the last level's output, consumed (a band of yours stays yours)
        a = z
    if a is None:
        raise ValueError("coeffs is [None]: there is nothing to reconstruct")
    return a


def _waverec_dense(xp: Any, cs: list[Any], w: Wavelet, mode: str) -> Any:
    """``waverec`` of short bands as one matrix product (:mod:`wavelearn.dwt.dense`), or
    None where the level path is to run (it also raises for bands that do not fit)."""
    if len(cs) < 2 or any(c is None for c in cs):
        return None
    lengths = [c.shape[1] for c in cs]
    natural = _natural_length(lengths, w, mode)
    trimmed = mode != "periodization"  # (its levels' ends cost little: dense.pays)
    if natural is None or not dense.pays(w, natural, lengths, cs[0].dtype, trimmed):
        return None
    op = dense.synthesis_matrix(w, mode, tuple(lengths))  # (N_out, N_c)
    c = dense.stacked(xp, cs)  # (P, N_c, Q)
    return op.apply(xp, c) if dense.use_dense([c], op) else None  # (P, N_out, Q)


def _natural_length(lengths: list[int], w: Wavelet, mode: str) -> int | None:
    """The length ``waverec`` gives for bands of these lengths, or None where its levels
    would refuse them (they then raise their own error): bands that do not fit
    together, or too few coefficients (:func:`_check_synthesis_length`)."""
    try:
        approx = _waverec_lengths(lengths, w, mode)  # the approximation entering each level
    except ValueError:
        return None
    return approx[-1] if min(approx[1:]) >= 1 else None


def _level_pair(xp: Any, a: Any, d: Any, j: int, n_levels: int) -> tuple[Any, Any]:
    """The approximation and detail band entering level ``j`` of waverec: a None
    band is zeros shaped like the other (as PyWavelets), else ``a`` is fitted."""
    if a is None and d is None:
        raise ValueError(f"coeffs[0] .. coeffs[{j}] are all None: level {n_levels - j + 1} "
                         "has neither an approximation nor a detail band")
    if d is None:
        return a, xp.zeros_like(a)
    if a is None:
        return xp.zeros_like(d), d
    return fit_approx(a, d, j, n_levels), d


def crop_length(a: Any, length: int | None) -> Any:
    if length is None:
        return a
    n = a.shape[1]
    if not isinstance(length, (int, np.integer)) or length not in (n, n - 1):
        raise ValueError(
            f"length={length!r} does not fit these coefficients: they reconstruct {n} "
            f"samples, so length must be {n} or {n - 1}"
        )
    return a[:, :length, :]


# ---------------------------------------------------------------------------
# Public API: adjoints (vector-Jacobian products)
# ---------------------------------------------------------------------------


def dwt_adjoint(
    dcA: Any, dcD: Any, wavelet: Any, mode: str = "symmetric", axis: int = -1, *, length: int
) -> Any:
    r"""The adjoint of :func:`dwt`: :math:`A^T [\bar c_A; \bar c_D]`, the gradient
    with respect to ``data`` of length ``length`` along ``axis``."""
    w, mode = as_wavelet(wavelet), check_mode(mode)
    dcA, dcD = as_array(dcA, "dcA"), as_array(dcD, "dcD")
    check_same_backend(dcA, dcD)  # before anything
    _check_same_shape(dcA, dcD, "dcA", "dcD")
    xp, a3, layout = prepare(dcA, axis, "dcA")
    d3 = prepare(dcD, axis, "dcD")[1]
    _expect_len(a3.shape[1], dwt_coeff_len(length, w, mode), "dcA", length)
    dx = analysis_level_adjoint(xp, *_common_dtype(xp, a3, d3), length, w, mode)  # (P, n, Q)
    return from_3d(xp, dx, layout)


def _expect_len(got: int, want: int, name: str, length: int) -> None:
    if got != want:
        raise ValueError(f"{name} has {got} samples along the axis, but a signal of "
                         f"length={length} has {want} coefficients per band")


def idwt_adjoint(
    dy: Any, wavelet: Any, mode: str = "symmetric", axis: int = -1
) -> tuple[Any, Any]:
    """The adjoint of :func:`idwt`: ``(dcA, dcD)`` from the gradient ``dy`` of its output."""
    w, mode = as_wavelet(wavelet), check_mode(mode)
    xp, y3, layout = prepare(dy, axis, "dy")
    N, F = y3.shape[1], w.dec_len
    if (mode == "periodization" and N % 2) or (mode != "periodization" and (N + F) % 2):
        raise ValueError(f"dy has {N} samples along the axis, which idwt never outputs "
                         f"with {w.name} in mode {mode!r}")
    a, d = synthesis_level_adjoint(xp, y3, w, mode)
    return from_3d(xp, a, layout), from_3d(xp, d, layout)


def wavedec_adjoint(
    dcoeffs: list[Any], wavelet: Any, mode: str = "symmetric", axis: int = -1, *, length: int
) -> Any:
    r"""The adjoint of :func:`wavedec` for a signal of ``length`` samples.

    Runs the levels backwards: :math:`\bar a_{j-1} = \mathrm{dwt}^T(\bar a_j,
    \bar d_j)`. For an orthogonal wavelet in periodization mode (and lengths
    divisible by :math:`2^J`) this is exactly :func:`waverec`.
    """
    w, mode = as_wavelet(wavelet), check_mode(mode)
    xp, cs, layout = _coeffs_3d(dcoeffs, axis, "dcoeffs")
    lengths = [int(length)]
    for _ in range(len(cs) - 1):
        lengths.append(dwt_coeff_len(lengths[-1], w, mode))
    _expect_len(cs[0].shape[1], lengths[-1], "dcoeffs[0]", length)
    if (da := _wavedec_adjoint_whole(xp, cs, w, mode, lengths)) is not None:
        return from_3d(xp, da, layout)
    da = cs[0]
    for j, dd in enumerate(cs[1:], start=1):  # coarsest level first
        n = lengths[len(cs) - j - 1]
        _expect_len(dd.shape[1], lengths[len(cs) - j], f"dcoeffs[{j}]", n)
        da = analysis_level_adjoint(xp, da, dd, n, w, mode)
    return from_3d(xp, da, layout)


def _wavedec_adjoint_whole(xp: Any, cs: list[Any], w: Wavelet, mode: str,
                           lengths: list[int]) -> Any:
    """:math:`W^T` in one go: the gathered levels (many channels,
    :mod:`wavelearn.dwt.gathered`) or, for short bands, one matrix product
    (:mod:`wavelearn.dwt.dense`); None where the level path is to run (it also raises
    for bands of wrong lengths).
    ``lengths``: the signal's length, then the approximation's at each level."""
    level = len(cs) - 1
    expected = [lengths[-1], *lengths[:0:-1]]  # [cA_J, cD_J, ..., cD_1]
    if level == 0 or [c.shape[1] for c in cs] != expected:
        return None
    if (da := gathered.wavedec_adjoint(cs, w, mode, lengths)) is not None:
        return da
    if not dense.pays(w, lengths[0], expected, cs[0].dtype):
        return None
    op = dense.analysis_matrix(w, mode, lengths[0], level).T  # (n, N_c)
    c = dense.stacked(xp, cs)  # (P, N_c, Q)
    return op.apply(xp, c) if dense.use_dense([c], op) else None  # (P, n, Q)


def waverec_adjoint(
    dy: Any,
    wavelet: Any,
    mode: str = "symmetric",
    axis: int = -1,
    *,
    coeff_lengths: list[int],
) -> list[Any]:
    """The adjoint of :func:`waverec` for coefficients whose lengths along
    ``axis`` were ``coeff_lengths`` (``[len(cA_n), len(cD_n), ..., len(cD_1)]``);
    ``dy`` may be shorter by one sample (``waverec(..., length=...)``)."""
    w, mode = as_wavelet(wavelet), check_mode(mode)
    xp, g, layout = prepare(dy, axis, "dy")
    approx_in = _waverec_lengths(coeff_lengths, w, mode)  # length of a entering each level
    natural = approx_in[-1]
    if g.shape[1] not in (natural, natural - 1):
        raise ValueError(f"dy has {g.shape[1]} samples; waverec of coefficients with lengths "
                         f"{list(coeff_lengths)} gives {natural} (or {natural - 1} with length=)")
    if (grads := _waverec_adjoint_whole(xp, g, w, mode, list(coeff_lengths))) is not None:
        return [from_3d(xp, c, layout) for c in grads]
    zeros = natural - g.shape[1]  # adjoint of the crop: a zero at the end
    grads = []
    for j in range(len(coeff_lengths) - 1, 0, -1):  # finest level first
        da, dd = synthesis_level_adjoint(xp, g, w, mode, zeros)
        grads.append(dd)
        # the adjoint of waverec's trim of cA's last sample (where it did): a zero at the end
        g, zeros = da, approx_in[j - 1] - da.shape[1]
    grads.append(fb.extend(xp, g, 0, zeros, "zero") if zeros else g)
    return [from_3d(xp, c, layout) for c in grads[::-1]]


def _waverec_adjoint_whole(xp: Any, g: Any, w: Wavelet, mode: str,
                           lengths: list[int]) -> list[Any] | None:
    """:math:`R^T` in one go: the gathered levels (many channels,
    :mod:`wavelearn.dwt.gathered`) or, for a short ``g``, one matrix product
    (:mod:`wavelearn.dwt.dense`, its rows cut to ``g``'s length: the adjoint of
    ``length=``); None where the level path is to run."""
    natural = _natural_length(lengths, w, mode) if len(lengths) > 1 else None
    if natural is not None:
        grads = gathered.waverec_adjoint(g, w, mode, lengths, _waverec_lengths(lengths, w, mode))
        if grads is not None:
            return grads
    if natural is None or not dense.pays(w, natural, lengths, g.dtype):
        return None
    op = dense.synthesis_adjoint(w, mode, tuple(lengths), g.shape[1])  # (N_c, len(g))
    if not dense.use_dense([g], op):
        return None
    return dense.split(op.apply(xp, g), lengths)  # (P, n_k, Q) each


def _waverec_lengths(coeff_lengths: list[int], w: Wavelet, mode: str) -> list[int]:
    """Lengths of the approximation entering each level of :func:`waverec`,
    then the natural output length (checks that the lengths fit together)."""
    if not coeff_lengths:
        raise ValueError("coeff_lengths must not be empty")
    lengths = [int(coeff_lengths[0])]
    for j, nd in enumerate(coeff_lengths[1:], start=1):
        if lengths[-1] not in (nd, nd + 1):
            raise ValueError(f"coeff_lengths {list(coeff_lengths)} do not fit together at "
                             f"coeffs[{j}]")
        lengths.append(2 * nd if mode == "periodization" else 2 * nd - w.dec_len + 2)
    return lengths
