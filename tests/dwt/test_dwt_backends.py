"""The DWT functions on torch tensors (CPU) and, where there is a GPU, on
torch 'cuda' and CuPy arrays: same numbers as NumPy, same dtype, same library.

NumPy runs the wide test arrays ``(2, n, 17)`` through its blocked (BLAS) path,
torch through its own filter bank (``backends/torch.py``), CuPy through the tap
loop, so these tests compare those as well.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wavelearn as wl

torch = pytest.importorskip("torch")

MODES = tuple(wl.MODES)
DTYPES = [(np.float64, torch.float64, 1e-12), (np.float32, torch.float32, 1e-5)]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _np(a) -> np.ndarray:
    return wl.to_numpy(a)


def assert_same(got, ref, rtol: float, *, like, what: str = "") -> None:
    """``got`` (a backend array) equals the NumPy ``ref`` to ``rtol`` relative
    to ``max|ref|`` (at least 1), is of ``like``'s library and dtype."""
    assert type(got) is type(like), f"{what}: {type(got).__name__}, expected {type(like).__name__}"
    assert got.dtype == like.dtype, f"{what}: dtype {got.dtype}, expected {like.dtype}"
    if hasattr(like, "device"):
        assert str(got.device) == str(like.device), what
    g = _np(got)
    assert g.shape == ref.shape, f"{what}: shape {g.shape} != {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    err = float(np.abs(g.astype(np.complex128) - ref).max(initial=0.0))
    assert err <= rtol * scale, f"{what}: max abs difference {err:.3g} > {rtol * scale:.3g}"


