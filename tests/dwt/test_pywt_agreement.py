"""wavelearn's DWT functions against PyWavelets on the inputs a user may pass.

The property test draws calls of the six public functions (``dwt``, ``idwt``,
``wavedec``, ``waverec``, ``dwt_max_level``, ``dwt_coeff_len``) from a wide
strategy: dtypes from bool to clongdouble and object, shapes with empty axes,
modes by name, old alias and integer code, wavelets by name in any letter
case, as ``pywt.Wavelet`` (built-in or from a custom filter bank), as
``wavelearn.Wavelet`` and as a plain object holding the four filters, levels
and axes in and out of range. It requires that either both libraries succeed
with the same result (same dtype and shape, values to a tolerance set by the
dtype), or both raise -- wavelearn with a ValueError or TypeError, never an
exception from deep inside.

Where wavelearn deliberately differs, the difference is not drawn by the
strategy but pinned by a test of its own at the end of this file (it is
stricter on a few inputs that are almost surely mistakes, e.g. ``mode=True``).
Where pywt returns its input itself (``wavedec`` at level 0, ``waverec`` of one
band) wavelearn returns it in its float dtype: only the values are compared.
The oracle is adapted in two places, both PyWavelets' own inconsistencies:
``pywt.dwt_max_level`` does not lower-case names (``pywt.dwt`` does), and
``pywt.dwt_coeff_len`` takes no names (its ``pywt.Wavelet`` is passed).
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
import pywt
from hypothesis import given, settings
from hypothesis import strategies as st

import wavelearn as wl
from wavelearn.dwt.transforms import LEVEL_LIMIT
from wavelearn.dwt.wavelets import FILTER_NAMES, as_wavelet, check_mode

BUILTIN = ("haar", "db2", "db3", "sym4", "coif1", "bior1.3", "bior2.2", "rbio3.1", "dmey")
BAD_WAVELETS = ("db0", "morl", "cmor1.5-1.0", "bogus", "db2 ", 4, None)
MODE_NAMES = tuple(pywt.Modes.modes)
ALIASES = ("zpd", "cpd", "sym", "ppd", "sp1", "per")
BAD_MODES = ("Symmetric", "bogus", "sym2", 9, -1, None)
DTYPES = (np.bool_, np.int8, np.int64, np.uint16, np.float16, np.float32, np.float64,
          np.longdouble, np.complex64, np.complex128, np.clongdouble, object)
FUNCTIONS = ("dwt", "idwt", "wavedec", "waverec", "dwt_max_level", "dwt_coeff_len")


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


def _case(name: str, flips: list[bool]) -> str:
    return "".join(c.upper() if f else c for c, f in zip(name, flips, strict=False))


@st.composite
def wavelets(draw):
    """``(for_wavelearn, for_pywt, filters)``: the same wavelet, as the user passes it
    to wavelearn and as PyWavelets takes it; ``filters`` (dec_lo, dec_hi, rec_lo,
    rec_hi) as float64 arrays, None for a bad wavelet."""
    kind = draw(st.sampled_from(["name", "pywt", "wl", "pywt_custom", "wl_custom", "object",
                                 "bad"]))
    if kind == "bad":
        bad = draw(st.sampled_from(BAD_WAVELETS))
        return bad, bad, None
    if kind in ("name", "pywt", "wl"):
        name = draw(st.sampled_from(BUILTIN))
        ref = pywt.Wavelet(name)
        filters = [np.asarray(f) for f in ref.filter_bank]
        if kind == "name":
            cased = _case(name, draw(st.lists(st.booleans(), min_size=len(name),
                                              max_size=len(name))))
            return cased, cased, filters
        return (ref if kind == "pywt" else wl.Wavelet(name)), ref, filters
    F = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bank = [np.round(rng.uniform(-2, 2, F), 3) for _ in range(4)]
    ref = pywt.Wavelet("custom", filter_bank=bank)
    filters = [np.asarray(f) for f in ref.filter_bank]  # padded to an even length
    mine = {"pywt_custom": ref,
            "wl_custom": wl.Wavelet("custom", filter_bank=bank),
            "object": types.SimpleNamespace(**dict(zip(FILTER_NAMES, bank,
                                                       strict=True)))}[kind]
    return mine, ref, filters


modes = st.one_of(st.sampled_from(MODE_NAMES), st.sampled_from(ALIASES),
                  st.integers(0, 8), st.sampled_from(BAD_MODES))


def _array(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Random values of ``dtype`` (small, finite, exact in float16)."""
    real = np.round(rng.uniform(-100, 100, shape), 1)
    if dtype is np.bool_:
        return real > 0
    if dtype is object:  # python ints and floats, as json or a database would give them
        return np.array([int(v) if k % 2 else float(v) for k, v in enumerate(real.flat)],
                        dtype=object).reshape(shape)
    if np.issubdtype(dtype, np.complexfloating):
        return (real + 1j * np.round(rng.uniform(-100, 100, shape), 1)).astype(dtype)
    if np.issubdtype(dtype, np.unsignedinteger):
        return np.abs(real).astype(dtype)
    if np.issubdtype(dtype, np.floating) and dtype is np.float16:
        return np.round(real).astype(dtype)
    return real.astype(dtype)


