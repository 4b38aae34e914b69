"""Exact adjoints: ``<A x, y> = <x, A^T y>`` for dwt, idwt, wavedec, waverec.

Each transform is linear, so it is a matrix ``A``; the ``*_adjoint``
functions must apply ``A^T`` exactly (every boundary mode, odd lengths,
several levels). Checked two ways: the dot-product identity on random
vectors, to ``1e-12`` relative to the norms, and, for small ``n``, against
the explicit matrix built column by column from unit vectors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pywt
from hypothesis import given
from hypothesis import strategies as st

import wavelearn as wl

MODES = tuple(wl.MODES)
NAMES = ("haar", "db2", "sym3", "coif1", "bior2.4", "rbio3.1", "db6")
LENGTHS = (1, 2, 3, 5, 8, 13, 16, 21)
ALL_NAMES = pywt.wavelist(kind="discrete")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _dot(xs, ys) -> float:
    pairs = zip(xs, ys, strict=True)
    return float(sum(np.vdot(np.asarray(a), np.asarray(b)).real for a, b in pairs))


def _norm(xs) -> float:
    return float(np.sqrt(sum(np.sum(np.abs(np.asarray(a)) ** 2) for a in xs)))


def assert_adjoint(ax, y, x, aty, what: str = "", rtol: float = 1e-12) -> None:
    """``<A x, y> == <x, A^T y>`` to ``rtol`` times the norms involved,
    ``max(|Ax| |y|, |x| |A^T y|)`` (lists of arrays). Operators such as
    ``smooth``-mode padding have norms well above 1, hence not ``|x| |y|``."""
    for a, b in zip(ax, y, strict=True):
        assert np.shape(a) == np.shape(b), what
    for a, b in zip(x, aty, strict=True):
        assert np.shape(a) == np.shape(b), f"{what}: adjoint shape {np.shape(b)} != {np.shape(a)}"
    lhs, rhs = _dot(ax, y), _dot(x, aty)
    bound = rtol * max(_norm(ax) * _norm(y), _norm(x) * _norm(aty))
    assert abs(lhs - rhs) <= bound, f"{what}: <Ax,y>={lhs!r}, <x,A^T y>={rhs!r}, bound {bound:.3g}"


def _raises_like_pywt(fn):
    """Run ``fn``; return None when it raises ValueError (reflect modes on one sample)."""
    try:
        return fn()
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Dot-product identity
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_dwt_and_idwt_adjoints(name, mode):
    rng = _rng(1)
    for n in LENGTHS:
        for shape, axis in (((2, n, 3), 1), ((n,), -1), ((2, n, 17), -2)):  # last: blocked path
            x = rng.standard_normal(shape)
            out = _raises_like_pywt(lambda x=x, axis=axis: wl.dwt(x, name, mode, axis=axis))
            if out is None:
                assert n == 1 and mode in ("reflect", "antireflect")
                continue
            y = [rng.standard_normal(c.shape) for c in out]
            back = wl.dwt_adjoint(*y, name, mode, axis, length=n)
            assert_adjoint(out, y, [x], [back], f"dwt n={n} shape={shape}")
            # idwt: from coefficients of that length to its output
            z = wl.idwt(*y, name, mode, axis=axis)
            w = rng.standard_normal(z.shape)
            dA, dD = wl.idwt_adjoint(w, name, mode, axis)
            assert_adjoint([z], [w], y, [dA, dD], f"idwt n={n} shape={shape}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_wavedec_and_waverec_adjoints(name, mode):
    rng = _rng(2)
    F = pywt.Wavelet(name).dec_len
    for n in (1, 2, 3, 5, 8, 13, 37, 64):
        for shape, axis in (((2, n, 3), 1), ((2, n, 17), -2)):  # tap loop, blocked path
            x = rng.standard_normal(shape)
            for level in range(0, min(pywt.dwt_max_level(n, F) + 2, 4)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # level above max
                    coeffs = _raises_like_pywt(
                        lambda x=x, level=level, axis=axis: wl.wavedec(x, name, mode, level, axis)
                    )
                if coeffs is None:
                    assert mode in ("reflect", "antireflect")
                    continue
                what = f"n={n} shape={shape} level={level}"
                y = [rng.standard_normal(c.shape) for c in coeffs]
                back = wl.wavedec_adjoint(y, name, mode, axis, length=n)
                assert_adjoint(coeffs, y, [x], [back], f"wavedec {what}")
                lengths = [c.shape[axis] for c in coeffs]
                for length in (None, n):
                    rec = wl.waverec(y, name, mode, axis, length=length)
                    w = rng.standard_normal(rec.shape)
                    dc = wl.waverec_adjoint(w, name, mode, axis, coeff_lengths=lengths)
                    assert_adjoint([rec], [w], y, dc, f"waverec length={length} {what}")


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_adjoints_keep_dtype(dtype):
    rng = _rng(3)
    x = rng.standard_normal((2, 19, 17)).astype(dtype)
    cA, cD = wl.dwt(x, "db3", "symmetric", axis=1)
    assert wl.dwt_adjoint(cA, cD, "db3", "symmetric", 1, length=19).dtype == dtype
    assert all(a.dtype == dtype for a in wl.idwt_adjoint(wl.idwt(cA, cD, "db3"), "db3"))
    coeffs = wl.wavedec(x, "db3", "symmetric", level=1, axis=1)
    assert wl.wavedec_adjoint(coeffs, "db3", "symmetric", 1, length=19).dtype == dtype
    dc = wl.waverec_adjoint(
        x[:, :19], "db3", "symmetric", 1, coeff_lengths=[c.shape[1] for c in coeffs]
    )
    assert all(c.dtype == dtype for c in dc)


def test_float32_adjoint_agrees_with_float64():
    rng = _rng(4)
    y = [rng.standard_normal((2, k, 17)) for k in (7, 7, 10)]
    g64 = wl.wavedec_adjoint(y, "sym3", "smooth", 1, length=15)
    g32 = wl.wavedec_adjoint([c.astype(np.float32) for c in y], "sym3", "smooth", 1, length=15)
    assert g32.dtype == np.float32
    assert np.abs(g32 - g64).max() <= 1e-5 * np.abs(g64).max()


# ---------------------------------------------------------------------------
# Against the explicit matrix
# ---------------------------------------------------------------------------


def _matrix(fn, n_in: int) -> np.ndarray:
    """The matrix of the linear map ``fn`` (vector -> vector), column by column."""
    cols = [np.asarray(fn(np.eye(n_in)[k])) for k in range(n_in)]
    return np.stack(cols, axis=1)


def assert_matches_transpose(got, A: np.ndarray, y: np.ndarray, what: str = "") -> None:
    """``got == A.T @ y`` to ``1e-12 * max|A| * sum|y|`` (a bound on each entry's size)."""
    want = A.T @ y
    got = np.asarray(got)
    assert got.shape == want.shape, what
    bound = 1e-12 * np.abs(A).max() * np.abs(y).sum()
    err = np.abs(got - want).max()
    assert err <= bound, f"{what}: |adjoint - A.T @ y| = {err:.3g} > {bound:.3g}"


def _concat(arrays) -> np.ndarray:
    return np.concatenate([np.asarray(a).ravel() for a in arrays])


def _split(v: np.ndarray, lengths) -> list[np.ndarray]:
    return np.split(v, np.cumsum(lengths)[:-1])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["db2", "bior2.4", "coif1"])