def _check_all_functions(x_np: np.ndarray, to_backend, name: str, mode: str, rtol: float) -> None:
    """Every public transform and adjoint on the backend == on NumPy."""
    x = to_backend(x_np)
    n, axis = x_np.shape[1], 1
    like_c = x  # coefficients keep the input's library and dtype

    a, d = wl.dwt(x, name, mode, axis=axis)
    ra, rd = wl.dwt(x_np, name, mode, axis=axis)
    assert_same(a, ra, rtol, like=like_c, what="dwt cA")
    assert_same(d, rd, rtol, like=like_c, what="dwt cD")
    assert_same(
        wl.idwt(a, d, name, mode, axis),
        wl.idwt(ra, rd, name, mode, axis),
        rtol,
        like=like_c,
        what="idwt",
    )
    assert_same(
        wl.idwt(a, None, name, mode, axis),
        wl.idwt(ra, None, name, mode, axis),
        rtol,
        like=like_c,
        what="idwt(cA, None)",
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        level = max(1, wl.dwt_max_level(n, name))
        coeffs = wl.wavedec(x, name, mode, level=level, axis=axis)
        ref = wl.wavedec(x_np, name, mode, level=level, axis=axis)
    assert len(coeffs) == len(ref)
    for j, (c, r) in enumerate(zip(coeffs, ref, strict=True)):
        assert_same(c, r, rtol, like=like_c, what=f"wavedec[{j}]")
    for length in (None, n):
        assert_same(
            wl.waverec(coeffs, name, mode, axis, length=length),
            wl.waverec(ref, name, mode, axis, length=length),
            rtol,
            like=like_c,
            what=f"waverec length={length}",
        )

    # adjoints, fed with the coefficients themselves as "gradients"
    assert_same(
        wl.dwt_adjoint(a, d, name, mode, axis, length=n),
        wl.dwt_adjoint(ra, rd, name, mode, axis, length=n),
        rtol,
        like=like_c,
        what="dwt_adjoint",
    )
    y = wl.idwt(a, d, name, mode, axis)
    got = wl.idwt_adjoint(y, name, mode, axis)
    want = wl.idwt_adjoint(_np(y), name, mode, axis)
    for g, w in zip(got, want, strict=True):
        assert_same(g, w, rtol, like=like_c, what="idwt_adjoint")
    assert_same(
        wl.wavedec_adjoint(coeffs, name, mode, axis, length=n),
        wl.wavedec_adjoint(ref, name, mode, axis, length=n),
        rtol,
        like=like_c,
        what="wavedec_adjoint",
    )
    lengths = [c.shape[axis] for c in ref]
    got = wl.waverec_adjoint(x, name, mode, axis, coeff_lengths=lengths)
    want = wl.waverec_adjoint(x_np, name, mode, axis, coeff_lengths=lengths)
    for j, (g, w) in enumerate(zip(got, want, strict=True)):
        assert_same(g, w, rtol, like=like_c, what=f"waverec_adjoint[{j}]")


# ---------------------------------------------------------------------------
# torch on the CPU
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("np_dtype, torch_dtype, rtol", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["db2", "bior3.5"])
def test_torch_cpu_equals_numpy(name, mode, np_dtype, torch_dtype, rtol):
    rng = _rng(1)
    for n in (16, 29):
        x_np = rng.standard_normal((2, n, 17)).astype(np_dtype)
        _check_all_functions(x_np, lambda a: torch.from_numpy(a.copy()), name, mode, rtol)


def test_torch_other_axes_and_shapes():
    rng = _rng(2)
    x_np = rng.standard_normal((12, 16, 21))
    x = torch.from_numpy(x_np.copy())
    for axis in (0, 1, 2, -1, -3):
        got = wl.wavedec(x, "sym3", "periodic", level=1, axis=axis)
        ref = wl.wavedec(x_np, "sym3", "periodic", level=1, axis=axis)
        for g, r in zip(got, ref, strict=True):
            assert_same(g, r, 1e-12, like=x, what=f"axis={axis}")
    one_d = torch.from_numpy(x_np[0, 0].copy())
    assert_same(wl.dwt(one_d, "db2")[0], wl.dwt(x_np[0, 0], "db2")[0], 1e-12, like=one_d)


def test_torch_dtype_rules():
    """Like NumPy: integers -> float64, float16 -> float32, complex stays."""
    ints = torch.arange(20)
    assert wl.dwt(ints, "db2")[0].dtype == torch.float64
    half = torch.ones(20, dtype=torch.float16)
    assert wl.dwt(half, "db2")[0].dtype == torch.float32
    rng = _rng(3)
    z_np = rng.standard_normal((2, 24)) + 1j * rng.standard_normal((2, 24))
    z = torch.from_numpy(z_np.copy())
    for mode in ("symmetric", "periodization"):
        cA, cD = wl.dwt(z, "db3", mode)
        rA, rD = wl.dwt(z_np, "db3", mode)
        assert_same(cA, rA, 1e-12, like=z, what=mode)
        assert_same(cD, rD, 1e-12, like=z, what=mode)


def test_torch_round_trip():
    x = torch.randn(2, 33, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for mode in MODES:
        rec = wl.waverec(wl.wavedec(x, "db4", mode, axis=1), "db4", mode, axis=1, length=33)
        assert torch.is_tensor(rec) and rec.dtype == torch.float64
        assert float((rec - x).abs().max()) <= 1e-12 * float(x.abs().max())


def test_torch_errors_are_the_numpy_ones():
    x = torch.ones(8)
    with pytest.raises(ValueError, match="axis"):
        wl.dwt(x, "db1", axis=1)
    with pytest.raises(ValueError, match="empty"):
        wl.dwt(torch.ones(0), "db1")
    with pytest.raises(ValueError, match="mode"):
        wl.dwt(x, "db1", mode="symetric")


# ---------------------------------------------------------------------------
# Mixing libraries in one call
# ---------------------------------------------------------------------------


@pytest.fixture
def mixed():
    rng = _rng(4)
    x_np = rng.standard_normal((2, 24))
    coeffs_np = wl.wavedec(x_np, "db2", level=2)
    coeffs_t = [torch.from_numpy(c.copy()) for c in coeffs_np]
    return coeffs_np, coeffs_t


@pytest.mark.parametrize("torch_first", [True, False], ids=["torch-numpy", "numpy-torch"])
def test_idwt_mixing_numpy_and_torch_raises_type_error(mixed, torch_first):
    (a_np, d_np, *_), (a_t, d_t, *_) = mixed
    d_np, d_t = a_np.copy(), a_t.clone()  # same shape as cA
    cA, cD = (a_t, d_np) if torch_first else (a_np, d_t)
    with pytest.raises(TypeError, match="backends"):
        wl.idwt(cA, cD, "db2")


@pytest.mark.parametrize("where", [0, 1, 2])
def test_waverec_mixing_numpy_and_torch_raises_type_error(mixed, where):
    coeffs_np, coeffs_t = mixed
    for base, other in ((coeffs_t, coeffs_np), (coeffs_np, coeffs_t)):
        coeffs = list(base)
        coeffs[where] = other[where]
        with pytest.raises(TypeError, match="backends"):
            wl.waverec(coeffs, "db2")


def test_adjoints_mixing_numpy_and_torch_raise_type_error(mixed):
    coeffs_np, coeffs_t = mixed
    with pytest.raises(TypeError, match="backends"):
        wl.wavedec_adjoint([coeffs_np[0], coeffs_t[1], coeffs_np[2]], "db2", length=24)
    a_np, a_t = coeffs_np[1], coeffs_t[1]
    with pytest.raises(TypeError, match="backends"):
        wl.dwt_adjoint(a_np, a_t.clone(), "db2", length=(a_np.shape[-1] - 1) * 2)


# ---------------------------------------------------------------------------
# GPU: torch 'cuda' and CuPy (skipped without a GPU)
# ---------------------------------------------------------------------------


def _torch_cuda():
    if not torch.cuda.is_available():
        pytest.skip("torch.cuda is not available")
    return lambda a: torch.from_numpy(np.ascontiguousarray(a)).to("cuda")


def _cupy():
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy sees no GPU")
    except Exception as exc:  # no driver
        pytest.skip(f"CuPy sees no GPU: {exc}")
    return cp.asarray


@pytest.mark.gpu
@pytest.mark.parametrize("np_dtype, torch_dtype, rtol", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("mode", ["symmetric", "periodization", "antireflect", "smooth"])
def test_torch_cuda_equals_numpy(mode, np_dtype, torch_dtype, rtol):
    to_cuda = _torch_cuda()
    x_np = _rng(5).standard_normal((2, 29, 17)).astype(np_dtype)
    _check_all_functions(x_np, to_cuda, "db3", mode, rtol)


@pytest.mark.gpu
@pytest.mark.parametrize(
    "np_dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)], ids=["float64", "float32"]
)
@pytest.mark.parametrize("mode", ["symmetric", "periodization", "antireflect", "smooth"])
def test_cupy_equals_numpy(mode, np_dtype, rtol):
    to_cupy = _cupy()
    x_np = _rng(6).standard_normal((2, 29, 17)).astype(np_dtype)
    _check_all_functions(x_np, to_cupy, "db3", mode, rtol)


@pytest.mark.gpu
def test_cuda_and_cpu_arrays_do_not_mix():
    to_cuda = _torch_cuda()
    a = np.ones((2, 10))
    with pytest.raises(TypeError, match="backends"):
        wl.idwt(to_cuda(a), torch.from_numpy(a.copy()), "db2")
