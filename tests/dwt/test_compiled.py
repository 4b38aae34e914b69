"""The compiled loops of wavelearn.dwt.compiled against the textbook tap loop.

Each kernel is checked on its own (random filters of every length from 1 to 13,
strided views, both dtypes, chunks of positions and channels), then inside the
transforms with a spy, so that no test passes by taking another path.
"""

from __future__ import annotations

import numpy as np
import pytest

import wavelearn as wl
from wavelearn.dwt import compiled, gathered
from wavelearn.dwt.textbook import filter_down_taps, filter_up_taps

TOL = {"float32": 1e-5, "float64": 1e-13}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("F", range(1, 14))
def test_filter_down_rows_equals_the_taps(F, dtype):
    rng = np.random.default_rng(F)
    big = rng.standard_normal((3, 50, 40)).astype(dtype)
    x = big[:, 3:, 5:37]  # a strided view: (3, 47, 32), channels contiguous
    filters = rng.standard_normal((2, F))
    n_out = (x.shape[1] - F) // 2 + 1
    want = filter_down_taps(np, x, filters, n_out)  # (2, P, n_out, Q)
    y = np.full((3, n_out, 2, 32), np.nan, dtype=dtype)
    for ps, os_, qs in [(slice(0, 2), slice(0, n_out), slice(0, 32)),
                        (slice(2, 3), slice(0, 5), slice(0, 20)),
                        (slice(2, 3), slice(5, n_out), slice(0, 20)),
                        (slice(2, 3), slice(0, n_out), slice(20, 32))]:
        compiled.filter_down_rows(x, filters, y, ps, os_, qs)
    np.testing.assert_allclose(y.transpose(2, 0, 1, 3), want, rtol=0,
                               atol=TOL[dtype] * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("F", range(1, 14))
def test_filter_up_rows_equals_the_taps(F, dtype):
    rng = np.random.default_rng(100 + F)
    J = (F + 1) // 2
    n = 30
    store = rng.standard_normal((2, 40, n + 3, 24)).astype(dtype)
    bands = [store[0, 1:4, 2 : 2 + n], store[1, 5:8, 1 : 1 + n]]  # (3, n, 24) views
    filters = rng.standard_normal((2, F))
    full = filter_up_taps(np, bands, filters, 2 * n + F)  # (P, 2n + F, Q): every pair whole
    k0 = J - 1  # first pair whose window lies inside the bands
    pairs = n - J + 1  # ... to the last one, k0 + pairs - 1 = n - 1
    z = np.full((3, 2 * pairs, 24), np.nan, dtype=dtype)
    for ps, ks, qs in [(slice(0, 3), slice(0, 4), slice(0, 24)),
                       (slice(0, 1), slice(4, pairs), slice(0, 24)),
                       (slice(1, 3), slice(4, pairs), slice(0, 10)),
                       (slice(1, 3), slice(4, pairs), slice(10, 24))]:
        compiled.filter_up_rows(bands, filters, k0, z, ps, ks, qs)
    want = full[:, 2 * k0 : 2 * (k0 + pairs)]
    np.testing.assert_allclose(z, want, rtol=0,
                               atol=TOL[dtype] * max(1.0, float(np.abs(want).max())))


@pytest.fixture(name="spy")
def spy_fixture(monkeypatch):
    calls = {"down": 0, "up": 0}
    for key, name in (("down", "down_rows_task"), ("up", "up_rows_task")):
        real = getattr(compiled, name)

        def counted(*args, _real=real, _key=key):
            calls[_key] += 1
            return _real(*args)

        monkeypatch.setattr(compiled, name, counted)
    return calls


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "reflect", "zero"])
@pytest.mark.parametrize("name", ["haar", "db3", "db4", "bior3.5"])
def test_the_transforms_run_the_loops_and_match_blas(name, mode, spy, monkeypatch):
    monkeypatch.setattr(gathered, "USE_GATHERED", False)  # the blocked levels (periodization)
    x = np.random.default_rng(7).standard_normal((3, 700, 40))
    dec = wl.wavedec(x, name, mode, level=3, axis=1)
    rec = wl.waverec(dec, name, mode, axis=1)
    adj = wl.wavedec_adjoint(dec, name, mode, axis=1, length=700)
    assert spy["down"] > 0 and spy["up"] > 0, spy
    seen = dict(spy)
    monkeypatch.setattr(compiled, "USE_COMPILED", False)
    dec_blas = wl.wavedec(x, name, mode, level=3, axis=1)
    assert spy == seen, "the loops ran with USE_COMPILED = False"
    for a, b in zip(dec, dec_blas, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec, wl.waverec(dec_blas, name, mode, axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(adj, wl.wavedec_adjoint(dec_blas, name, mode, axis=1, length=700),
                               rtol=0, atol=1e-12)


def test_other_dtypes_and_layouts_do_not_take_the_loops():
    assert compiled.available(np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 4), np.float32))
    assert not compiled.available(np.zeros((2, 3, 4), np.complex128))
    assert not compiled.available(np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 4)))
    assert not compiled.available(np.zeros((2, 3, 8))[:, :, ::2])  # channels not contiguous


def test_import_wavelearn_does_not_compile_or_import_numba():
    import subprocess
    import sys

    code = "import sys, wavelearn; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sum_squares_of_strided_rows(dtype):
    buf = np.random.default_rng(9).standard_normal((300, 2, 70)).astype(dtype)
    rows = buf[:, 1, 3:]  # (300, 67), rows 140 apart
    want = float((rows.astype(np.float64) ** 2).sum())
    assert compiled.sum_squares(rows) == pytest.approx(want, rel=1e-12)
    for bad in (np.inf, np.nan):
        rows[299, 66] = bad
        assert not np.isfinite(compiled.sum_squares(rows))


def test_first_use_from_several_threads(monkeypatch):
    """The first call may come from several threads at once (the chunks of a level):
    each sees every kernel."""
    from concurrent.futures import ThreadPoolExecutor

    from wavelearn.nn import compiled as nn_compiled

    for module in (compiled, nn_compiled):
        monkeypatch.setattr(module, "_KERNELS", {})
        with ThreadPoolExecutor(4) as pool:
            seen = list(pool.map(lambda _, m=module: sorted(m.kernels()), range(8)))
        assert all(s == seen[0] for s in seen) and len(seen[0]) >= 3
