"""dwt / idwt / wavedec / waverec against PyWavelets, round trips, bad input.

Tolerances: float64 results must agree with ``pywt`` to ``1e-12`` times the
scale of the numbers involved, ``max(|x|, |reference|)`` (the reference
coefficients can be larger than the input: ``sqrt(2)`` per level, and the
``smooth`` mode extrapolates linearly); float32 to ``1e-5`` relative.

Also here: the NumPy "blocked" (BLAS) filter bank against the textbook tap
loop, directly and through the public functions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pywt
from hypothesis import assume, given
from hypothesis import strategies as st

import wavelearn as wl
from wavelearn.dwt import dense, gathered
from wavelearn.dwt import filterbank as fb

ALL_NAMES = pywt.wavelist(kind="discrete")
MODES = tuple(wl.MODES)
# short and long, orthogonal and biorthogonal, odd-support (bior) and dmey (F=62)
SOME_NAMES = ("haar", "db2", "db5", "sym4", "coif2", "bior1.3", "bior3.5", "rbio2.8", "dmey")
GRID_NAMES = ("haar", "db3", "sym5", "coif1", "bior2.4", "rbio3.3")
GRID_LENGTHS = (1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 33)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def assert_close(got, ref, *, scale: float = 1.0, rtol: float = 1e-12, what: str = "") -> None:
    """``|got - ref| <= rtol * max(scale, |ref|)``, same shape, finite."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != pywt's {ref.shape}"
    if np.iscomplexobj(ref):
        assert_close(got.real, ref.real, scale=scale, rtol=rtol, what=f"{what} (real)")
        assert_close(got.imag, ref.imag, scale=scale, rtol=rtol, what=f"{what} (imag)")
        return
    bound = rtol * max(scale, float(np.abs(ref).max(initial=0.0)))
    err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max(initial=0.0))
    assert err <= bound, f"{what}: max abs difference {err:.3g} > {bound:.3g}"


def assert_coeffs_close(got, ref, *, scale: float, rtol: float = 1e-12, what: str = "") -> None:
    assert len(got) == len(ref), f"{what}: {len(got)} arrays, pywt gives {len(ref)}"
    for j, (g, r) in enumerate(zip(got, ref, strict=True)):
        assert_close(g, r, scale=scale, rtol=rtol, what=f"{what}[{j}]")


def assert_round_trip(rec, x, name, mode, level, axis, *, rtol=1e-12, what=""):
    """``rec`` equals ``x`` to ``rtol``, or to 4x PyWavelets' own round-trip
    error where that is larger: the filter tables of some wavelets (sym3, sym20,
    bior5.5, ...) give perfect reconstruction only to ~1e-11, and dmey's only
    to ~1e-2, in pywt and wavelearn alike."""
    x64 = np.asarray(x, dtype=np.complex128 if np.iscomplexobj(x) else np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = pywt.waverec(pywt.wavedec(x64, name, mode, level, axis), name, mode, axis)
    ref = np.take(ref, np.arange(x64.shape[axis]), axis=axis)
    own = float(np.abs(ref - x64).max())
    scale = float(np.abs(x64).max())
    assert_close(rec, x, scale=max(scale, 4 * own / rtol), rtol=rtol, what=what)


def _moved(shape: tuple[int, ...], n: int, axis: int) -> tuple[int, ...]:
    """``shape`` with ``n`` inserted at position ``axis`` (may be negative)."""
    out = list(shape)
    pos = axis if axis >= 0 else len(shape) + 1 + axis
    out.insert(pos, n)
    return tuple(out)


def _both(fn_pywt, fn_wl):
    """Run both; either both raise ValueError (returns None) or both succeed."""
    try:
        ref = fn_pywt()
    except ValueError:
        with pytest.raises(ValueError):
            fn_wl()
        return None, None
    return ref, fn_wl()


# ---------------------------------------------------------------------------
# Wavelet attributes: all 106 discrete wavelets
# ---------------------------------------------------------------------------


def test_there_are_106_discrete_wavelets():
    assert len(ALL_NAMES) == 106


@pytest.mark.parametrize("name", ALL_NAMES)
def test_wavelet_attributes_equal_pywt(name):
    w, ref = wl.Wavelet(name), pywt.Wavelet(name)
    for attr in ("dec_lo", "dec_hi", "rec_lo", "rec_hi"):
        got = getattr(w, attr)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, np.asarray(getattr(ref, attr)), err_msg=attr)
    assert w.dec_len == ref.dec_len == len(w)
    assert w.orthogonal == ref.orthogonal
    assert w.biorthogonal == ref.biorthogonal
    assert w.name == name


