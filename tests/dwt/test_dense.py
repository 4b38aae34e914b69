"""Short signals as one matrix product (wavelearn.dwt.dense) against the level path.

The level-by-level path is the reference here (PyWavelets is its oracle, in
test_dwt.py and test_pywt_agreement.py, which run through the matrices too for
short signals). Each test checks that the matrix path really ran (a spy on
``Operator.apply``), or really did not, so none of them can pass by taking the
other path.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wavelearn as wl
from wavelearn.dwt import dense, gathered
from wavelearn.dwt.wavelets import MODES, as_wavelet


@pytest.fixture(autouse=True)
def _no_gather(monkeypatch):
    """These tests are about the matrices: the gathered levels
    (:mod:`wavelearn.dwt.gathered`, which come first for many channels) are off."""
    monkeypatch.setattr(gathered, "USE_GATHERED", False)


@pytest.fixture(name="spy")
def spy_fixture(monkeypatch):
    """Counts products of the dense path."""
    calls = {"apply": 0}
    real = dense.Operator.apply

    def counted(self, xp, x):
        calls["apply"] += 1
        return real(self, xp, x)

    monkeypatch.setattr(dense.Operator, "apply", counted)
    return calls


def _all_four(x, name, mode, level):
    """wavedec, waverec, waverec with length=, and both adjoints of ``x`` (axis 1)."""
    n = x.shape[1]
    c = wl.wavedec(x, name, mode, level=level, axis=1)
    lengths = [b.shape[1] for b in c]
    rec = wl.waverec(c, name, mode, axis=1)
    g = np.random.default_rng(1).standard_normal(rec.shape).astype(x.dtype)
    out = {
        "wavedec": c,
        "waverec": [rec],
        "waverec_cropped": [wl.waverec(c, name, mode, axis=1, length=rec.shape[1] - 1)],
        "wavedec_adjoint": [wl.wavedec_adjoint(c, name, mode, axis=1, length=n)],
        "waverec_adjoint": wl.waverec_adjoint(g, name, mode, axis=1, coeff_lengths=lengths),
        "waverec_adjoint_cropped": wl.waverec_adjoint(g[:, :-1], name, mode, axis=1,
                                                      coeff_lengths=lengths),
    }
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["haar", "db4", "sym5", "bior3.5", "coif2"])
def test_dense_equals_level_path(name, mode, dtype, spy):
    """Every case through the matrices (DENSE_RATIO lifted: this tests the results, not
    when the matrices pay), then through the levels."""
    rng = np.random.default_rng(0)
    tol = 1e-12 if dtype == "float64" else 2e-5
    for shape in [(3, 40, 17), (2, 64, 5), (4, 23, 20)]:
        x = rng.standard_normal(shape).astype(dtype)
        for level in (1, 2, 3):
            with warnings.catch_warnings(), pytest.MonkeyPatch.context() as mp:
                warnings.simplefilter("ignore", UserWarning)  # level above the maximum
                mp.setattr(dense, "DENSE_RATIO", np.inf)
                mp.setattr(dense, "DENSE_RATIO_F64", np.inf)
                mp.setattr(dense, "DENSE_RATIO_F64_TRIMMED", np.inf)
                spy["apply"] = 0
                got = _all_four(x, name, mode, level)
                assert spy["apply"] == 6, (shape, level, spy)
                mp.setattr(dense, "DENSE_MAX_ENTRIES", 0)
                want = _all_four(x, name, mode, level)
                assert spy["apply"] == 6, "the level path used the matrices"
            for key, bands in want.items():
                for g, w in zip(got[key], bands, strict=True):
                    assert g.shape == w.shape and g.dtype == w.dtype, key
                    scale = max(1.0, float(np.abs(w).max()))
                    np.testing.assert_allclose(g, w, rtol=0, atol=tol * scale, err_msg=key)


def test_matrix_columns_are_the_transforms_of_unit_vectors(level_path, spy):
    w = as_wavelet("db2")
    op = dense.analysis_matrix(w, "symmetric", 12, 2)
    for i in range(12):
        e = np.zeros(12)
        e[i] = 1.0
        c = np.concatenate(wl.wavedec(e, "db2", "symmetric", level=2))
        np.testing.assert_array_equal(op.matrix[:, i], c)
    assert spy["apply"] == 0  # (each column by the level path)
    assert not op.matrix.flags.writeable


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (the level path on inf, NaN)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_data_take_the_level_path(bad, spy):
    """inf times a zero of the matrix would be NaN where PyWavelets keeps inf."""
    x = np.random.default_rng(2).standard_normal((3, 40, 17))
    x[1, 7, 3] = bad
    got = wl.wavedec(x, "db4", "symmetric", level=2, axis=1)
    assert spy["apply"] == 0
    import pywt

    want = pywt.wavedec(x, "db4", "symmetric", level=2, axis=1)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)  # NaN and inf where pywt has them


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (overflow in the level path)
def test_data_that_could_overflow_take_the_level_path(spy):
    x = np.full((2, 40, 17), 1e307)
    wl.wavedec(x, "db4", "symmetric", level=2, axis=1)
    assert spy["apply"] == 0
    wl.wavedec(x / 1e300, "db4", "symmetric", level=2, axis=1)
    assert spy["apply"] == 1


def test_long_signals_build_no_matrix(spy):
    """The matrix is bounded (DENSE_MAX_ENTRIES) and used only while it is cheap."""
    before = dense.analysis_matrix.cache_info().misses
    x = np.random.default_rng(3).standard_normal((2, 4096, 16))
    c = wl.wavedec(x, "db4", "symmetric", level=3, axis=1)
    wl.waverec(c, "db4", "symmetric", axis=1)
    assert spy["apply"] == 0
    assert dense.analysis_matrix.cache_info().misses == before
    w = as_wavelet("db4")
    for n in (64, 100, 256, 4096, 10**6):
        lengths = dense.analysis_lengths(w, "symmetric", n, 3)
        entries = n * sum(lengths)
        assert dense.pays(w, n, lengths) == (n <= 128), n  # the measured crossovers
        assert dense.pays(w, n, lengths, np.float64) == (n <= 64), n
        assert not dense.pays(w, n, lengths, np.float64, trimmed=True), n
        assert not dense.pays(w, n, lengths) or entries <= dense.DENSE_MAX_ENTRIES


def test_consecutive_bands_are_read_in_place():
    x = np.random.default_rng(4).standard_normal((3, 40, 17))
    c = wl.wavedec(x, "db4", "periodization", level=2, axis=1)
    c3 = [b.reshape(b.shape) for b in c]
    one = dense.stacked(np, c3)
    assert np.shares_memory(one, c3[0]) and one.shape == (3, sum(b.shape[1] for b in c3), 17)
    np.testing.assert_array_equal(one, np.concatenate(c3, axis=1))
    apart = [b.copy() for b in c3]
    copied = dense.stacked(np, apart)
    assert not np.shares_memory(copied, apart[0])
    np.testing.assert_array_equal(copied, one)
    swapped = dense.stacked(np, [c3[1], c3[0], c3[2]])  # out of order: a copy
    np.testing.assert_array_equal(swapped, np.concatenate([c3[1], c3[0], c3[2]], axis=1))


def test_torch_cpu_tensors_take_the_matrices(spy):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).standard_normal((3, 40, 17))
    got = wl.wavedec(torch.from_numpy(x), "db4", "symmetric", level=2, axis=1)
    assert spy["apply"] == 1
    want = wl.wavedec(x, "db4", "symmetric", level=2, axis=1)
    for g, w in zip(got, want, strict=True):
        assert torch.is_tensor(g) and g.dtype == torch.float64
        np.testing.assert_allclose(g.numpy(), w, rtol=0, atol=1e-12)


def test_torch_products_are_one_2d_product_each(spy, monkeypatch):
    """float32 torch: each transform is one 2-D product through the backend's matmul (its
    positions first), the stacked bands are stored so, and a NaN sends it to the levels."""
    torch = pytest.importorskip("torch")
    from wavelearn.backend import backend_of

    x = np.random.default_rng(7).standard_normal((3, 40, 17)).astype(np.float32)
    t = torch.from_numpy(x)
    backend, shapes = backend_of(t), []
    real = backend.matmul
    monkeypatch.setattr(backend, "matmul",
                        lambda a, b: shapes.append((tuple(a.shape), tuple(b.shape))) or real(a, b))
    c = wl.wavedec(t, "db4", "periodization", level=2, axis=1)
    one = dense.stacked(wl.array_namespace(t), list(c))
    assert one.permute(1, 0, 2).is_contiguous() and one.shape == (3, 40, 17)
    z = wl.waverec(c, "db4", "periodization", axis=1)
    assert spy["apply"] == 2 and shapes == [((40, 40), (40, 51)), ((40, 40), (40, 51))]
    want = wl.wavedec(x, "db4", "periodization", level=2, axis=1)
    for g, w in zip(c, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=0, atol=1e-5)
    np.testing.assert_allclose(z.numpy(), x, rtol=0, atol=1e-5)
    t[1, 5, 3], before = float("nan"), spy["apply"]
    wl.wavedec(t, "db4", "periodization", level=2, axis=1)
    assert spy["apply"] == before  # the level path


def test_complex_data_take_the_level_path(spy):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 40, 17)) + 1j * rng.standard_normal((3, 40, 17))
    got = wl.wavedec(x, "db4", "symmetric", level=2, axis=1)
    assert spy["apply"] == 0
    real = wl.wavedec(x.real, "db4", "symmetric", level=2, axis=1)  # (the matrices)
    imag = wl.wavedec(x.imag, "db4", "symmetric", level=2, axis=1)
    assert spy["apply"] == 2
    for g, r, i in zip(got, real, imag, strict=True):
        np.testing.assert_allclose(g, r + 1j * i, rtol=0, atol=1e-12)