def test_adjoints_equal_the_explicit_matrix_transpose(name, mode):
    rng = _rng(5)
    for n in (2, 5, 7, 12):
        # dwt
        A = _matrix(lambda e: _concat(wl.dwt(e, name, mode)), n)
        y = rng.standard_normal(A.shape[0])
        m = A.shape[0] // 2
        got = wl.dwt_adjoint(y[:m], y[m:], name, mode, length=n)
        assert_matches_transpose(got, A, y, f"dwt n={n}")
        # idwt: coefficients [a; d] -> signal
        B = _matrix(lambda e, m=m: wl.idwt(e[:m], e[m:], name, mode), 2 * m)
        w = rng.standard_normal(B.shape[0])
        assert_matches_transpose(_concat(wl.idwt_adjoint(w, name, mode)), B, w, f"idwt n={n}")
        # wavedec and waverec, two levels (above max for short signals)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            coeffs = wl.wavedec(np.zeros(n), name, mode, level=2)
            lengths = [len(c) for c in coeffs]
            C = _matrix(lambda e: _concat(wl.wavedec(e, name, mode, level=2)), n)
        yc = rng.standard_normal(C.shape[0])
        got = wl.wavedec_adjoint(_split(yc, lengths), name, mode, length=n)
        assert_matches_transpose(got, C, yc, f"wavedec n={n}")
        for length in (None, n):
            R = _matrix(
                lambda e, length=length, lengths=lengths: wl.waverec(
                    _split(e, lengths), name, mode, length=length
                ),
                sum(lengths),
            )
            w = rng.standard_normal(R.shape[0])
            got = wl.waverec_adjoint(w, name, mode, coeff_lengths=lengths)
            assert_matches_transpose(_concat(got), R, w, f"waverec n={n} length={length}")