# ---------------------------------------------------------------------------
# Fixed regression: every wavelet x every mode, odd and even length, batched
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_wavelet_and_mode_matches_pywt(name, mode):
    rng = _rng(hash((name, mode)) % 2**32)
    for n in (23, 64):
        # (2, n, 17) along axis 1: 17 channels after the axis -> the blocked path
        x = rng.standard_normal((2, n, 17))
        assert_coeffs_close(
            wl.dwt(x, name, mode, axis=1), pywt.dwt(x, name, mode, axis=1), scale=1, what="dwt"
        )
        # the same signals one at a time (1 channel -> the tap loop)
        x1 = x[1, :, 3]
        assert_coeffs_close(wl.dwt(x1, name, mode), pywt.dwt(x1, name, mode), scale=1, what="dwt1")
        level = pywt.dwt_max_level(n, pywt.Wavelet(name).dec_len)
        ref = pywt.wavedec(x, name, mode, level=level, axis=1)
        assert_coeffs_close(
            wl.wavedec(x, name, mode, level=level, axis=1), ref, scale=1, what="wavedec"
        )
        assert_close(
            wl.waverec(ref, name, mode, axis=1),
            pywt.waverec(ref, name, mode, axis=1),
            scale=1,
            what="waverec",
        )


# ---------------------------------------------------------------------------
# Grid: wavelet x mode x length (1 upward) x level (0..max) x axis
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", GRID_NAMES)
def test_grid_matches_pywt(name, mode):
    rng = _rng(1)
    F = pywt.Wavelet(name).dec_len
    for n in GRID_LENGTHS:
        for axis in (0, 1, -1):
            x = rng.standard_normal(_moved((3, 2), n, axis))
            ref, got = _both(
                lambda x=x, axis=axis: pywt.dwt(x, name, mode, axis=axis),
                lambda x=x, axis=axis: wl.dwt(x, name, mode, axis=axis),
            )
            if ref is not None:
                assert_coeffs_close(got, ref, scale=1, what=f"dwt n={n} axis={axis}")
                assert_close(
                    wl.idwt(*ref, name, mode, axis=axis),
                    pywt.idwt(*ref, name, mode, axis=axis),
                    scale=1,
                    what=f"idwt n={n} axis={axis}",
                )
            for level in range(pywt.dwt_max_level(n, F) + 1):
                ref, got = _both(
                    lambda x=x, axis=axis, level=level: pywt.wavedec(x, name, mode, level, axis),
                    lambda x=x, axis=axis, level=level: wl.wavedec(x, name, mode, level, axis),
                )
                if ref is None:
                    continue
                what = f"n={n} axis={axis} level={level}"
                assert_coeffs_close(got, ref, scale=1, what=f"wavedec {what}")
                assert_close(
                    wl.waverec(ref, name, mode, axis=axis),
                    pywt.waverec(ref, name, mode, axis=axis),
                    scale=1,
                    what=f"waverec {what}",
                )


@pytest.mark.parametrize("mode", ["reflect", "antireflect"])
def test_reflect_modes_raise_on_length_one_like_pywt(mode):
    x = np.array([1.5])
    with pytest.raises(ValueError):
        pywt.dwt(x, "db2", mode)
    with pytest.raises(ValueError, match=mode):
        wl.dwt(x, "db2", mode)
    with pytest.raises(ValueError), pytest.warns(UserWarning):  # level 1 > max level 0
        wl.wavedec(np.ones((3, 1)), "db2", mode, level=1, axis=1)


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["db3", "bior2.4"])
def test_float32_stays_float32_end_to_end(name, mode):
    rng = _rng(2)
    x = rng.standard_normal((2, 37, 17)).astype(np.float32)  # blocked path
    for xx, axis in ((x, 1), (x[0, :, 0], 0)):  # and tap loop
        x64 = xx.astype(np.float64)
        cA, cD = wl.dwt(xx, name, mode, axis=axis)
        assert cA.dtype == cD.dtype == np.float32
        assert_coeffs_close((cA, cD), pywt.dwt(x64, name, mode, axis=axis), scale=1, rtol=1e-5)
        assert wl.idwt(cA, cD, name, mode, axis=axis).dtype == np.float32
        coeffs = wl.wavedec(xx, name, mode, axis=axis)
        assert all(c.dtype == np.float32 for c in coeffs)
        assert_coeffs_close(coeffs, pywt.wavedec(x64, name, mode, axis=axis), scale=1, rtol=1e-5)
        rec = wl.waverec(coeffs, name, mode, axis=axis, length=xx.shape[axis])
        assert rec.dtype == np.float32
        assert_close(rec, xx, rtol=1e-5)


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.int8, np.float64),
        (np.int32, np.float64),
        (np.int64, np.float64),
        (np.uint8, np.float64),
        (np.bool_, np.float64),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.complex64, np.complex64),
        (np.complex128, np.complex128),
    ],
)
@pytest.mark.parametrize("mode", ["symmetric", "periodization"])
def test_dtype_rules_match_pywt(dtype, expected, mode):
    rng = _rng(3)
    base = rng.integers(-50, 50, size=(2, 21, 17))
    if np.issubdtype(dtype, np.complexfloating):
        data = (base + 1j * rng.integers(-50, 50, size=base.shape)).astype(dtype)
    elif dtype is np.bool_:
        data = base > 0
    elif np.issubdtype(dtype, np.unsignedinteger):
        data = np.abs(base).astype(dtype)
    else:
        data = base.astype(dtype)
    rtol = 1e-12 if np.dtype(expected) in (np.float64, np.complex128) else 1e-5
    for x, axis in ((data, 1), (data[0, :, 0], 0)):
        ref = pywt.dwt(x, "db2", mode, axis=axis)
        got = wl.dwt(x, "db2", mode, axis=axis)
        assert ref[0].dtype == expected  # guards this table against pywt itself
        assert got[0].dtype == got[1].dtype == expected
        assert_coeffs_close(got, ref, scale=50, rtol=rtol, what=str(dtype))
        got_c = wl.wavedec(x, "db2", mode, level=2, axis=axis)
        ref_c = pywt.wavedec(x, "db2", mode, level=2, axis=axis)
        assert all(c.dtype == expected for c in got_c)
        assert_coeffs_close(got_c, ref_c, scale=50, rtol=rtol, what=f"wavedec {dtype}")
        rec = wl.waverec(got_c, "db2", mode, axis=axis, length=x.shape[axis])
        assert rec.dtype == expected
        assert_close(rec, x.astype(expected), scale=50, rtol=rtol, what=f"waverec {dtype}")