@st.composite
def arrays(draw, ndim=None):
    ndim = draw(st.integers(1, 3)) if ndim is None else ndim
    shape = tuple(draw(st.lists(st.integers(0, 9), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from(DTYPES))
    return _array(np.random.default_rng(draw(st.integers(0, 2**32 - 1))), shape, dtype)


def _axis(draw, ndim: int) -> int:
    return draw(st.integers(-ndim - 1, ndim))  # one out of range on each side


@st.composite
def calls(draw):
    """``(function name, args for wavelearn, args for pywt, filters, inputs)``."""
    fn = draw(st.sampled_from(FUNCTIONS))
    w, w_ref, filters = draw(wavelets())
    mode = draw(modes)
    if fn in ("dwt_max_level", "dwt_coeff_len"):
        n = draw(st.one_of(st.integers(-3, 70), st.integers(0, 70).map(float)))
        f_len = draw(st.one_of(st.integers(-2, 10), st.integers(0, 10).map(float),
                               st.just(None)))
        if f_len is None:  # the wavelet itself
            f_len, f_ref = w, w_ref
            if isinstance(f_ref, str) and filters is not None:
                f_ref = pywt.Wavelet(f_ref.lower())  # see the module docstring
        else:
            f_ref = f_len
        if fn == "dwt_max_level":
            return fn, (n, f_len), (n, f_ref), filters, []
        return fn, (n, f_len, mode), (n, f_ref, mode), filters, []
    x = draw(arrays())
    axis = _axis(draw, x.ndim)
    if fn == "dwt":
        return fn, (x, w, mode, axis), (x, w_ref, mode, axis), filters, [x]
    level = draw(st.one_of(st.none(), st.integers(-1, 6)))
    if fn == "wavedec":
        return fn, (x, w, mode, level, axis), (x, w_ref, mode, level, axis), filters, [x]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _not_empty_along(x, axis, draw(st.integers(1, 9)), rng)
    if fn == "idwt":
        other = x if draw(st.booleans()) else _array(rng, x.shape, x.dtype)
        if draw(st.booleans()):  # a band of another shape
            other = _not_empty_along(draw(arrays(ndim=x.ndim)), axis, 1, rng)
        cA, cD = draw(st.sampled_from([(x, other), (None, x), (x, None), (None, None)]))
        given = [c for c in (cA, cD) if c is not None]
        return fn, (cA, cD, w, mode, axis), (cA, cD, w_ref, mode, axis), filters, given
    coeffs = _coefficients(draw, x, w_ref, mode, level, axis)
    return fn, (coeffs, w, mode, axis), (coeffs, w_ref, mode, axis), filters, \
        [c for c in coeffs if c is not None]


def _not_empty_along(x: np.ndarray, axis: int, n: int, rng) -> np.ndarray:
    """``x`` with ``n`` samples along ``axis`` if it had none: pywt.idwt and
    pywt.waverec hang on such bands in periodization mode (wavelearn raises, see
    the end of this file)."""
    if not -x.ndim <= axis < x.ndim or x.shape[axis] > 0:
        return x
    shape = list(x.shape)
    shape[axis] = n
    return _array(rng, tuple(shape), x.dtype)


def _coefficients(draw, x, w_ref, mode, level, axis) -> list:
    """waverec's input: pywt.wavedec of ``x`` when it exists (else random bands),
    then perhaps a band replaced by None, shortened, or cast to another dtype."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coeffs = list(pywt.wavedec(x, w_ref, mode, level, axis))
    except Exception:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        coeffs = [_array(rng, x.shape, x.dtype) for _ in range(draw(st.integers(1, 3)))]
    if not coeffs or coeffs[0].ndim == 0:
        return coeffs
    j = draw(st.integers(0, len(coeffs) - 1))
    change = draw(st.sampled_from(["none", "None", "shorter", "dtype"]))
    if change == "None" and len(coeffs) > 1:  # [None]: pywt returns None (see the end)
        coeffs[j] = None
    elif change == "shorter" and coeffs[j].shape[axis % coeffs[j].ndim] > 1:
        coeffs[j] = np.delete(coeffs[j], 0, axis=axis % coeffs[j].ndim)
    elif change == "dtype":
        coeffs[j] = coeffs[j].astype(draw(st.sampled_from([np.float32, np.int64,
                                                           np.complex64])))
    return coeffs


# ---------------------------------------------------------------------------
# Running both and comparing
# ---------------------------------------------------------------------------


def _run(fn, args):
    """``(result or None, exception or None, level warning?)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args)
        except Exception as exc:  # noqa: BLE001 -- compared below
            return None, exc, False
    warned = any(issubclass(c.category, UserWarning) and "evel" in str(c.message)
                 for c in caught)
    return out, None, warned


def _scale(inputs, filters, levels: int, smooth: bool = False) -> float:
    """A bound on the size of every number summed into a result: ``max|input|``
    times ``(max L1 norm of a filter)^levels``, at least 1. 'smooth' padding
    extrapolates: its sample ``k`` outside is up to ``(1 + 2k) max|input|``, ``k < F``."""
    big = max((float(np.max(np.abs(np.asarray(c, dtype=np.complex128))))
               for c in inputs if np.size(c)), default=0.0)
    gain = max((float(np.sum(np.abs(f))) for f in filters), default=1.0) if filters else 1.0
    if smooth:
        big *= 2 * max((np.size(f) for f in filters or ()), default=1) + 1
    return max(1.0, big * max(gain, 1.0) ** max(levels, 1))


def _rtol(inputs) -> float:
    """Single precision anywhere in the inputs (float16/32, complex64) bounds the
    accuracy (pywt.waverec runs its first levels in float32 when those bands are)."""
    single = any(np.asarray(c).dtype in (np.float16, np.float32, np.complex64) for c in inputs)
    return 2e-6 if single else 1e-12


def _assert_same(got, ref, scale: float, what: str, rtol: float) -> None:
    if isinstance(ref, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(ref), (what, got, ref)
        for k, (g, r) in enumerate(zip(got, ref, strict=True)):
            _assert_same(g, r, scale, f"{what}[{k}]", rtol)
        return
    if isinstance(ref, (int, np.integer)):
        assert type(got) is int and got == ref, (what, got, ref)
        return
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype}, pywt {ref.dtype}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, pywt {ref.shape}"
    rtol = max(rtol, 1e-12 if ref.dtype in (np.float64, np.complex128) else 2e-6)
    err = float(np.max(np.abs(got.astype(np.complex128) - ref.astype(np.complex128)),
                       initial=0.0))
    assert err <= rtol * scale, f"{what}: max difference {err:.3g} > {rtol * scale:.3g}"


def _levels(fn: str, args: tuple, out) -> int:
    if fn == "wavedec":
        return len(out) - 1
    if fn == "waverec":
        return len(args[0]) - 1
    return 1


def _no_samples(ref, args: tuple, fn: str) -> bool:
    """True when pywt's idwt / waverec result has no samples along the axis: its
    n-d code returns that where its 1-d code raises (``2n - F + 2 < 1``);
    wavelearn raises in both cases."""
    if fn not in ("idwt", "waverec") or not -np.ndim(ref) <= args[-1] < np.ndim(ref):
        return False
    return np.shape(ref)[args[-1]] == 0


def _unused_bad_argument(fn: str, args: tuple) -> bool:
    """True when the wavelet or mode is invalid: wavelearn checks them always,
    pywt only when it uses them (not for ``wavedec`` at level 0); pywt's
    ``waverec`` of one band checks nothing at all (not even the axis)."""
    if fn == "waverec" and len(args[0]) == 1:
        return True
    if fn != "wavedec":
        return False
    w, mode = (args[1], args[2])
    try:
        wl.Wavelet("w", filter_bank=w) if not isinstance(w, str) else wl.Wavelet(w)
        check_mode(mode)
    except (ValueError, TypeError):
        return True
    return False


@settings(deadline=None, max_examples=400)
@given(calls())
def test_wavelearn_agrees_with_pywt_or_both_raise(case):
    fn, args, ref_args, filters, inputs = case
    ref, ref_exc, ref_warned = _run(getattr(pywt, fn), ref_args)
    got, exc, warned = _run(getattr(wl, fn), args)
    if ref_exc is not None:
        assert exc is not None, f"pywt raised {ref_exc!r}, wavelearn returned {got!r}"
        assert isinstance(exc, (ValueError, TypeError)), f"wavelearn raised {exc!r}"
        return
    if exc is not None and _no_samples(ref, args, fn):
        assert isinstance(exc, ValueError), f"wavelearn raised {exc!r}"
        return
    if exc is not None and _unused_bad_argument(fn, args):
        assert isinstance(exc, (ValueError, TypeError)), f"wavelearn raised {exc!r}"
        return
    if exc is not None:
        raise AssertionError(f"pywt returned, wavelearn raised {exc!r}") from exc
    if fn == "waverec" and len(args[0]) == 1:  # pywt returns coeffs[0] itself, any dtype
        ref = np.asarray(ref, dtype=np.asarray(got).dtype)
    if fn == "wavedec" and len(ref) == 1:  # level 0: pywt returns data itself, any dtype
        ref = [np.asarray(ref[0], dtype=got[0].dtype)]
    smooth = any(a in ("smooth", "sp1", pywt.Modes.smooth) for a in args
                 if isinstance(a, str | int) and not isinstance(a, bool))  # (maybe the axis)
    scale = _scale(inputs, filters, _levels(fn, args, ref), smooth)
    _assert_same(got, ref, scale, fn, _rtol(inputs))
    assert warned == ref_warned, f"level warning: wavelearn {warned}, pywt {ref_warned}"


# ---------------------------------------------------------------------------
# Issue 13, item 11: inputs PyWavelets accepts
# ---------------------------------------------------------------------------

X = np.random.default_rng(13).standard_normal((3, 20))


def _close(got, ref):
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alias", ALIASES)
def test_pywt_mode_aliases(alias):
    assert getattr(pywt.Modes, check_mode(alias)) == getattr(pywt.Modes, alias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pywt: 'per' has been renamed
        ref = pywt.dwt(X, "db2", alias)
    _close(wl.dwt(X, "db2", alias), ref)


@pytest.mark.parametrize("code", range(9))
def test_pywt_integer_mode_codes(code):
    name = check_mode(code)
    assert getattr(pywt.Modes, name) == code
    _close(wl.dwt(X, "db3", code), pywt.dwt(X, "db3", code))
    _close(wl.wavedec(X, "db3", code, level=2), pywt.wavedec(X, "db3", code, level=2))


def test_wavelet_names_in_any_case():
    for name in ("dB4", "DB4", "Haar", "BIOR1.5", "Sym5"):
        assert wl.Wavelet(name).name == name.lower()
        assert as_wavelet(name) == wl.Wavelet(name.lower())
        _close(wl.dwt(X, name), pywt.dwt(X, name))


def test_pywt_wavelet_from_a_custom_filter_bank():
    db3 = pywt.Wavelet("db3")
    custom = pywt.Wavelet("custom", filter_bank=db3.filter_bank)
    _close(wl.dwt(X, custom, "periodization"), pywt.dwt(X, custom, "periodization"))
    rng = np.random.default_rng(1)
    bank = [rng.standard_normal(3) for _ in range(4)]  # odd length: pywt pads a zero
    odd = pywt.Wavelet("odd", filter_bank=bank)
    assert as_wavelet(odd).dec_len == odd.dec_len == 4
    _close(wl.dwt(X, odd, "zero"), pywt.dwt(X, odd, "zero"))
    _close(wl.wavedec(X, odd, "smooth", level=2), pywt.wavedec(X, odd, "smooth", level=2))
    c = pywt.wavedec(X, odd, level=2)
    np.testing.assert_allclose(wl.waverec(c, odd), pywt.waverec(c, odd), rtol=1e-12,
                               atol=1e-12)


def test_any_object_with_the_four_filters():
    sym4 = pywt.Wavelet("sym4")
    obj = types.SimpleNamespace(dec_lo=sym4.dec_lo, dec_hi=sym4.dec_hi, rec_lo=sym4.rec_lo,
                                rec_hi=sym4.rec_hi)
    _close(wl.dwt(X, obj), pywt.dwt(X, sym4))
    assert as_wavelet(obj).name == "custom"
    assert wl.Wavelet("mine", filter_bank=obj).name == "mine"


def test_custom_wavelets_are_hashed_by_their_filters():
    """Cached helpers are keyed by the wavelet: two custom filter banks of one
    name must not share a cache entry (caching by name would)."""
    rng = np.random.default_rng(2)
    a = wl.Wavelet("custom", filter_bank=[rng.standard_normal(4) for _ in range(4)])
    b = wl.Wavelet("custom", filter_bank=[rng.standard_normal(4) for _ in range(4)])
    a2 = wl.Wavelet("custom", filter_bank=a.filter_bank)
    assert a == a2 and hash(a) == hash(a2) and a != b
    assert len({a, a2, b}) == 2
    x = rng.standard_normal(16)
    for w in (a, b, a2):  # b after a: a stale cache entry would give a's coefficients
        ref = pywt.dwt(x, pywt.Wavelet("c", filter_bank=w.filter_bank), "periodization")
        _close(wl.dwt(x, w, "periodization"), ref)
    assert wl.Wavelet("db2") == as_wavelet(pywt.Wavelet("db2")) == as_wavelet("DB2")


@pytest.mark.parametrize("bank, match", [
    (([1, 1], [1, -1], [1, 1]), "four filters"),
    (([1, 1, 1], [1, -1], [1, 1], [-1, 1]), "same length"),
    (([], [], [], []), "non-empty"),
    (([1 + 1j, 1], [1, 1], [1, 1], [1, 1]), "real"),
    ((["a", "b"], [1, 1], [1, 1], [1, 1]), "real"),
    ("abcd", "four filters"),
])
def test_bad_filter_banks_raise_value_error(bank, match):
    with pytest.raises(ValueError, match=match):
        wl.Wavelet("custom", filter_bank=bank)


def test_object_dtype_numeric_arrays():
    x = np.array([1, 2.5, 3, -4, 7, 0.5], dtype=object)
    got, ref = wl.dwt(x, "db2"), pywt.dwt(x, "db2")
    assert got[0].dtype == ref[0].dtype == np.float64
    _close(got, ref)
    _close(wl.wavedec(x, "haar"), pywt.wavedec(x, "haar"))


@pytest.mark.parametrize("shape, axis", [((0, 8), -1), ((8, 0), 0), ((2, 0, 6), 2)])
def test_empty_along_another_axis(shape, axis):
    x = np.zeros(shape)
    got, ref = wl.dwt(x, "db2", axis=axis), pywt.dwt(x, "db2", axis=axis)
    assert [c.shape for c in got] == [c.shape for c in ref]
    got, ref = wl.wavedec(x, "db1", axis=axis), pywt.wavedec(x, "db1", axis=axis)
    assert [c.shape for c in got] == [c.shape for c in ref]
    assert wl.waverec(got, "db1", axis=axis).shape == pywt.waverec(ref, "db1", axis=axis).shape


def test_waverec_with_none_bands():
    c = pywt.wavedec(X, "db2", level=3)  # band lengths 5, 5, 7, 11
    for holes in ([None, 1, 2, 3], [0, None, 2, 3], [0, 1, 2, None], [0, None, 2, None]):
        coeffs = [None if k is None else c[k] for k in holes]
        np.testing.assert_allclose(wl.waverec(coeffs, "db2"), pywt.waverec(coeffs, "db2"),
                                   rtol=1e-12, atol=1e-12)
    unfit = [c[0], c[1], None, c[3]]  # a band of zeros cannot lose the odd sample: both refuse
    with pytest.raises(ValueError):
        pywt.waverec(unfit, "db2")
    with pytest.raises(ValueError, match="level 1"):
        wl.waverec(unfit, "db2")
    for bad in ([None, None, c[2], c[3]], [None]):
        with pytest.raises(ValueError, match="None"):
            wl.waverec(bad, "db2")
    with pytest.raises(ValueError):
        pywt.waverec([None, None, c[2], c[3]], "db2")


def test_dwt_max_level_of_no_samples():
    assert wl.dwt_max_level(0, 4) == pywt.dwt_max_level(0, 4) == 0
    assert wl.wavedec(np.zeros(0), "db2")[0].shape == (0,)
    with pytest.raises(ValueError, match="data_len"):
        wl.dwt_max_level(-1, 4)


# ---------------------------------------------------------------------------
# Items 12-14: raising where PyWavelets raises, longdouble, absurd levels
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("filter_len", [0, -1, -2])
@pytest.mark.parametrize("mode", ["symmetric", "periodization"])
def test_dwt_coeff_len_refuses_filter_lengths_below_one(filter_len, mode):
    with pytest.raises((ValueError, OverflowError)):
        pywt.dwt_coeff_len(10, filter_len, mode)
    with pytest.raises(ValueError, match="filter_len"):
        wl.dwt_coeff_len(10, filter_len, mode)


def test_dwt_coeff_len_takes_whole_numbers_only():
    """pywt truncates 10.5 to 10 (and returns 6); wavelearn refuses a fractional
    length, and returns an int for an integral float, as pywt."""
    with pytest.raises(ValueError, match="data_len"):
        wl.dwt_coeff_len(10.5, 4, "symmetric")
    with pytest.raises(ValueError, match="filter_len"):
        wl.dwt_coeff_len(10, 4.5, "symmetric")
    got = wl.dwt_coeff_len(10.0, 4.0, "symmetric")
    assert type(got) is int and got == pywt.dwt_coeff_len(10.0, 4.0, "symmetric") == 6
    with pytest.raises(ValueError, match="data_len"):
        wl.dwt_max_level(10.5, 4)
    with pytest.raises(TypeError, match="data_len"):
        wl.dwt_coeff_len("10", 4, "zero")


@pytest.mark.parametrize("dtype, expected", [(np.longdouble, np.float64),
                                             (np.clongdouble, np.complex128)])
def test_extended_precision_becomes_double_as_in_pywt(dtype, expected):
    x = np.random.default_rng(5).standard_normal(33).astype(dtype)
    got, ref = wl.dwt(x, "db4"), pywt.dwt(x, "db4")
    assert got[0].dtype == ref[0].dtype == expected
    err = max(float(np.max(np.abs(g - r))) for g, r in zip(got, ref, strict=True))
    assert err < 1e-13  # float32 gave 2.8e-7
    rec = wl.waverec(wl.wavedec(x, "db4", level=2), "db4", length=33)
    assert rec.dtype == expected
    assert float(np.max(np.abs(rec - x.astype(expected)))) < 1e-12


def test_absurd_level_is_refused_at_once():
    y = np.random.default_rng(6).standard_normal(40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings, no level warning first
        for level in (10**18, LEVEL_LIMIT + 1):
            with pytest.raises(ValueError, match=f"level={level}.*at most"):
                wl.wavedec(y, "db2", level=level)
    with pytest.warns(UserWarning, match="dwt_max_level"):  # high but allowed: as pywt
        got = wl.wavedec(y, "db2", level=30)
    with pytest.warns(UserWarning):
        ref = pywt.wavedec(y, "db2", level=30)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-9)


def test_continuous_names_say_continuous():
    for name in ("cmor1.5-1.0", "shan1-1.5", "fbsp1-1.5-1.0", "gaus3", "morl", "CMOR1.5-1.0"):
        with pytest.raises(ValueError, match="continuous") as info:
            wl.Wavelet(name)
        assert "did you mean" not in str(info.value)
        with pytest.raises(ValueError, match="continuous"):
            wl.dwt(X, pywt.ContinuousWavelet("morl"))


# ---------------------------------------------------------------------------
# Where wavelearn is deliberately stricter than PyWavelets (not drawn above)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda: wl.dwt(X, "db2", mode=True),  # pywt: mode 1 (symmetric)
    lambda: wl.dwt(np.array(["1", "2"]), "db2"),  # pywt parses the strings
    lambda: wl.dwt(np.array([1.0, None, 2.0], dtype=object), "haar"),  # pywt: NaN
    lambda: wl.dwt(np.arange(4).astype("datetime64[s]"), "haar"),
    lambda: wl.dwt_max_level(True, 4),  # pywt: data_len 1
    lambda: wl.dwt_coeff_len(10.5, 4, "zero"),  # pywt: truncates to 10
    lambda: wl.waverec([None], "db2"),  # pywt returns None
])
def test_stricter_than_pywt_on_likely_mistakes(call):
    with pytest.raises((TypeError, ValueError)):
        call()


def test_numpy_integer_mode_code_is_accepted():
    """pywt refuses ``np.int64(5)`` (TypeError) but takes ``5``; wavelearn takes both."""
    _close(wl.dwt(X, "db2", np.int64(5)), pywt.dwt(X, "db2", 5))
