"""The once-per-transform finiteness check (wavelearn.dwt.finite): the bound it
carries really bounds the data, it never lets data with inf/NaN (or data that
overflows at some level) take the blocked path, and results do not depend on it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pywt

import wavelearn as wl
from wavelearn.dwt import compiled, gathered
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
    monkeypatch.setattr(gathered, "USE_GATHERED", False)  # the blocked levels
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
    deepest levels check their input again. (One channel: its levels are the BLAS
    products that need the bound; many channels check their ends instead.)"""
    x = (_rng(7).standard_normal((1, 65536, 1)) * 3e16).astype(np.float32)
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
    """Finite bands of one channel (BLAS products): the levels run once, unchecked, and
    the one finiteness pass reads the result (the array returned)."""
    x = _rng(10).standard_normal((1, 8192, 1))
    dec = wl.wavedec(x, "db4", "symmetric", level=3, axis=1)
    flags, read = _level_flags(monkeypatch), []
    real = fin.magnitude_bound
    monkeypatch.setattr(fin, "magnitude_bound", lambda arrays: read.extend(arrays) or real(arrays))
    rec = wl.waverec(dec, "db4", "symmetric", axis=1)
    assert flags == [True] * 3
    assert len(read) == 1 and np.shares_memory(read[0], rec)


def _sums(monkeypatch) -> list[int]:
    """Record the size of every array that ``fb._use_blocked`` sums (a finiteness pass)."""
    sizes: list[int] = []
    real = fb._use_blocked

    def spy(xp, x, finite=False):
        if not finite:
            sizes.append(x.size)
        return real(xp, x, finite)

    monkeypatch.setattr(fb, "_use_blocked", spy)
    return sizes


def test_many_channels_check_only_the_ends(monkeypatch):
    """Bands of many channels (the compiled tap sums in the middle of every level):
    no pass over the data in wavedec, waverec or their adjoints, only the few samples
    that the ends' small operators read are checked (here, against a spy, nothing is
    summed whole and no bound is computed)."""
    x = _rng(12).standard_normal((2, 2048, 24))
    bounds: list = []
    real = fin.magnitude_bound
    monkeypatch.setattr(fin, "magnitude_bound", lambda arrays: bounds.append(1) or real(arrays))
    sizes = _sums(monkeypatch)
    for mode in ("symmetric", "periodization", "smooth"):
        dec = wl.wavedec(x, "db4", mode, level=3, axis=1)
        wl.waverec(dec, "db4", mode, axis=1)
        wl.wavedec_adjoint(dec, "db4", mode, axis=1, length=2048)
        wl.waverec_adjoint(x, "db4", mode, axis=1, coeff_lengths=[c.shape[1] for c in dec])
    assert sizes == [] and bounds == [], (sizes, bounds)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_waverec_of_nonfinite_bands_runs_the_checked_levels(mode, bad, monkeypatch):
    """One channel: a non-finite value in any band, at the ends or inside: the unchecked
    result is dropped and the checked levels give theirs, bit for bit (NaN and inf in
    place)."""
    rng = _rng(11)
    x = rng.standard_normal((1, 2400, 1)).astype(np.float32)
    for j, k in enumerate([0, -1, 7]):
        dec = [c.copy() for c in wl.wavedec(x, "db3", mode, level=3, axis=1)]
        dec[j + 1][0, k, 0] = bad
        flags = _level_flags(monkeypatch)
        got = wl.waverec(dec, "db3", mode, axis=1)
        assert flags == [True] * 3 + [False] * 3
        monkeypatch.undo()
        bands = [np.ascontiguousarray(c) for c in dec]
        ref = tr._waverec_levels(np, bands, as_wavelet("db3"), mode, finite=False)
        assert not np.isfinite(got).all()
        assert np.array_equal(got, ref, equal_nan=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_nonfinite_values_of_many_channels_land_where_the_tap_loop_puts_them(mode, bad):
    """Many channels: a non-finite value at the ends (read by the small operators, which
    then give way to the tap loop) or inside (summed by the compiled loops, which keep
    it), in a signal (wavedec, the adjoint of waverec) or in a band (waverec, the adjoint
    of wavedec): NaN and inf land where the tap loop and PyWavelets put them, and the
    rest agrees."""
    x = _rng(13).standard_normal((2, 300, 20))
    w = as_wavelet("db3")
    lengths = [c.shape[1] for c in wl.wavedec(x, w, mode, level=3, axis=1)]
    for k, (band, c) in zip((0, 2, 150, -1), ((1, 0), (2, 2), (3, 75), (0, -1)), strict=True):
        xb = x.copy()
        xb[1, k, 3] = bad
        dec = [c.copy() for c in wl.wavedec(x, w, mode, level=3, axis=1)]
        dec[band][1, c, 3] = bad

        def run(xb=xb, dec=dec):
            return [*wl.wavedec(xb, w, mode, level=3, axis=1),
                    *wl.waverec_adjoint(xb, w, mode, axis=1, coeff_lengths=lengths),
                    wl.waverec(dec, w, mode, axis=1),
                    wl.wavedec_adjoint(dec, w, mode, axis=1, length=300)]
        got = run()
        with _taps_only():
            ref = run()
        for g, r in zip(got, ref, strict=True):
            for test in (np.isnan, np.isposinf, np.isneginf):
                assert np.array_equal(test(g), test(r)), (k, test.__name__)
            ok = np.isfinite(r)
            np.testing.assert_allclose(g[ok], r[ok], rtol=1e-12, atol=1e-12)
        p = [*pywt.wavedec(xb, "db3", mode, level=3, axis=1),
             pywt.waverec(dec, "db3", mode, axis=1)]
        for g, r in zip([*got[:4], got[-2]], p, strict=True):
            assert np.array_equal(np.isnan(g), np.isnan(r))
            assert np.array_equal(np.isinf(g), np.isinf(r))
        assert not all(np.isfinite(c).all() for c in got)


class _taps_only:
    """Within: every level takes the tap loop (the blocked and compiled paths off)."""

    def __enter__(self) -> None:
        self.real = fb._use_blocked
        fb._use_blocked = lambda xp, x, finite=False: False

    def __exit__(self, *exc: object) -> None:
        fb._use_blocked = self.real
