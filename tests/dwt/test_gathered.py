"""The gathered levels (wavelearn.dwt.gathered): every level as one table of taps run
by a compiled gather. Oracles: the level-by-level code applied to the identity (the
tables), PyWavelets and the level path itself (the transforms)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pywt

import wavelearn as wl
from wavelearn.dwt import compiled, dense, gathered
from wavelearn.dwt.wavelets import as_wavelet

WAVELETS = ["haar", "db4", "sym5", "bior3.5", "coif1"]
ALL_MODES = ["periodization", "symmetric", "reflect", "periodic", "zero", "constant",
             "antisymmetric", "smooth", "antireflect"]


@pytest.fixture
def spy(count_calls):
    """Counts the calls of the two gathers."""
    return count_calls(compiled, ["gather_down", "gather_up"])


def _matrix(taps: gathered.Taps, n_in: int, two_outputs: bool) -> np.ndarray:
    """A table, every row written out, as a dense matrix: two outputs stacked (a down
    table), or two inputs side by side (an up table)."""
    idx, count, f0, f1 = taps.full()
    R = len(count)
    m = np.zeros((2 * R, n_in) if two_outputs else (R, 2 * n_in))
    for r in range(R):
        for t in range(count[r]):
            i = idx[r, t]
            if two_outputs:
                m[r, i] += f0[r, t]
                m[R + r, i] += f1[r, t]
            else:
                m[r, i] += f0[r, t]
                m[r, n_in + i] += f1[r, t]
    return m


@pytest.mark.parametrize("mode", gathered.MODES)
@pytest.mark.parametrize("name", WAVELETS)
def test_tables_are_the_level_code_on_the_identity(name, mode):
    """One analysis level and one synthesis level as tables against the matrices that
    the level-by-level code builds from the identity (wavelearn.dwt.dense)."""
    w = as_wavelet(name)
    for n in (2, 3, 5, 8, 13, 23, 64, 101):
        down = gathered.down_taps(*gathered.analysis_taps(w, mode, n))
        want = dense.analysis_matrix(w, mode, n, 1).matrix  # (2 n_out, n)
        np.testing.assert_allclose(_matrix(down, n, True), want, rtol=0, atol=1e-15)
        up = gathered.up_taps(*gathered.analysis_taps(w, mode, n))  # its transpose
        half = want.shape[0] // 2
        np.testing.assert_allclose(_matrix(up, half, False),
                                   np.concatenate([want[:half].T, want[half:].T], axis=1),
                                   rtol=0, atol=1e-15)
        nd = n  # a synthesis level of bands of n coefficients
        m = 2 * nd if mode == "periodization" else 2 * nd - w.dec_len + 2
        if m < 1:
            continue
        syn = gathered.up_taps(*gathered.synthesis_taps(w, mode, m)[:6])
        np.testing.assert_allclose(_matrix(syn, nd, False),
                                   dense.synthesis_matrix(w, mode, (nd, nd)).matrix,
                                   rtol=0, atol=1e-15)


@pytest.mark.parametrize("mode", ["smooth", "antireflect"])
def test_modes_that_combine_samples_have_no_tables(mode, spy):
    """Their padded samples combine two samples: no table, the level path runs."""
    assert gathered.down_taps(*gathered.analysis_taps(as_wavelet("db4"), mode, 40)) is None
    x = np.random.default_rng(0).standard_normal((2, 40, 16))
    dec = wl.wavedec(x, "db4", mode, level=2, axis=1)
    wl.waverec(dec, "db4", mode, axis=1)
    assert spy == {"gather_down": 0, "gather_up": 0}


def _four(x: np.ndarray, name: str, mode: str, level: int, rng: np.random.Generator) -> list:
    """wavedec, waverec and both adjoints (one with ``dy`` a sample short)."""
    dec = wl.wavedec(x, name, mode, level=level, axis=1)
    lengths = [c.shape[1] for c in dec]
    rec = wl.waverec(dec, name, mode, axis=1)
    g = rng.standard_normal(rec.shape).astype(x.dtype)
    return [*dec, rec,
            wl.wavedec_adjoint(dec, name, mode, axis=1, length=x.shape[1]),
            *wl.waverec_adjoint(g, name, mode, axis=1, coeff_lengths=lengths),
            *wl.waverec_adjoint(g[:, :-1], name, mode, axis=1, coeff_lengths=lengths)]


@pytest.mark.filterwarnings("ignore:level=:UserWarning")  # levels above the maximum
@pytest.mark.filterwarnings("ignore:Level value:UserWarning")  # (PyWavelets says so too)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", gathered.MODES)
@pytest.mark.parametrize("name", WAVELETS)
def test_transforms_match_the_level_path_and_pywt(name, mode, dtype, spy, monkeypatch):
    rng = np.random.default_rng(3)
    tol = 1e-12 if dtype == "float64" else 2e-5
    for n, level in [(1, 1), (5, 2), (23, 3), (64, 3), (101, 4)]:
        if mode == "reflect" and n < 2 ** level:
            continue  # reflect needs two samples at every level
        x = rng.standard_normal((3, n, 40)).astype(dtype)
        before = dict(spy)
        got = _four(x, name, mode, level, np.random.default_rng(n))
        assert spy["gather_down"] > before["gather_down"], (n, spy)
        assert spy["gather_up"] > before["gather_up"], (n, spy)
        ref = pywt.wavedec(x, name, mode, level=level, axis=1)
        for g, r in zip(got, ref, strict=False):
            np.testing.assert_allclose(g, r, rtol=0, atol=tol * 10)
        with monkeypatch.context() as mp:
            mp.setattr(gathered, "USE_GATHERED", False)
            want = _four(x, name, mode, level, np.random.default_rng(n))
        for g, r in zip(got, want, strict=True):
            assert g.shape == r.shape and g.dtype == r.dtype
            np.testing.assert_allclose(g, r, rtol=0, atol=tol * max(1.0, np.abs(r).max()))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", ["periodization", "symmetric", "zero", "antisymmetric"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_nonfinite_values_land_where_the_level_path_puts_them(mode, bad, spy, monkeypatch):
    """No check first: each output sums the products of its own taps, so NaN and inf
    come out where the level path (PyWavelets' sums) has them."""
    x = np.random.default_rng(4).standard_normal((2, 40, 16))
    for k in (0, 1, 20, 39):
        y = x.copy()
        y[1, k, 3] = bad
        y[0, k, 5] = -bad
        got = _four(y, "db3", mode, 3, np.random.default_rng(k))
        assert spy["gather_down"] and spy["gather_up"]  # (16 float64 channels: gathered)
        with monkeypatch.context() as mp:
            mp.setattr(gathered, "USE_GATHERED", False)
            want = _four(y, "db3", mode, 3, np.random.default_rng(k))
        for g, r in zip(got, want, strict=True):
            np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
            np.testing.assert_array_equal(np.isposinf(g), np.isposinf(r))
            np.testing.assert_allclose(np.nan_to_num(g, posinf=0, neginf=0),
                                       np.nan_to_num(r, posinf=0, neginf=0), atol=1e-12)


def test_results_do_not_depend_on_the_threads(monkeypatch):
    """Rows cut into chunks that threads share: the same bits with 1 and 3 threads."""
    x = np.random.default_rng(5).standard_normal((16, 1000, 40)).astype(np.float32)
    runs = []
    for threads in ("1", "3"):
        monkeypatch.setenv("WAVELEARN_NUM_THREADS", threads)
        runs.append(_four(x, "db4", "symmetric", 3, np.random.default_rng(0)))
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a, b)