def test_explicit_matrix_of_haar_periodization_is_orthogonal():
    A = _matrix(lambda e: _concat(wl.wavedec(e, "haar", "periodization", level=3)), 16)
    np.testing.assert_allclose(A.T @ A, np.eye(16), atol=1e-14)


# ---------------------------------------------------------------------------
# Orthogonal wavelet + periodization: A^T == A^{-1}; elsewhere not
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["haar", "db2", "db5", "sym4", "coif2", "dmey"])
def test_wavedec_adjoint_is_waverec_for_orthogonal_periodization(name):
    assert wl.Wavelet(name).orthogonal
    rng = _rng(6)
    for n, level in ((8, 3), (16, 2), (32, 1), (64, 3), (48, 4)):
        assert n % 2**level == 0
        x = rng.standard_normal((2, n, 3))
        coeffs = (
            wl.wavedec(x, name, "periodization", level=level, axis=1)
            if level <= wl.dwt_max_level(n, name)
            else None
        )
        if coeffs is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                coeffs = wl.wavedec(x, name, "periodization", level=level, axis=1)
        y = [rng.standard_normal(c.shape) for c in coeffs]
        adj = wl.wavedec_adjoint(y, name, "periodization", 1, length=n)
        rec = wl.waverec(y, name, "periodization", 1)
        assert rec.shape == adj.shape == x.shape
        assert np.abs(adj - rec).max() <= 1e-12 * _norm(y)


@pytest.mark.parametrize("name", ["db2", "sym4"])
def test_wavedec_adjoint_is_not_waverec_for_symmetric_mode(name):
    """Symmetric padding makes A non-orthogonal: A^T differs from the inverse by
    O(1) at the boundary, and only there."""
    rng = _rng(7)
    n, level = 128, 2
    F = wl.Wavelet(name).dec_len
    coeffs = wl.wavedec(np.zeros(n), name, "symmetric", level=level)
    y = [rng.standard_normal(c.shape) for c in coeffs]
    adj = wl.wavedec_adjoint(y, name, "symmetric", length=n)
    rec = wl.waverec(y, name, "symmetric", length=n)
    diff = np.abs(adj - rec)
    edge = F * 2**level
    assert max(diff[:edge].max(), diff[-edge:].max()) > 0.1  # O(1): a real difference
    assert diff[edge:-edge].max() <= 1e-12 * _norm(y)  # the interior agrees


# ---------------------------------------------------------------------------
# Input checks of the adjoints
# ---------------------------------------------------------------------------