def test_complex_input_is_transformed_real_and_imag_parts():
    rng = _rng(4)
    x = rng.standard_normal((3, 40)) + 1j * rng.standard_normal((3, 40))
    for mode in MODES:
        cA, cD = wl.dwt(x, "sym3", mode)
        rA, rD = pywt.dwt(x, "sym3", mode)
        assert np.iscomplexobj(cA)
        assert np.abs(cA.imag).max() > 0.1  # the imaginary part was not dropped
        assert_close(cA, rA, what=mode)
        assert_close(cD, rD, what=mode)
        # linearity: transform of the parts
        assert_close(cA.real, wl.dwt(x.real, "sym3", mode)[0], what=mode)
        assert_close(cA.imag, wl.dwt(x.imag, "sym3", mode)[0], what=mode)


def test_list_input_works_like_pywt():
    x = [1.0, 4.0, -2.0, 3.5, 0.0, 2.0, 7.0]
    assert_coeffs_close(wl.dwt(x, "db2"), pywt.dwt(x, "db2"), scale=7)
    assert_coeffs_close(wl.wavedec(x, "haar"), pywt.wavedec(x, "haar"), scale=7)


# ---------------------------------------------------------------------------
# Round trips and length= rules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["haar", "db4", "sym5", "bior3.5", "rbio1.3"])
def test_waverec_wavedec_round_trip(name, mode):
    rng = _rng(5)
    for n in (2, 5, 17, 30, 63):
        for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
            x = rng.standard_normal((2, n, 17)).astype(dtype)
            for level in (1, 2):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # level above max
                    ref, coeffs = _both(
                        lambda x=x, level=level: pywt.wavedec(x, name, mode, level, axis=1),
                        lambda x=x, level=level: wl.wavedec(x, name, mode, level, axis=1),
                    )
                    if ref is None:
                        continue
                    rec = wl.waverec(coeffs, name, mode, axis=1)
                    # PyWavelets' length rule: the natural length may be n + 1
                    assert rec.shape == pywt.waverec(ref, name, mode, axis=1).shape
                    assert rec.shape[1] in (n, n + 1)
                    assert rec.dtype == dtype
                    what = f"n={n} level={level}"
                    assert_round_trip(rec[:, :n], x, name, mode, level, 1, rtol=rtol, what=what)
                    exact = wl.waverec(coeffs, name, mode, axis=1, length=n)
                    assert exact.shape == x.shape
                    assert_round_trip(exact, x, name, mode, level, 1, rtol=rtol, what=what)


def test_wrong_length_raises_value_error():
    x = _rng(6).standard_normal(23)
    coeffs = wl.wavedec(x, "db2", "symmetric", level=2)
    natural = wl.waverec(coeffs, "db2", "symmetric").shape[0]
    assert natural == 24
    assert wl.waverec(coeffs, "db2", "symmetric", length=23).shape == (23,)
    assert wl.waverec(coeffs, "db2", "symmetric", length=24).shape == (24,)
    for bad in (22, 25, 10, 0, -1, 23.0, "23"):
        with pytest.raises(ValueError, match="length"):
            wl.waverec(coeffs, "db2", "symmetric", length=bad)


@pytest.mark.parametrize("mode", MODES)
def test_level_above_max_warns_and_still_reconstructs(mode):
    x = _rng(7).standard_normal((2, 19))
    level = pywt.dwt_max_level(19, 4) + 2  # db2: F = 4
    with pytest.warns(UserWarning):
        ref, coeffs = _both(
            lambda: pywt.wavedec(x, "db2", mode, level=level),
            lambda: wl.wavedec(x, "db2", mode, level=level),
        )
    if ref is None:  # [anti]reflect: the approximation got down to one sample
        assert mode in ("reflect", "antireflect")
        return
    assert len(coeffs) == level + 1
    assert_coeffs_close(coeffs, ref, scale=1)
    assert_close(wl.waverec(coeffs, "db2", mode, length=19), x)