def test_few_channels_take_the_other_paths(spy):
    """Rows of fewer than MIN_ROW_BYTES (one signal; 16 float32 channels) take the
    other paths; 16 float64 channels, as many bytes, the gathered levels."""
    rng = np.random.default_rng(6)
    wl.wavedec(rng.standard_normal(100), "db2", "zero", level=2)  # one channel
    wl.wavedec(rng.standard_normal((2, 100, 16)).astype(np.float32), "db2", "zero", level=2,
               axis=1)
    assert spy == {"gather_down": 0, "gather_up": 0}
    wl.wavedec(rng.standard_normal((2, 100, 16)), "db2", "zero", level=2, axis=1)
    assert spy["gather_down"] == 2


@pytest.mark.parametrize("mode", ["periodization", "symmetric", "zero"])
def test_long_signals_match_the_level_path(mode, monkeypatch):
    """A signal long enough for a repeating middle in every level's table, odd lengths
    at each level, and ``waverec(..., length=)``'s adjoint."""
    x = np.random.default_rng(8).standard_normal((2, 20_003, 8))
    got = _four(x, "sym5", mode, 4, np.random.default_rng(0))
    monkeypatch.setattr(gathered, "USE_GATHERED", False)
    want = _four(x, "sym5", mode, 4, np.random.default_rng(0))
    for g, r in zip(got, want, strict=True):
        np.testing.assert_allclose(g, r, rtol=0, atol=1e-11)


def test_tables_do_not_grow_with_the_signal():
    """Only the rows near the ends are stored: the same numbers for 1,000 samples and
    for ten million (no n x n, not even n)."""
    w = as_wavelet("db4")
    for mode in ("symmetric", "periodization", "zero"):
        sizes = []
        for n in (1000, 10**7):
            tables = [gathered.down_taps(*gathered.analysis_taps(w, mode, n)),
                      gathered.up_taps(*gathered.analysis_taps(w, mode, n)),
                      gathered.up_taps(*gathered.synthesis_taps(w, mode, 2 * n)[:6])]
            sizes.append(sum(a.nbytes for t in tables for a in (t.idx, t.count, t.f0, t.f1)))
            assert all(t.period for t in tables)  # a repeating middle
        assert sizes[0] == sizes[1] < 20_000, sizes


def test_torch_cpu_tensors_take_the_loops(spy):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(7).standard_normal((4, 100, 32)).astype(np.float32)
    dec = wl.wavedec(torch.from_numpy(x), "db4", "periodization", level=3, axis=1)
    rec = wl.waverec(dec, "db4", "periodization", axis=1)
    assert spy == {"gather_down": 3, "gather_up": 3}
    assert all(torch.is_tensor(c) for c in dec) and torch.is_tensor(rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = wl.wavedec(x, "db4", "periodization", level=3, axis=1)
    for c, r in zip(dec, want, strict=True):
        np.testing.assert_array_equal(c.numpy(), r)
    np.testing.assert_allclose(rec.numpy(), x, atol=1e-5)