def test_adjoints_refuse_lengths_that_do_not_fit():
    y = np.ones(5)
    with pytest.raises(ValueError, match="dcA"):
        wl.dwt_adjoint(y, y, "db2", "symmetric", length=20)  # needs 11 coefficients
    with pytest.raises(ValueError, match="dcA and dcD"):
        wl.dwt_adjoint(y, np.ones(6), "db2", length=8)
    with pytest.raises(ValueError, match="dy"):
        wl.idwt_adjoint(np.ones(7), "db2", "periodization")
    with pytest.raises(ValueError, match="dy"):
        wl.idwt_adjoint(np.ones(7), "db2", "symmetric")  # idwt gives 2n - 2: even
    # haar, length 10: the bands have 5, then 3 and 3 samples
    with pytest.raises(ValueError, match=r"dcoeffs\[1\]"):
        wl.wavedec_adjoint([np.ones(3), np.ones(2), np.ones(5)], "haar", length=10)
    with pytest.raises(ValueError, match=r"dcoeffs\[2\]"):
        wl.wavedec_adjoint([np.ones(3), np.ones(3), np.ones(4)], "haar", length=10)
    with pytest.raises(ValueError, match="dy"):
        wl.waverec_adjoint(np.ones(12), "haar", coeff_lengths=[3, 3, 5])
    with pytest.raises(ValueError, match="coeff_lengths"):
        wl.waverec_adjoint(np.ones(12), "haar", coeff_lengths=[3, 5, 5])
    with pytest.raises(ValueError, match="mode"):
        wl.dwt_adjoint(y, y, "db2", "symetric", length=8)


@pytest.mark.parametrize("n0", [2, 4])
def test_wavedec_adjoint_refuses_a_wrong_coarsest_band(n0):
    """haar, length 10: dcoeffs[0] must have 3 samples. Expected a ValueError
    naming dcoeffs[0], not an AssertionError from the filter bank (n0=4) or a
    NumPy broadcasting error (n0=2)."""
    with pytest.raises(ValueError, match=r"dcoeffs\[0\]"):
        wl.wavedec_adjoint([np.ones(n0), np.ones(3), np.ones(5)], "haar", length=10)


# ---------------------------------------------------------------------------
# Hypothesis
# ---------------------------------------------------------------------------


@st.composite
def _adjoint_case(draw):
    name = draw(st.sampled_from(ALL_NAMES))
    mode = draw(st.sampled_from(MODES))
    n = draw(st.integers(2, 80))
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    ndim = len(batch) + 1
    axis = draw(st.integers(-ndim, ndim - 1))
    shape = list(batch)
    shape.insert(axis % ndim, n)
    level = draw(st.integers(0, pywt.dwt_max_level(n, pywt.Wavelet(name).dec_len) + 1))
    return name, mode, tuple(shape), axis, level, draw(st.integers(0, 2**32 - 1))


@given(_adjoint_case())
def test_property_adjoints(case):
    name, mode, shape, axis, level, seed = case
    rng = _rng(seed)
    x = rng.standard_normal(shape)
    n = shape[axis]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        coeffs = _raises_like_pywt(lambda: wl.wavedec(x, name, mode, level, axis))
    if coeffs is None:  # [anti]reflect down to one sample: pywt refuses it as well
        with pytest.raises(ValueError), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pywt.wavedec(x, name, mode, level, axis)
        return
    y = [rng.standard_normal(c.shape) for c in coeffs]
    assert_adjoint(coeffs, y, [x], [wl.wavedec_adjoint(y, name, mode, axis, length=n)], "wavedec")
    lengths = [c.shape[axis] for c in coeffs]
    rec = wl.waverec(y, name, mode, axis, length=n)
    w = rng.standard_normal(rec.shape)
    assert_adjoint(
        [rec], [w], y, wl.waverec_adjoint(w, name, mode, axis, coeff_lengths=lengths), "waverec"
    )