def test_level_above_max_warning_category_matches_pywt():
    x = np.arange(10.0)
    with pytest.warns(UserWarning):
        pywt.wavedec(x, "db4", level=5)
    with pytest.warns(UserWarning, match="level"):
        wl.wavedec(x, "db4", level=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wl.wavedec(x, "db4", level=wl.dwt_max_level(10, "db4"))  # no warning at max


def test_level_none_is_max_level():
    x = _rng(8).standard_normal(100)
    for name in ("haar", "db3", "dmey"):
        got, ref = wl.wavedec(x, name), pywt.wavedec(x, name)
        assert len(got) == len(ref) == wl.dwt_max_level(100, name) + 1
        assert_coeffs_close(got, ref, scale=1)


def test_idwt_with_one_band_none_matches_pywt():
    rng = _rng(9)
    a, d = rng.standard_normal(12), rng.standard_normal(12)
    for mode in ("symmetric", "periodization", "zero"):
        assert_close(wl.idwt(a, None, "db3", mode), pywt.idwt(a, None, "db3", mode))
        assert_close(wl.idwt(None, d, "db3", mode), pywt.idwt(None, d, "db3", mode))


# ---------------------------------------------------------------------------
# dwt_max_level / dwt_coeff_len
# ---------------------------------------------------------------------------


def test_dwt_max_level_matches_pywt():
    for n in list(range(1, 70)) + [100, 127, 128, 129, 1000, 1023, 1024, 4097]:
        for F in (2, 3, 4, 6, 8, 10, 20, 62):
            assert wl.dwt_max_level(n, F) == pywt.dwt_max_level(n, F), (n, F)
    for name in ("haar", "db4", "sym7", "bior3.5", "dmey"):
        for n in (1, 7, 64, 1000):
            want = pywt.dwt_max_level(n, pywt.Wavelet(name))
            assert wl.dwt_max_level(n, name) == want
            assert wl.dwt_max_level(n, wl.Wavelet(name)) == want
            assert wl.dwt_max_level(n, pywt.Wavelet(name)) == want


def test_dwt_coeff_len_matches_pywt():
    for n in list(range(1, 40)) + [63, 64, 65, 1001]:
        for F in (2, 3, 4, 6, 8, 20, 62):
            for mode in MODES:
                assert wl.dwt_coeff_len(n, F, mode) == pywt.dwt_coeff_len(n, F, mode), (n, F, mode)
    for name in ("haar", "db4", "bior2.8", "dmey"):
        for mode in ("symmetric", "periodization"):
            want = pywt.dwt_coeff_len(37, pywt.Wavelet(name), mode)
            assert wl.dwt_coeff_len(37, name, mode) == want
            assert wl.dwt_coeff_len(37, wl.Wavelet(name), mode) == want


def test_dwt_coeff_len_equals_actual_dwt_output_length():
    for n in (1, 2, 9, 16):
        for mode in ("zero", "periodization"):
            cA, _ = wl.dwt(np.ones(n), "db3", mode)
            assert cA.shape == (wl.dwt_coeff_len(n, "db3", mode),)


# ---------------------------------------------------------------------------
# Bad input: clear errors naming the argument
# ---------------------------------------------------------------------------


def test_empty_input_raises():
    """An empty transform axis raises (as pywt); an empty other axis works (see
    tests/dwt/test_pywt_agreement.py); wavedec of no samples is only level 0."""
    for x in (np.zeros(0), np.zeros((3, 0)), []):
        with pytest.raises(ValueError, match="empty"):
            wl.dwt(x, "db1", axis=-1)
        with pytest.raises(ValueError, match="level"):
            wl.wavedec(x, "db1", level=1)
        with pytest.raises(ValueError), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pywt warns, then raises
            pywt.wavedec(x, "db1", level=1)


@pytest.mark.parametrize("axis", [1, -2, 5])
def test_axis_out_of_range_raises(axis):
    x = np.ones(8)
    for fn in (
        lambda: wl.dwt(x, "db1", axis=axis),
        lambda: wl.wavedec(x, "db1", axis=axis),
        lambda: wl.idwt(x, x, "db1", axis=axis),
        lambda: wl.waverec([x, x], "db1", axis=axis),
    ):
        with pytest.raises(ValueError, match="axis"):
            fn()


def test_non_int_axis_raises_type_error():
    with pytest.raises(TypeError, match="axis"):
        wl.dwt(np.ones(8), "db1", axis=1.0)


def test_misspelt_mode_lists_choices():
    for fn in (wl.dwt, wl.wavedec):
        with pytest.raises(ValueError, match="mode") as info:
            fn(np.ones(8), "db1", mode="symetric")
        msg = str(info.value)
        assert "symetric" in msg
        for mode in MODES:
            assert mode in msg
    with pytest.raises(TypeError, match="mode"):  # pywt: TypeError too
        wl.dwt(np.ones(8), "db1", mode=None)


def test_misspelt_wavelet_suggests_close_names():
    for bad, close in (
        ("db44", "db4"),
        ("dbb4", "db4"),
        ("sym55", "sym5"),
        ("coiff3", "coif3"),
        ("bior2,2", "bior2.2"),
    ):
        with pytest.raises(ValueError, match="wavelet") as info:
            wl.dwt(np.ones(8), bad)
        assert repr(close) in str(info.value), str(info.value)
    with pytest.raises(TypeError, match="wavelet"):
        wl.dwt(np.ones(8), 4)


def test_continuous_wavelet_is_refused():
    for name in ("morl", "mexh", "cmor1.5-1.0"):
        with pytest.raises(ValueError, match="continuous|unknown wavelet"):
            wl.dwt(np.ones(8), name)
    with pytest.raises(ValueError, match="continuous"):
        wl.wavedec(np.ones(8), "morl")
    with pytest.raises(ValueError, match="continuous"):
        wl.Wavelet("morl")


def test_negative_level_raises():
    with pytest.raises(ValueError, match="level"):
        wl.wavedec(np.ones(16), "db1", level=-1)
    with pytest.raises(TypeError, match="level"):
        wl.wavedec(np.ones(16), "db1", level=1.5)


def test_coefficients_that_do_not_fit_name_the_level():
    coeffs = wl.wavedec(_rng(10).standard_normal(64), "db2", level=3)
    bad = list(coeffs)
    bad[1] = bad[1][:-2]  # coarsest detail band too short: level 3
    with pytest.raises(ValueError, match="level 3"):
        wl.waverec(bad, "db2")
    bad = list(coeffs)
    bad[3] = bad[3][:-3]  # finest detail band: level 1
    with pytest.raises(ValueError, match="level 1"):
        wl.waverec(bad, "db2")
    with pytest.raises(ValueError):  # pywt refuses these too
        pywt.waverec(bad, "db2")
    with pytest.raises(ValueError, match="coeffs"):
        wl.waverec([], "db2")
    with pytest.raises(ValueError, match="coeffs"):  # shape outside the axis differs
        wl.waverec([np.ones((2, 5)), np.ones((3, 5))], "db2")


@pytest.mark.parametrize("bad", [None, "abc", {"a": 1}, object()])
def test_non_array_input_raises_type_error(bad):
    with pytest.raises(TypeError, match="data"):
        wl.dwt(bad, "db1")
    with pytest.raises(TypeError, match="data"):
        wl.wavedec(bad, "db1")
    with pytest.raises((TypeError, ValueError), match="coeffs"):
        wl.waverec(bad, "db1")
    if bad is None:  # a band of zeros in idwt and waverec (tests/dwt/test_pywt_agreement.py)
        return
    with pytest.raises(TypeError, match=r"coeffs\[1\]"):
        wl.waverec([np.ones(4), bad], "db1")
    with pytest.raises(TypeError, match="cA"):
        wl.idwt(bad, np.ones(4), "db1")


@pytest.mark.parametrize("bad", ["abc", {"a": 1}, object()])
def test_non_array_detail_band_raises_type_error_naming_cD(bad):
    """The second band of idwt is checked like the first (not an AttributeError)."""
    with pytest.raises(TypeError, match="cD"):
        wl.idwt(np.ones(4), bad, "db1")


def test_lists_are_accepted_by_idwt_like_pywt():
    """dwt and idwt take lists of numbers, as pywt.dwt and pywt.idwt do."""
    a, d = [1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0]
    assert_close(wl.idwt(a, d, "db2"), pywt.idwt(a, d, "db2"), scale=4)
    assert_close(wl.idwt(np.array(a), d, "db2"), pywt.idwt(a, d, "db2"), scale=4)


def test_lists_in_waverec_work_or_raise_a_clear_error():
    """pywt.waverec does not take lists (AttributeError); wavelearn must either
    reconstruct or say which entry is wrong, never an AttributeError."""
    coeffs = [list(c) for c in pywt.wavedec(np.arange(16.0), "haar", level=2)]
    try:
        rec = wl.waverec(coeffs, "haar")
    except (TypeError, ValueError) as exc:
        assert "coeffs" in str(exc)
    else:
        assert_close(rec, np.arange(16.0), scale=16)


def test_non_numeric_array_raises_type_error():
    with pytest.raises(TypeError, match="data"):
        wl.dwt(np.array(["a", "b", "c"]), "db1")
    with pytest.raises(TypeError, match="data"):
        wl.dwt(np.array([1.0, None]), "db1")


@pytest.mark.parametrize("name", ["db4", "bior3.5", "dmey"])
def test_idwt_of_too_few_coefficients_raises_like_pywt(name):
    """Non-periodization idwt gives 2n - F + 2 samples; where that is < 1
    pywt raises ValueError (it must not return an empty array)."""
    F = pywt.Wavelet(name).dec_len
    for n in range(1, F // 2 + 3):
        a = np.ones(n)
        try:
            ref = pywt.idwt(a, a, name, "symmetric")
        except ValueError:
            assert 2 * n - F + 2 < 1
            with pytest.raises(ValueError):
                wl.idwt(a, a, name, "symmetric")
            with pytest.raises(ValueError):
                wl.waverec([a, a], name, "symmetric")
            continue
        assert_close(wl.idwt(a, a, name, "symmetric"), ref, scale=1)


def test_idwt_both_none_raises():
    with pytest.raises(ValueError, match="cA"):
        wl.idwt(None, None, "db1")


# ---------------------------------------------------------------------------
# NaN and inf propagate like PyWavelets
# ---------------------------------------------------------------------------


def _assert_same_nonfinite(got, ref, what: str) -> None:
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, what
    for test in (np.isnan, np.isposinf, np.isneginf):
        mism = np.argwhere(test(got) != test(ref))
        assert len(mism) == 0, (
            f"{what}: {test.__name__} differs from pywt at {mism[:5].tolist()} "
            f"(wavelearn {got[tuple(mism[0])]}, pywt {ref[tuple(mism[0])]})"
        )
    fin = np.isfinite(ref)
    assert_close(got[fin], ref[fin], scale=1, what=what)


def _with_nonfinite(shape, axis, positions):
    x = _rng(11).standard_normal(shape)
    n = shape[axis]
    for pos, val in positions:
        idx = [k // 2 for k in shape]
        idx[axis] = pos % n
        x[tuple(idx)] = val
    return x


def _check_nonfinite(x, name, mode, axis, level=2):
    ref = pywt.wavedec(x, name, mode, level=level, axis=axis)
    got = wl.wavedec(x, name, mode, level=level, axis=axis)
    for j, (g, r) in enumerate(zip(got, ref, strict=True)):
        _assert_same_nonfinite(g, r, f"wavedec[{j}]")
    _assert_same_nonfinite(
        wl.dwt(x, name, mode, axis=axis)[1], pywt.dwt(x, name, mode, axis=axis)[1], "dwt cD"
    )
    _assert_same_nonfinite(
        wl.waverec(ref, name, mode, axis=axis), pywt.waverec(ref, name, mode, axis=axis), "waverec"
    )


# far enough from both ends that, for F <= 8 and two levels, the boundary
# extension never reads them
INTERIOR = [(24, np.nan), (28, np.inf), (33, -np.inf)]
NEAR_EDGES = [(32, np.nan), (3, np.inf), (-2, -np.inf)]
NONFINITE_SHAPES = [((64,), 0), ((2, 64, 20), 1)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["haar", "db2", "sym4"])
@pytest.mark.parametrize("shape, axis", NONFINITE_SHAPES)
def test_nan_inf_in_the_interior_match_pywt(shape, axis, name, mode):
    x = _with_nonfinite(shape, axis, INTERIOR)
    if len(shape) == 3:  # the wide batch would take the blocked path if it were finite
        assert fb._use_blocked(np, np.nan_to_num(x))
        assert not fb._use_blocked(np, x)
    _check_nonfinite(x, name, mode, axis)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, axis", NONFINITE_SHAPES)
def test_nan_inf_near_the_edges_match_pywt(shape, axis, mode):
    """Non-finite samples that the boundary extension reads: the padding must
    copy them (as pywt), not multiply them by the zeros of an extension matrix
    (0 * inf = nan would turn every padded sample into NaN)."""
    _check_nonfinite(_with_nonfinite(shape, axis, NEAR_EDGES), "db2", mode, axis, level=1)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("shape, axis", NONFINITE_SHAPES)
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_inf_folded_around_in_periodization_matches_pywt(shape, axis, bad):
    """waverec in periodization wraps each level's ends around (the fold of
    extend_adjoint): an inf coefficient near an end must stay inf there, as in pywt,
    not meet the zeros of the fold's matrix (0 * inf = NaN)."""
    x = _rng(12).standard_normal(shape)
    for band, k in [(0, -1), (1, 0), (2, -2)]:
        dec = pywt.wavedec(x, "db3", "periodization", level=2, axis=axis)
        index = [k // 2 for k in dec[band].shape]
        index[axis] = k
        dec[band][tuple(index)] = bad
        _assert_same_nonfinite(wl.waverec(dec, "db3", "periodization", axis=axis),
                               pywt.waverec(dec, "db3", "periodization", axis=axis),
                               f"waverec, {bad} in coeffs[{band}]")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_in_a_short_signal_matches_pywt():
    x = np.array([1.0, 2.0, np.nan])
    # pywt: cA = [1.77, nan, nan]; the first coefficient does not read x[2]
    _assert_same_nonfinite(wl.dwt(x, "db2")[0], pywt.dwt(x, "db2")[0], "dwt cA")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("shape, axis", NONFINITE_SHAPES)
def test_inf_with_zero_filter_taps_matches_pywt(shape, axis):
    """bior2.4's dec_lo starts with an exact 0.0; pywt multiplies it, so
    0 * inf gives NaN where the tap loop (which skips zero taps) gives a finite
    number: x[41] = inf -> pywt's cA[18] is NaN."""
    assert pywt.Wavelet("bior2.4").dec_lo[0] == 0.0
    x = _with_nonfinite(shape, axis, [(41, np.inf)])
    _assert_same_nonfinite(
        wl.dwt(x, "bior2.4", "periodization", axis=axis)[0],
        pywt.dwt(x, "bior2.4", "periodization", axis=axis)[0],
        "dwt cA",
    )


# ---------------------------------------------------------------------------
# Blocked (BLAS) path == textbook tap loop
# ---------------------------------------------------------------------------


@st.composite
def _down_case(draw):
    F = draw(st.integers(1, 20))
    n_out = draw(st.integers(1, 30))
    N = 2 * (n_out - 1) + F + draw(st.integers(0, 5))
    shape = (draw(st.integers(1, 3)), N, draw(st.integers(1, 20)))
    B = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.complex128]))
    seed = draw(st.integers(0, 2**32 - 1))
    return shape, (B, F), n_out, dtype, seed


@given(_down_case())
def test_filter_down_blocked_equals_taps(case):
    shape, fshape, n_out, dtype, seed = case
    rng = _rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if np.iscomplexobj(x):
        x = x + 1j * rng.standard_normal(shape)
    filters = rng.standard_normal(fshape)
    filters[rng.random(fshape) < 0.2] = 0.0  # zero taps are skipped by the tap loop
    got = fb.filter_down_blocked(x, filters, n_out)
    ref = fb.filter_down_taps(np, x, filters, n_out)
    assert got.shape == ref.shape == (fshape[0], shape[0], n_out, shape[2])
    assert got.dtype == ref.dtype == x.dtype
    rtol = 1e-5 if dtype is np.float32 else 1e-12
    assert_close(got, ref, scale=float(np.abs(x).max()) * fshape[1], rtol=rtol)


@st.composite
def _up_case(draw):
    F = draw(st.integers(1, 20))
    n = draw(st.integers(1, 30))
    length = 2 * (n - 1) + F + draw(st.integers(0, 5))
    P, Q, B = draw(st.integers(1, 3)), draw(st.integers(1, 20)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.complex128]))
    return (P, n, Q), (B, F), length, dtype, draw(st.integers(0, 2**32 - 1))


