"""The once-per-transform finiteness check (wavelearn.dwt.finite): the bound it
carries really bounds the data, it never lets data with inf/NaN (or data that
overflows at some level) take the blocked path, and results do not depend on it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pywt

import wavelearn as wl
from wavelearn.dwt import compiled
from wavelearn.dwt import filterbank as fb
from wavelearn.dwt import finite as fin
from wavelearn.dwt import transforms as tr
from wavelearn.dwt.wavelets import as_wavelet

MODES = tuple(wl.MODES)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
def test_bound_is_at_least_the_largest_magnitude(dtype):
    rng = _rng(1)
    x = rng.standard_normal((3, 40, 20)) * 10.0 ** rng.integers(-30, 30, (3, 40, 20))
    if dtype.startswith("complex"):
        x = x + 1j * rng.standard_normal(x.shape) * 1e20
    x = x.astype(dtype)
    for a in (x, x[:, ::3], x[1:, :, 2:], np.swapaxes(x, 0, 1)):  # contiguous, strided, views
        assert fin.magnitude_bound([a]) >= np.abs(a).max()
    tiny = np.full((2, 30, 20), 1e-30, dtype)  # squares underflow to zero
    assert fin.magnitude_bound([tiny]) >= np.abs(tiny).max()
    assert fin.magnitude_bound([x[:, :0]]) == 1.0  # empty


def test_bands_of_one_buffer_are_bounded_in_place():
    y = fb.new_bands(2, 3, 50, 20, np.float64)  # (2, 3, 50, 20) stored (3, 50, 2, 20)
    y[...] = _rng(2).standard_normal(y.shape)
    y[1, 2, 7, 3] = 1e9
    y[0, 0, 49, 19] = -1e8
    assert not y[0].flags.c_contiguous
    for band, big in ((y[0], 1e8), (y[1], 1e9)):
        rows = fin._rows(band)
        assert rows is not None and rows.shape == (150, 20) and np.shares_memory(rows, y)
        assert big <= fin.magnitude_bound([band]) < 4 * big
    assert fin.magnitude_bound([y[0], y[1]]) >= 1e9
    big = _rng(3).standard_normal(3 * fin.DOT_CHUNK + 5)
    big[-1] = 1e12  # in the last, short chunk
    assert fin.magnitude_bound([big]) >= 1e12


@pytest.mark.parametrize("dtype", ["float32", "complex128"])
def test_bands_stored_position_by_position_are_bounded_in_place(dtype):
    x = _rng(4).standard_normal((6, 40, 10)).astype(dtype)
    bands = wl.wavedec(x, "db2", level=2, axis=1, mode="symmetric")
    for band in bands:
        assert band.strides[0] == band.shape[2] * band.itemsize  # (P, n, Q) stored (n, P, Q)
        rows = fin._rows(band)
        assert rows is not None and np.shares_memory(rows, band)
        parts = band.view(band.real.dtype) if dtype.startswith("complex") else band
        assert rows.size == parts.size
        np.testing.assert_allclose(np.sort(rows.ravel()), np.sort(parts.ravel()))
        band_copy = band.copy()
        band[4, 3, 7] = 1e9  # found wherever it is
        assert 1e9 <= fin.magnitude_bound([band]) < 4e9
        band[...] = band_copy


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_nonfinite_anywhere_gives_an_infinite_bound(bad, dtype):
    x = _rng(3).standard_normal((2, 64, 20)).astype(dtype)
    for where in [(0, 0, 0), (1, 63, 19), (1, 30, 4)]:
        y = x.copy()
        y[where] = bad
        assert fin.magnitude_bound([y]) == math.inf
        assert fin.magnitude_bound([x, y[:, ::-1]]) == math.inf  # strided views too
        assert fin.magnitude_bound([np.swapaxes(y, 0, 1)]) == math.inf
        assert not fin.known_finite(fin.magnitude_bound([y]), y.dtype)


def test_squares_that_overflow_give_an_infinite_bound(monkeypatch):
    x = np.full((2, 64, 20), 1e200)  # finite, but 1e400 > float64 max
    assert fin.magnitude_bound([x]) == math.inf
    assert fin.known_finite(1e30, np.float32) and not fin.known_finite(2e38, np.float32)
    y = np.full((2, 64, 20), 1e20, np.float32)  # 1e40 > float32 max: squared in float64
    assert fin.magnitude_bound([y]) >= 1e20 * math.sqrt(y.size)  # by the compiled pass
    monkeypatch.setattr(compiled, "USE_COMPILED", False)
    assert fin.magnitude_bound([y]) == math.inf  # by BLAS, in float32


@pytest.mark.parametrize("mode", MODES)
def test_growth_bounds_one_level(mode):
    """Any input of magnitude <= 1 gives outputs of magnitude <= level_growth, both
    ways (the worst case: signs aligned with the taps and the padding)."""
    w = as_wavelet("db4")
    rng = _rng(4)
    for n in (3, 8, 33):
        x = np.sign(rng.standard_normal((1, n, 16)))
        a, d = tr.analysis_level(np, x, w, mode)
        assert max(np.abs(a).max(), np.abs(d).max()) <= tr.analysis_growth(w, mode, n)
        if mode == "periodization" or 2 * a.shape[1] - 8 + 2 >= 1:
            z = tr.synthesis_level(np, np.sign(a), np.sign(d), w, mode)
            assert np.abs(z).max() <= tr.synthesis_growth(w, mode, a.shape[1])


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "smooth"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_results_do_not_depend_on_the_bound(mode, dtype, monkeypatch):
    """Bit for bit: the bound only lets levels skip a check they would pass."""
    x = _rng(5).standard_normal((3, 200, 24)).astype(dtype)
    dec = wl.wavedec(x, "db4", mode, level=3, axis=1)
    rec = wl.waverec(dec, "db4", mode, axis=1)
    monkeypatch.setattr(fin, "magnitude_bound", lambda arrays: math.inf)  # check every level
    for got, ref in zip(dec, wl.wavedec(x, "db4", mode, level=3, axis=1), strict=True):
        assert np.array_equal(got, ref)
    assert np.array_equal(rec, wl.waverec(dec, "db4", mode, axis=1))


def _finite_flags(monkeypatch) -> list[bool]:
    """Record the ``finite`` argument of every ``_use_blocked`` call."""
    flags: list[bool] = []
    real = fb._use_blocked

    def spy(xp, x, finite=False):
        flags.append(bool(finite))
        return real(xp, x, finite)

    monkeypatch.setattr(fb, "_use_blocked", spy)
    return flags


def test_finite_input_is_checked_once(monkeypatch):
    x = _rng(6).standard_normal((2, 256, 32))
    flags = _finite_flags(monkeypatch)
    dec = wl.wavedec(x, "db4", "symmetric", level=3, axis=1)
    assert flags and all(flags), flags
    flags.clear()
    wl.waverec(dec, "db4", "symmetric", axis=1)
    assert flags and all(flags), flags


def test_levels_whose_bound_may_overflow_check_again(monkeypatch):
    """float32 data of magnitude 3e16: the bound (squares summing to ~6e37) is
    finite, but grows by analysis_growth (~418 in smooth mode) per level, so the
    deepest levels check their input again."""
    x = (_rng(7).standard_normal((1, 4096, 16)) * 3e16).astype(np.float32)
    flags: list[bool] = []
    real = tr.analysis_level

    def spy(xp, a, w, mode, *, finite=False):
        flags.append(finite)
        return real(xp, a, w, mode, finite=finite)

    monkeypatch.setattr(tr, "analysis_level", spy)
    wl.wavedec(x, "db4", "smooth", level=9, axis=1)  # bound 1.4e40 at level 9
    assert flags[:3] == [True] * 3 and flags[-1] is False, flags


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", ["symmetric", "periodization", "zero"])
def test_overflow_inside_the_transform_matches_the_tap_loop(mode, monkeypatch):
    """float32 data near the largest float: level 1 overflows to inf in places, the
    next levels read those infs. Same inf/NaN placement as the tap loop and pywt."""
    x = (_rng(8).standard_normal((2, 128, 20)) * 1e37).astype(np.float32)
    x[:, 60:64] = 3e38
    assert not fin.known_finite(fin.magnitude_bound([x]), x.dtype)  # the levels check
    got = wl.wavedec(x, "db2", mode, level=3, axis=1)
    got_rec = wl.waverec(got, "db2", mode, axis=1)
    monkeypatch.setattr(fb, "_use_blocked", lambda xp, a, finite=False: False)
    ref = wl.wavedec(x, "db2", mode, level=3, axis=1)
    ref_rec = wl.waverec(got, "db2", mode, axis=1)
    assert any(not np.isfinite(c).all() for c in ref)  # the data do overflow
    for g, r in zip([*got, got_rec], [*ref, ref_rec], strict=True):
        assert np.array_equal(np.isnan(g), np.isnan(r))
        assert np.array_equal(np.isposinf(g), np.isposinf(r))
        assert np.array_equal(np.isneginf(g), np.isneginf(r))
    p = pywt.wavedec(x, "db2", mode, level=3, axis=1)
    for g, r in zip(got, p, strict=True):
        assert np.array_equal(np.isfinite(g), np.isfinite(r))


def _level_flags(monkeypatch) -> list[bool]:
    """Record the ``finite`` argument of every synthesis level."""
    flags: list[bool] = []
    real = tr.synthesis_level

    def spy(xp, a, d, w, mode, *, finite=False):
        flags.append(finite)
        return real(xp, a, d, w, mode, finite=finite)

    monkeypatch.setattr(tr, "synthesis_level", spy)
    return flags


def test_waverec_checks_its_result_not_its_bands(monkeypatch):
    """Finite bands: the levels run once, unchecked, and the one finiteness pass reads the
    result (the array returned)."""
    x = _rng(10).standard_normal((2, 512, 24))
    dec = wl.wavedec(x, "db4", "symmetric", level=3, axis=1)
    flags, read = _level_flags(monkeypatch), []
    real = fin.magnitude_bound
    monkeypatch.setattr(fin, "magnitude_bound", lambda arrays: read.extend(arrays) or real(arrays))
    rec = wl.waverec(dec, "db4", "symmetric", axis=1)
    assert flags == [True] * 3
    assert len(read) == 1 and np.shares_memory(read[0], rec)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_waverec_of_nonfinite_bands_runs_the_checked_levels(mode, bad, monkeypatch):
    """A non-finite value in any band, at the ends or inside: the unchecked result is
    dropped and the checked levels give theirs, bit for bit (NaN and inf in place)."""
    rng = _rng(11)
    x = rng.standard_normal((2, 300, 20)).astype(np.float32)
    for j, (p, k, q) in enumerate([(0, 0, 0), (1, -1, 19), (1, 7, 3)]):
        dec = [c.copy() for c in wl.wavedec(x, "db3", mode, level=3, axis=1)]
        dec[j + 1][p, k, q] = bad
        flags = _level_flags(monkeypatch)
        got = wl.waverec(dec, "db3", mode, axis=1)
        assert flags == [True] * 3 + [False] * 3
        monkeypatch.undo()
        bands = [np.ascontiguousarray(c) for c in dec]
        ref = tr._waverec_levels(np, bands, as_wavelet("db3"), mode, finite=False)
        assert not np.isfinite(got).all()
        assert np.array_equal(got, ref, equal_nan=True)
