"""The blocked filter-bank paths for every storage of the bands equal the tap loop:
interleaved bands (one fused product per block), separate bands (one product per
band), batches copied side by side, many channels (not moved), odd and short
lengths, complex data, all nine modes."""

from __future__ import annotations

import numpy as np
import pytest

import wavelearn as wl
from wavelearn.dwt import blocked
from wavelearn.dwt import filterbank as fb
from wavelearn.dwt.transforms import analysis_filters, synthesis_filters
from wavelearn.dwt.wavelets import as_wavelet

MODES = tuple(wl.MODES)


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _bands(P, n, Q, dtype, layout):
    """Two bands ``(P, n, Q)`` stored as ``layout``."""
    if layout == "interleaved":
        y = fb.new_bands(2, P, n, Q, dtype)
        y[...] = _data(y.shape, dtype, 1)
        bands = [y[0], y[1]]
        assert fb.interleaved(bands) is not None
        return bands
    if layout == "transposed":  # stored (n, P, Q): one row without a copy
        y = np.ascontiguousarray(_data((2, P, n, Q), dtype, 2).transpose(0, 2, 1, 3))
        return [y[0].transpose(1, 0, 2), y[1].transpose(1, 0, 2)]
    bands = [_data((P, n, Q), dtype, 3), _data((P, n, Q), dtype, 4)]
    if layout == "mixed":  # one band side by side already (a view), the other not
        bands[0] = _bands(P, n, Q, dtype, "transposed")[0]
    assert fb.interleaved(bands) is None
    return bands


def _reference_fold(bands, filters, n, left, right, mode):
    z = fb.filter_up_taps(np, bands, filters, left + n + right)
    return fb.extend_adjoint(np, z, n, left, right, mode)


def _close(got, ref):
    scale = max(1.0, float(np.abs(ref).max()))
    tol = 1e-4 if np.dtype(got.dtype).itemsize == 4 else 1e-11  # float32 / 64, complex128
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("layout", ["interleaved", "separate", "transposed", "mixed"])
@pytest.mark.parametrize("P, Q", [(3, 20), (1, 24), (2, 300)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128"])
@pytest.mark.parametrize("mode", MODES)
def test_filter_up_fold_every_layout_equals_the_tap_loop(layout, P, Q, dtype, mode):
    w = as_wavelet("db4")
    for n in (1, 2, 5, 8, 23, 40):
        if n == 1 and mode in ("reflect", "antireflect"):
            continue  # these modes need 2 samples
        filters, left, right, n_c = analysis_filters(w, mode, n)
        bands = _bands(P, n_c, Q, dtype, layout)
        got = fb.filter_up_fold(np, bands, filters, n, left, right, mode)
        _close(got, _reference_fold(bands, filters, n, left, right, mode))
        got_finite = fb.filter_up_fold(np, bands, filters, n, left, right, mode, finite=True)
        assert np.array_equal(got, got_finite)


@pytest.mark.parametrize("layout", ["interleaved", "separate", "transposed", "mixed"])
@pytest.mark.parametrize("P, Q", [(3, 20), (2, 300)])
@pytest.mark.parametrize("mode", ["periodization", "symmetric", "zero", "smooth"])
def test_synthesis_every_layout_equals_the_tap_loop(layout, P, Q, mode):
    """waverec's level (periodic fold, or zero-mode crop) for each band storage."""
    w = as_wavelet("sym5")
    g = synthesis_filters(w)
    for n in (5, 9, 33):
        bands = _bands(P, n, Q, "float64", layout)
        got = wl.idwt(bands[0], bands[1], w, mode, axis=1)
        if mode == "periodization":
            p = w.dec_len // 2 - 1
            ref = _reference_fold(bands, g, 2 * n, p, p, "periodic")
        else:
            ref = fb.filter_up_taps(np, bands, g, 2 * n + w.dec_len - 2)[:, w.dec_len - 2 : 2 * n]
        _close(got, ref)


def test_fused_path_runs_for_interleaved_bands(monkeypatch, level_path, blas_path):
    calls = {"fused": 0, "blocks": 0}
    for key, name in (("fused", "_filter_up_fused"), ("blocks", "_filter_up_blocks")):
        real = getattr(blocked, name)  # called inside wavelearn.dwt.blocked

        def spy(*args, _real=real, _key=key, **kwargs):
            calls[_key] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(blocked, name, spy)
    x = _data((2, 64, 300), "float64")  # many channels: not moved
    coeffs = wl.wavedec(x, "db4", "symmetric", level=1, axis=1)  # interleaved bands
    wl.waverec(coeffs, "db4", "symmetric", axis=1)
    assert calls == {"fused": 1, "blocks": 0}, calls
    wl.waverec([c.copy() for c in coeffs], "db4", "symmetric", axis=1)  # separate
    assert calls == {"fused": 1, "blocks": 1}, calls


@pytest.mark.parametrize("P, Q", [(3, 20), (1, 24), (2, 300)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["db4", "sym7", "bior3.5"])
def test_extend_filter_down_ends_by_operators_equal_the_tap_loop(name, mode, dtype, P, Q):
    """The ends of extend_filter_down come from precomputed operators on x
    (edge_operator, read in place, also at the far end in periodic modes); short
    signals are all ends."""
    w = as_wavelet(name)
    for n in (2, 3, 7, 8, 16, 29, 64):
        if n < 2 and mode in ("reflect", "antireflect"):
            continue
        x = _data((P, n, Q), dtype, n)
        filters, left, right, n_out = analysis_filters(w, mode, n)
        got = fb.extend_filter_down(np, x, filters, n_out, left, right, mode)
        ref = fb.filter_down_taps(np, fb.extend(np, x, left, right, mode), filters, n_out)
        assert got.shape == ref.shape and got.dtype == ref.dtype
        _close(got, ref)


@pytest.mark.parametrize("mode", ["periodization", "symmetric", "periodic"])
def test_results_are_the_same_bit_for_bit_with_any_number_of_threads(mode, monkeypatch):
    """Every blocked path (batches side by side, many channels whose columns are
    cut for BLAS, bands stored apart, one long channel) split into many small
    chunks and run on 1, 2 or 3 threads: identical results."""
    import pywt

    from wavelearn.dwt import chunks

    monkeypatch.setattr(chunks, "PARALLEL_MIN", 1)  # threads for every job
    monkeypatch.setattr(chunks, "CHUNK", 1 << 12)  # many chunks
    monkeypatch.setattr(blocked, "STAGE_CHUNK", 1 << 10)
    cases = [_data((3, 70, 20), "float32", 1), _data((2, 40, 2400), "float64", 2),
             _data((1, 3001, 1), "float64", 3), _data((2, 33, 24), "complex128", 4)]
    results = {}
    for n_threads in ("1", "2", "3"):
        monkeypatch.setenv("WAVELEARN_NUM_THREADS", n_threads)
        out = []
        for x in cases:
            dec = wl.wavedec(x, "db4", mode, level=2, axis=1)
            apart = [np.ascontiguousarray(c) for c in pywt.wavedec(x, "db4", mode, level=2,
                                                                   axis=1)]
            out += [*dec, wl.waverec(dec, "db4", mode, axis=1),
                    wl.waverec(apart, "db4", mode, axis=1)]
        results[n_threads] = out
    for n_threads in ("2", "3"):
        for got, ref in zip(results[n_threads], results["1"], strict=True):
            assert np.array_equal(got, ref)