@given(_up_case())
def test_filter_up_blocked_equals_taps(case):
    shape, fshape, length, dtype, seed = case
    rng = _rng(seed)
    bands = []
    for _ in range(fshape[0]):
        b = rng.standard_normal(shape).astype(dtype)
        if np.iscomplexobj(b):
            b = b + 1j * rng.standard_normal(shape)
        bands.append(b)
    filters = rng.standard_normal(fshape)
    filters[rng.random(fshape) < 0.2] = 0.0
    got = fb.filter_up_blocked(bands, filters, length)
    ref = fb.filter_up_taps(np, bands, filters, length)
    assert got.shape == ref.shape == (shape[0], length, shape[2])
    assert got.dtype == ref.dtype == np.dtype(dtype)
    rtol = 1e-5 if dtype is np.float32 else 1e-12
    scale = max(float(np.abs(b).max()) for b in bands) * fshape[1] * fshape[0]
    assert_close(got, ref, scale=scale, rtol=rtol)


class _Spy:
    """Counts calls of the blocked and the tap functions of the filter bank."""

    def __init__(self, monkeypatch):
        self.calls = {"down_blocked": 0, "up_blocked": 0, "down_taps": 0, "up_taps": 0}
        for key, attr in (
            ("down_blocked", "filter_down_blocked"),
            ("down_blocked", "apply_edge"),  # the ends of the blocked path
            ("up_blocked", "filter_up_blocked"),
            ("down_taps", "filter_down_taps"),
            ("up_taps", "filter_up_taps"),
        ):
            monkeypatch.setattr(fb, attr, self._wrap(key, getattr(fb, attr)))

    def _wrap(self, key, fn):
        def wrapped(*args, **kwargs):
            self.calls[key] += 1
            return fn(*args, **kwargs)

        return wrapped


@pytest.mark.filterwarnings("ignore:level=1 is above:UserWarning")  # n = 9, F >= 8
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["haar", "db4", "bior3.5", "coif3"])
def test_public_functions_blocked_equals_taps(name, mode, monkeypatch):
    rng = _rng(12)
    for n in (9, 40, 67):
        x = rng.standard_normal((2, n, 17))
        level = max(1, wl.dwt_max_level(n, name))
        monkeypatch.setattr(dense, "DENSE_MAX_ENTRIES", 0)  # the level path (not dense)
        monkeypatch.setattr(gathered, "USE_GATHERED", False)  # (nor periodization's loops)
        # 1) the wide array goes the blocked way
        spy = _Spy(monkeypatch)
        blocked_dwt = wl.dwt(x, name, mode, axis=1)
        blocked_dec = wl.wavedec(x, name, mode, level=level, axis=1)
        blocked_rec = wl.waverec(blocked_dec, name, mode, axis=1)
        assert spy.calls["down_blocked"] > 0 and spy.calls["up_blocked"] > 0, spy.calls
        # 2) one channel at a time: the tap loop
        spy = _Spy(monkeypatch)
        cols_dwt = [wl.dwt(x[p, :, q], name, mode) for p in range(2) for q in range(17)]
        assert spy.calls["down_blocked"] == 0 and spy.calls["down_taps"] > 0, spy.calls
        for band in range(2):
            col = np.stack([c[band] for c in cols_dwt], axis=-1).reshape(-1, 2, 17)
            assert_close(blocked_dwt[band], np.moveaxis(col, 0, 1), scale=1, what="dwt")
        # 3) the same wide array with the blocked path switched off
        monkeypatch.setattr(fb, "_use_blocked", lambda xp, a, finite=False: False)
        tapped = wl.wavedec(x, name, mode, level=level, axis=1)
        assert_coeffs_close(blocked_dec, tapped, scale=1, what="wavedec")
        assert_close(blocked_rec, wl.waverec(blocked_dec, name, mode, axis=1), scale=1)
        monkeypatch.undo()


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "antireflect"])
def test_transposed_layout_gives_the_same_coefficients(mode):
    """(2, n, 17) along axis 1 vs the same data as (17, 2, n) along the last axis
    (few channels after the axis: wavelearn moves the others there)."""
    x = _rng(13).standard_normal((2, 45, 17))
    xt = np.ascontiguousarray(np.transpose(x, (2, 0, 1)))
    a = wl.wavedec(x, "sym4", mode, axis=1)
    b = wl.wavedec(xt, "sym4", mode, axis=-1)
    for ca, cb in zip(a, b, strict=True):
        assert_close(np.transpose(cb, (1, 2, 0)), ca, scale=1)
    ra = wl.waverec(a, "sym4", mode, axis=1, length=45)
    rb = wl.waverec(b, "sym4", mode, axis=-1, length=45)
    assert_close(np.transpose(rb, (1, 2, 0)), ra, scale=1)
    assert_round_trip(ra, x, "sym4", mode, len(a) - 1, 1)


# ---------------------------------------------------------------------------
# Hypothesis properties against PyWavelets
# ---------------------------------------------------------------------------


@st.composite
def _signal_case(draw):
    name = draw(st.sampled_from(ALL_NAMES))
    mode = draw(st.sampled_from(MODES))
    n = draw(st.integers(1, 80))
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    ndim = len(batch) + 1
    axis = draw(st.integers(-ndim, ndim - 1))
    shape = list(batch)
    shape.insert(axis % ndim, n)
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    max_level = pywt.dwt_max_level(n, pywt.Wavelet(name).dec_len)
    level = draw(st.integers(0, max_level + 1))
    seed = draw(st.integers(0, 2**32 - 1))
    return name, mode, tuple(shape), axis, dtype, level, max_level, seed


@given(_signal_case())
def test_property_matches_pywt_and_round_trips(case):
    name, mode, shape, axis, dtype, level, max_level, seed = case
    x = _rng(seed).standard_normal(shape).astype(dtype)
    x64 = x.astype(np.float64)
    rtol = 1e-12 if dtype is np.float64 else 1e-5
    n = shape[axis]
    if n == 1 and mode in ("reflect", "antireflect"):
        with pytest.raises(ValueError):
            pywt.dwt(x64, name, mode, axis=axis)
        with pytest.raises(ValueError):
            wl.dwt(x, name, mode, axis=axis)
        return
    got = wl.dwt(x, name, mode, axis=axis)
    assert got[0].dtype == dtype
    assert_coeffs_close(got, pywt.dwt(x64, name, mode, axis=axis), scale=1, rtol=rtol)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref, coeffs = _both(
            lambda: pywt.wavedec(x64, name, mode, level=level, axis=axis),
            lambda: wl.wavedec(x, name, mode, level=level, axis=axis),
        )
    if level > max_level:
        assert any(issubclass(w.category, UserWarning) for w in caught)
    if ref is None:  # [anti]reflect reached a one-sample approximation
        assume(False)
    assert_coeffs_close(coeffs, ref, scale=1, rtol=rtol)
    rec = wl.waverec(coeffs, name, mode, axis=axis)
    assert rec.shape == pywt.waverec(ref, name, mode, axis=axis).shape
    assert rec.dtype == dtype
    exact = wl.waverec(coeffs, name, mode, axis=axis, length=n)
    assert exact.shape == x.shape
    assert_round_trip(exact, x, name, mode, level, axis, rtol=rtol)
