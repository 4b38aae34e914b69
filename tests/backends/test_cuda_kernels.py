"""Tests of the CUDA kernels (backends/cuda/*.cu) and their wrappers
(backends/cupy_kernels.py), in three layers:

1. **They compile**: every ``.cu`` file goes through ``nvcc --ptx -arch=sm_90``
   and the PTX holds an entry for every name expression the wrappers launch
   (skipped when nvcc is missing).
2. **Their logic is right, on the CPU**: the kernel source (the very string
   CuPy hands to NVRTC) is compiled with g++ against
   ``tests/backends/cuda_harness/cuda_emu.h`` -- threads, blocks, barriers and shared
   memory emulated -- and launched through the real wrappers with a CPU
   launcher, on NumPy arrays; results are compared with wavelearn's NumPy
   reference (itself tested against PyWavelets) and PyWavelets. The launcher
   also checks argument types, bounds and that outputs are fully written
   (see tests/backends/cuda_harness/emu.py). Skipped when g++ is missing.
3. **GPU parity** (``@pytest.mark.gpu``): the same wrappers on CuPy arrays,
   against PyWavelets and NumPy; they run only where CuPy sees a GPU.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import array_api_compat.numpy as xnp
import numpy as np
import pytest
import pywt
from wavelearn.backends import cupy_kernels as ck

from wavelearn.nn import mixing as mx
from wavelearn.nn.mixing import WaveletMixing

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cuda_harness import emu  # noqa: E402

CUDA_DIR = ck.CUDA_DIR
WAVELETS = ("haar", "db4", "sym5", "bior2.2")
DTYPES = (np.float32, np.float64)


def tol(dtype: type) -> dict:
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def rand(rng: np.random.Generator, shape: tuple, dtype: type) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------
# 1. nvcc: every .cu file compiles to PTX for sm_90
# ---------------------------------------------------------------------------


def _mangled_prefix(name_expression: str) -> str:
    """``'mix_pointwise<float, 16>'`` -> ``'_Z13mix_pointwiseIfLi16EE'`` (Itanium ABI)."""
    base, args = re.fullmatch(r"(\w+)<(.*)>", name_expression).groups()
    codes = {"float": "f", "double": "d"}
    parts = [codes[a] if a in codes else f"Li{a}E" for a in (s.strip() for s in args.split(","))]
    return f"_Z{len(base)}{base}I{''.join(parts)}E"


@pytest.fixture(scope="session")
def ptx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PTX text of every .cu file, compiled in parallel (or skip without nvcc)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found")
    out = tmp_path_factory.mktemp("ptx")
    procs = {}
    for name in ck.CU_FILES:
        cmd = [nvcc, "--ptx", "-arch=sm_90", str(CUDA_DIR / name), "-o", str(out / f"{name}.ptx")]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
    result = {}
    for name, proc in procs.items():
        log = proc.communicate(timeout=300)[0]
        ok = proc.returncode == 0
        result[name] = (out / f"{name}.ptx").read_text() if ok else "FAILED\n" + log
    return result


@pytest.mark.parametrize("cu", ck.CU_FILES)
def test_cu_file_compiles_to_ptx(ptx: dict[str, str], cu: str) -> None:
    assert not ptx[cu].startswith("FAILED"), ptx[cu]
    assert ".entry" in ptx[cu]


def test_every_name_expression_is_explicitly_instantiated(ptx: dict[str, str]) -> None:
    entries = set(re.findall(r"\.entry\s+(\w+)", "\n".join(ptx.values())))
    for name in ck.NAME_EXPRESSIONS:
        prefix = _mangled_prefix(name)
        assert any(e.startswith(prefix) for e in entries), f"{name} ({prefix}) not in the PTX"


def test_cuda_dir_holds_the_sources() -> None:
    found = sorted(p.name for p in CUDA_DIR.glob("*.cu"))
    assert found == sorted(ck.CU_FILES)
    assert '#include "common.cuh"' not in ck.kernel_source()


# ---------------------------------------------------------------------------
# 2. The CPU emulation: build once per session
# ---------------------------------------------------------------------------

SELFTEST_NAMES = (
    "emu_selftest_barrier<float>",
    "emu_selftest_uninitialized<float>",
    "emu_selftest_smem_overflow<float>",
    "emu_selftest_global_overflow<float>",
)


@pytest.fixture(scope="session")
def emu_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if emu.find_cxx() is None:
        pytest.skip("g++ not found: the CUDA emulation needs a C++20 compiler")
    out = tmp_path_factory.mktemp("cuda_emu")
    return emu.build(out, ck.kernel_source(), (*ck.NAME_EXPRESSIONS, *SELFTEST_NAMES),
                     extra_includes=[str(emu.HERE / "selftest.cuh")])


@pytest.fixture
def launcher(emu_lib: Path) -> emu.EmuLauncher:
    # max_grid_y=1: the grid-stride loops and the fused kernels' loop over
    # batch rows run more than once.
    return emu.EmuLauncher(emu_lib, max_grid_y=1)


# --- the emulator itself ---------------------------------------------------


def test_emulator_barrier_and_static_shared(launcher: emu.EmuLauncher) -> None:
    x = np.arange(2 * 64, dtype=np.float32)
    out = launcher.empty(x.shape, np.float32)
    launcher.launch("emu_selftest_barrier<float>", (2, 1, 1), (64, 1, 1), 0, (x, out))
    np.testing.assert_array_equal(out.reshape(2, 64), np.roll(x.reshape(2, 64), -1, axis=1))


def test_emulator_poisons_unwritten_shared_memory(launcher: emu.EmuLauncher) -> None:
    out = np.zeros(32, np.float32)
    launcher.launch("emu_selftest_uninitialized<float>", (1, 1, 1), (32, 1, 1), 128, (out,))
    assert np.isnan(out).all()


def test_emulator_reports_faults(launcher: emu.EmuLauncher) -> None:
    out = np.zeros(8, np.float32)
    with pytest.raises(emu.EmuError, match="shared memory written outside"):
        launcher.launch("emu_selftest_smem_overflow<float>", (1, 1, 1), (8, 1, 1), 64,
                        (out, np.int32(16)))
    with pytest.raises(emu.EmuError, match="out of its bounds"):
        launcher.launch("emu_selftest_global_overflow<float>", (1, 1, 1), (8, 1, 1), 0,
                        (out, np.int32(8)))
    with pytest.raises(TypeError, match="np.int32"):  # a Python int for an `int` parameter
        launcher.launch("emu_selftest_global_overflow<float>", (1, 1, 1), (8, 1, 1), 0, (out, 7))
    with pytest.raises(TypeError, match="float64 array"):  # a double array for `float*`
        launcher.launch("emu_selftest_uninitialized<float>", (1, 1, 1), (8, 1, 1), 64,
                        (np.zeros(8),))


# --- DWT / IDWT --------------------------------------------------------------


@pytest.mark.parametrize("mode", [m for m in pywt.Modes.modes if m != "antireflect"])
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_dwt_idwt_match_pywt(launcher: emu.EmuLauncher, wavelet: str, mode: str) -> None:
    rng = np.random.default_rng(1)
    for dtype in DTYPES:
        for n in (3, 13, 24):  # 3 < filter length: the padding wraps around more than once
            x = rand(rng, (2, n, 5), dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no fallback
                ca, cd = ck.dwt(x, wavelet, mode, launcher=launcher)
            ra, rd = pywt.dwt(x, wavelet, mode, axis=1)
            assert ca.dtype == dtype and ca.shape == ra.shape
            np.testing.assert_allclose(ca, ra, **tol(dtype))
            np.testing.assert_allclose(cd, rd, **tol(dtype))
            y = ck.idwt(ra.astype(dtype), rd.astype(dtype), wavelet, mode, launcher=launcher)
            np.testing.assert_allclose(y, pywt.idwt(ra, rd, wavelet, mode, axis=1), **tol(dtype))
    assert {name for name, *_ in launcher.launches} == {
        f"{k}<{t}>" for k in ("dwt_level", "idwt_level") for t in ("float", "double")}


def test_dwt_many_channel_tiles_and_long_filters(launcher: emu.EmuLauncher) -> None:
    rng = np.random.default_rng(2)
    x = rand(rng, (3, 21, 70), np.float64)  # 3 blocks along the channels, the last one partial
    for wavelet, mode in (("db10", "symmetric"), ("coif3", "periodization"), ("dmey", "zero")):
        ca, cd = ck.dwt(x, wavelet, mode, launcher=launcher)
        ra, rd = pywt.dwt(x, wavelet, mode, axis=1)
        np.testing.assert_allclose(ca, ra, **tol(np.float64))
        np.testing.assert_allclose(cd, rd, **tol(np.float64))
        np.testing.assert_allclose(ck.idwt(ra, rd, wavelet, mode, launcher=launcher),
                                   pywt.idwt(ra, rd, wavelet, mode, axis=1), **tol(np.float64))


@pytest.mark.parametrize("mode", ["periodization", "symmetric", "zero"])
def test_wavedec_waverec_match_wavelearn(launcher: emu.EmuLauncher, mode: str) -> None:
    import wavelearn as wl

    x = rand(np.random.default_rng(3), (2, 85, 6), np.float32)
    coeffs = ck.wavedec(x, "sym5", mode, level=3, launcher=launcher)
    ref = wl.wavedec(x, "sym5", mode, level=3, axis=1)
    assert [c.shape for c in coeffs] == [c.shape for c in ref]
    for c, r in zip(coeffs, ref, strict=True):
        np.testing.assert_allclose(c, r, **tol(np.float32))
    y = ck.waverec(coeffs, "sym5", mode, length=85, launcher=launcher)
    np.testing.assert_allclose(y, wl.waverec(ref, "sym5", mode, axis=1, length=85),
                               **tol(np.float32))
    np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-4)  # perfect reconstruction


def test_dwt_fallbacks(launcher: emu.EmuLauncher) -> None:
    rng = np.random.default_rng(4)
    x = rand(rng, (2, 11, 3), np.float64)
    with pytest.warns(ck.KernelFallbackWarning, match="antireflect"):
        ca, cd = ck.dwt(x, "db2", "antireflect", launcher=launcher)
    np.testing.assert_allclose(ca, pywt.dwt(x, "db2", "antireflect", axis=1)[0], rtol=1e-12)
    with pytest.warns(ck.KernelFallbackWarning, match="int64"):
        ca, _ = ck.dwt(np.arange(22).reshape(1, 22, 1), "haar", launcher=launcher)
    assert ca.dtype == np.float64  # PyWavelets' dtype rule, from the generic path
    assert launcher.launches == []
    # the synthesis only knows periodization-or-not: every mode has a kernel
    a, d = pywt.dwt(x, "db2", "antireflect", axis=1)
    np.testing.assert_allclose(ck.idwt(a, d, "db2", "antireflect", launcher=launcher),
                               pywt.idwt(a, d, "db2", "antireflect", axis=1), rtol=1e-12)


def test_wrappers_check_arguments(launcher: emu.EmuLauncher) -> None:
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        ck.dwt(np.zeros((4, 8)), "haar", launcher=launcher)
    with pytest.raises(ValueError, match="same shape"):
        ck.idwt(np.zeros((1, 4, 2)), np.zeros((1, 5, 2)), "haar", launcher=launcher)
    with pytest.raises(ValueError, match="weight must be"):
        ck.mixing_forward(np.zeros((1, 8, 2)), np.ones((3, 2)), "haar", 3, launcher=launcher)
    # not contiguous: copied, same result
    x = rand(np.random.default_rng(5), (2, 3, 16), np.float32).transpose(0, 2, 1)
    ca, _ = ck.dwt(x, "db2", "symmetric", launcher=launcher)
    np.testing.assert_allclose(ca, pywt.dwt(x, "db2", "symmetric", axis=1)[0], **tol(np.float32))


# --- fused wavelet mixing ----------------------------------------------------

# (N, levels): even and odd lengths, one level and deep levels on short
# sequences (6 with 4 levels: lengths 6, 3, 2, 1, 1 -- the layout's limit).
MIX_CASES = ((16, 3), (13, 3), (37, 2), (5, 1), (64, 4), (6, 4))


def _layer(wavelet: str, levels: int, dim: int, dtype: type, weight: np.ndarray,
           mode: str = "periodization") -> WaveletMixing:
    layer = WaveletMixing(dim, wavelet, levels, "pointwise", mode, dtype=np.dtype(dtype).name)
    layer.weight.data = weight.astype(dtype)
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_fused_mixing_matches_layer(launcher: emu.EmuLauncher, wavelet: str,
                                    dtype: type) -> None:
    rng = np.random.default_rng(6)
    for n, levels in MIX_CASES:
        D = 5
        x, dy = rand(rng, (2, n, D), dtype), rand(rng, (2, n, D), dtype)
        weight = rand(rng, (levels + 1, D), dtype)
        layer = _layer(wavelet, levels, D, dtype, weight)
        y_ref = layer.forward(x)
        dx_ref = layer.backward(dy)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback
            y = ck.mixing_forward(x, weight, wavelet, levels, launcher=launcher)
            dx, dw = ck.mixing_backward(x, dy, weight, wavelet, levels, launcher=launcher)
            dx_only, none = ck.mixing_backward(x, dy, weight, wavelet, levels,
                                               need_weight_grad=False, launcher=launcher)
        assert none is None and y.dtype == dx.dtype == dw.dtype == dtype
        np.testing.assert_allclose(y, y_ref, **tol(dtype))
        np.testing.assert_allclose(dx, dx_ref, **tol(dtype))
        np.testing.assert_allclose(dx_only, dx_ref, **tol(dtype))
        np.testing.assert_allclose(dw, layer.weight.grad, rtol=1e-4 if dtype == np.float32
                                   else 1e-11, atol=1e-4 if dtype == np.float32 else 1e-11)
    kinds = {name.split("<")[0] for name, *_ in launcher.launches}
    assert kinds == {"mix_pointwise", "mix_pointwise_bwd"}


@pytest.mark.parametrize("tile", ck.FUSED_TILES)
def test_fused_mixing_every_tile(launcher: emu.EmuLauncher, tile: int) -> None:
    """Every instantiated channel tile, with channels spilling into a partial tile."""
    rng = np.random.default_rng(7)
    B, N, D, levels = 2, 24, tile + 3, 3
    x, dy = rand(rng, (B, N, D), np.float32), rand(rng, (B, N, D), np.float32)
    weight = rand(rng, (levels + 1, D), np.float32)
    layer = _layer("db4", levels, D, np.float32, weight)
    y = ck.mixing_forward(x, weight, "db4", levels, launcher=launcher, tile=tile)
    dx, dw = ck.mixing_backward(x, dy, weight, "db4", levels, launcher=launcher, tile=tile)
    np.testing.assert_allclose(y, layer.forward(x), **tol(np.float32))
    np.testing.assert_allclose(dx, layer.backward(dy), **tol(np.float32))
    np.testing.assert_allclose(dw, layer.weight.grad, rtol=1e-4, atol=1e-4)
    assert [(name, g[0], b[:2]) for name, g, b, _ in launcher.launches] == [
        (f"mix_pointwise<float, {tile}>", 2, (tile, 256 // tile)),
        (f"mix_pointwise_bwd<float, {tile}>", 2, (tile, 256 // tile))]


@pytest.fixture(scope="session")
def emu_lib_r8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kernels built with 8 outputs per thread and group (WL_MIX_R=8), a
    tuning knob the benchmark compares."""
    if emu.find_cxx() is None:
        pytest.skip("g++ not found: the CUDA emulation needs a C++20 compiler")
    names = [n for n in ck.NAME_EXPRESSIONS if n.startswith("mix_")]
    return emu.build(tmp_path_factory.mktemp("cuda_emu_r8"), ck.kernel_source(), names,
                     defines={"WL_MIX_R": 8})


@pytest.mark.parametrize(("r8", "tile", "threads"), [
    (False, 32, 64), (False, 8, 1024), (True, None, None), (True, 16, 512)])
def test_fused_mixing_group_size_and_threads(emu_lib: Path, emu_lib_r8: Path, r8: bool,
                                             tile: int | None, threads: int | None) -> None:
    """Other outputs per group (WL_MIX_R) and threads per block: few threads
    (each doing many groups) and many (most of them idle at the deep levels)."""
    launcher = emu.EmuLauncher(emu_lib_r8 if r8 else emu_lib, max_grid_y=1)
    rng = np.random.default_rng(12)
    for wavelet, n, levels in (("db4", 40, 3), ("sym5", 23, 4), ("haar", 9, 2)):
        D = 11
        x, dy = rand(rng, (2, n, D), np.float64), rand(rng, (2, n, D), np.float64)
        weight = rand(rng, (levels + 1, D), np.float64)
        layer = _layer(wavelet, levels, D, np.float64, weight)
        kw = {"launcher": launcher, "tile": tile, "threads": threads}
        y = ck.mixing_forward(x, weight, wavelet, levels, **kw)
        dx, dw = ck.mixing_backward(x, dy, weight, wavelet, levels, **kw)
        dx1, _ = ck.mixing_backward(x, dy, weight, wavelet, levels, need_weight_grad=False, **kw)
        np.testing.assert_allclose(y, layer.forward(x), **tol(np.float64))
        dx_ref = layer.backward(dy)
        np.testing.assert_allclose(dx, dx_ref, **tol(np.float64))
        np.testing.assert_allclose(dx1, dx_ref, **tol(np.float64))
        np.testing.assert_allclose(dw, layer.weight.grad, rtol=1e-11, atol=1e-11)
    if threads is not None:
        assert {b[0] * b[1] for _, _, b, _ in launcher.launches} == {threads}


def test_fused_adjoint_is_the_forward_kernel_for_orthogonal_wavelets(
        launcher: emu.EmuLauncher) -> None:
    """For an orthogonal wavelet in periodization mode with N divisible by
    2**levels, A^T = S and S^T = A: the input gradient is the forward kernel
    applied to dy (the documented reuse with transposed roles)."""
    rng = np.random.default_rng(8)
    x, dy = rand(rng, (2, 32, 7), np.float64), rand(rng, (2, 32, 7), np.float64)
    weight = rand(rng, (4, 7), np.float64)
    dx, _ = ck.mixing_backward(x, dy, weight, "sym5", 3, need_weight_grad=False,
                               launcher=launcher)
    np.testing.assert_allclose(dx, ck.mixing_forward(dy, weight, "sym5", 3, launcher=launcher),
                               rtol=1e-12, atol=1e-12)


def test_fused_mixing_fallbacks(launcher: emu.EmuLauncher) -> None:
    rng = np.random.default_rng(9)
    small = emu.EmuLauncher(launcher.lib_path, max_shared_memory=2048)
    cases = [  # (mode, launcher, N, levels, the reason the warning gives)
        ("symmetric", launcher, 20, 2, "periodization. only"),  # another boundary mode
        ("periodization", launcher, 3, 5, "too many"),  # N <= 2**(levels - 2)
        ("periodization", small, 20, 2, "shared memory"),  # N too long for the tile
    ]
    for mode, lau, n, levels, why in cases:
        x, dy = rand(rng, (2, n, 3), np.float64), rand(rng, (2, n, 3), np.float64)
        weight = rand(rng, (levels + 1, 3), np.float64)
        layer = _layer("db2", levels, 3, np.float64, weight, mode)
        with pytest.warns(ck.KernelFallbackWarning, match=why):
            y = ck.mixing_forward(x, weight, "db2", levels, mode, launcher=lau)
        np.testing.assert_allclose(y, layer.forward(x), rtol=1e-12, atol=1e-12)
        with pytest.warns(ck.KernelFallbackWarning, match=why):
            dx, dw = ck.mixing_backward(x, dy, weight, "db2", levels, mode, launcher=lau)
        np.testing.assert_allclose(dx, layer.backward(dy), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dw, layer.weight.grad, rtol=1e-12, atol=1e-12)
    assert launcher.launches == [] and small.launches == []


def test_fused_plan() -> None:
    # (32, 512, 768) float32, db4, 3 levels on an H200 (227 KiB per block,
    # 228 KiB per SM): the forward's rows 512 + 512 at 32 channels need 131 KiB
    # (one block per SM), so the plan takes 16 channels (66 KiB, three blocks).
    fwd = ck.fused_plan(512, 3, 8, 4, 227 * 1024, backward=False)
    assert (fwd.tile, fwd.block, fwd.shared_mem) == (16, (16, 16, 1), 4 * (32 + 1024 * 16))
    assert fwd.grid(32, 768) == (48, 32, 1)
    # backward: 16 channels need 113 KiB, two of those blocks (+1 KiB each) miss 228 KiB
    bwd = ck.fused_plan(512, 3, 8, 4, 227 * 1024, backward=True)
    assert bwd.tile == 8 and 2 * (bwd.shared_mem + 1024) <= 228 * 1024
    assert ck.fused_plan(512, 3, 8, 4, 227 * 1024, backward=False, tile=32).tile == 32
    assert ck.fused_plan(100_000, 3, 8, 4, 227 * 1024, backward=False) is None
    with pytest.raises(ValueError):
        ck.fused_plan(512, 3, 8, 4, 227 * 1024, backward=False, tile=12)


# --- the causal filter bank ----------------------------------------------------


@pytest.mark.parametrize("wavelet", ("haar", "db4", "bior2.2"))
def test_causal_filter_bank_matches_numpy(launcher: emu.EmuLauncher, wavelet: str) -> None:
    rng = np.random.default_rng(10)
    h = mx.causal_lowpass(wavelet)
    for dtype in DTYPES:
        for n, levels in ((1, 2), (9, 1), (30, 3)):
            x = rand(rng, (2, n, 5), dtype)
            bands = ck.causal_analysis(x, h, levels, launcher=launcher)
            ref = mx.causal_analysis(xnp, x, h, levels)
            assert len(bands) == levels + 1
            for b, r in zip(bands, ref, strict=True):
                assert b.dtype == dtype
                np.testing.assert_allclose(b, r, **tol(dtype))
            g = [rand(rng, x.shape, dtype) for _ in range(levels + 1)]
            dx = ck.causal_analysis_adjoint(g, h, launcher=launcher)
            np.testing.assert_allclose(dx, mx.causal_analysis_adjoint(xnp, g, h), **tol(dtype))
            stacked = ck.causal_analysis_adjoint(np.stack(g), h, launcher=launcher)
            np.testing.assert_array_equal(stacked, dx)


def test_causal_bands_are_causal(launcher: emu.EmuLauncher) -> None:
    x = rand(np.random.default_rng(11), (1, 40, 3), np.float64)
    h = mx.causal_lowpass("db4")
    before = ck.causal_analysis(x, h, 3, launcher=launcher)
    x2 = x.copy()
    x2[:, 25:] += 1.0  # change the future only
    after = ck.causal_analysis(x2, h, 3, launcher=launcher)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(b[:, :25], a[:, :25])


# ---------------------------------------------------------------------------
# 3. GPU parity (CuPy on a real device)
# ---------------------------------------------------------------------------


@pytest.fixture
def cp():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as e:  # noqa: BLE001 - no driver
        pytest.skip(f"no usable CUDA device ({e})")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_dwt_idwt_match_pywt(cp, dtype: type) -> None:
    rng = np.random.default_rng(20)
    x = rand(rng, (3, 301, 40), dtype)
    xd = cp.asarray(x)
    for wavelet in ("haar", "db4", "sym5", "bior2.2", "coif3"):
        for mode in ("periodization", "symmetric", "zero", "reflect", "smooth"):
            ca, cd = ck.dwt(xd, wavelet, mode)
            ra, rd = pywt.dwt(x, wavelet, mode, axis=1)
            np.testing.assert_allclose(ca.get(), ra, **tol(dtype))
            np.testing.assert_allclose(cd.get(), rd, **tol(dtype))
            y = ck.idwt(cp.asarray(ra.astype(dtype)), cp.asarray(rd.astype(dtype)), wavelet,
                        mode)
            np.testing.assert_allclose(y.get(), pywt.idwt(ra, rd, wavelet, mode, axis=1),
                                       **tol(dtype))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 512, 96), (3, 333, 50), (2, 1000, 17)])
def test_gpu_fused_mixing_matches_numpy(cp, shape: tuple, dtype: type) -> None:
    rng = np.random.default_rng(21)
    B, N, D = shape
    levels = 3
    x, dy = rand(rng, shape, dtype), rand(rng, shape, dtype)
    weight = rand(rng, (levels + 1, D), dtype)
    layer = _layer("db4", levels, D, dtype, weight)
    y_ref, dx_ref = layer.forward(x), layer.backward(dy)
    tiles = (None, *ck.FUSED_TILES)
    for tile in tiles:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                y = ck.mixing_forward(cp.asarray(x), cp.asarray(weight), "db4", levels, tile=tile)
                dx, dw = ck.mixing_backward(cp.asarray(x), cp.asarray(dy), cp.asarray(weight),
                                            "db4", levels, tile=tile)
        except ck.KernelFallbackWarning:
            assert tile is not None  # a forced tile may not fit; the default always does here
            continue
        np.testing.assert_allclose(y.get(), y_ref, **tol(dtype))
        np.testing.assert_allclose(dx.get(), dx_ref, **tol(dtype))
        np.testing.assert_allclose(dw.get(), layer.weight.grad,
                                   rtol=1e-3 if dtype == np.float32 else 1e-10,
                                   atol=1e-3 if dtype == np.float32 else 1e-10)


@pytest.mark.gpu
def test_gpu_fused_mixing_biorthogonal_and_fallback(cp) -> None:
    rng = np.random.default_rng(22)
    x, dy = rand(rng, (2, 77, 33), np.float64), rand(rng, (2, 77, 33), np.float64)
    weight = rand(rng, (3, 33), np.float64)
    layer = _layer("bior2.2", 2, 33, np.float64, weight)
    y = ck.mixing_forward(cp.asarray(x), cp.asarray(weight), "bior2.2", 2)
    dx, dw = ck.mixing_backward(cp.asarray(x), cp.asarray(dy), cp.asarray(weight), "bior2.2", 2)
    np.testing.assert_allclose(y.get(), layer.forward(x), **tol(np.float64))
    np.testing.assert_allclose(dx.get(), layer.backward(dy), **tol(np.float64))
    np.testing.assert_allclose(dw.get(), layer.weight.grad, rtol=1e-10, atol=1e-10)
    big = cp.asarray(rand(rng, (1, 20000, 4), np.float64))  # far beyond shared memory
    with pytest.warns(ck.KernelFallbackWarning, match="shared memory"):
        yb = ck.mixing_forward(big, cp.ones((4, 4)), "db4", 3)
    np.testing.assert_allclose(yb.get(), big.get(), rtol=1e-10, atol=1e-10)  # identity weights


@pytest.mark.gpu
def test_gpu_causal_filter_bank_matches_numpy(cp) -> None:
    rng = np.random.default_rng(23)
    h = mx.causal_lowpass("db4")
    x = rand(rng, (3, 200, 40), np.float32)
    bands = ck.causal_analysis(cp.asarray(x), h, 3)
    for b, r in zip(bands, mx.causal_analysis(xnp, x, h, 3), strict=True):
        np.testing.assert_allclose(b.get(), r, **tol(np.float32))
    g = [rand(rng, x.shape, np.float32) for _ in range(4)]
    dx = ck.causal_analysis_adjoint([cp.asarray(a) for a in g], h)
    np.testing.assert_allclose(dx.get(), mx.causal_analysis_adjoint(xnp, g, h),
                               **tol(np.float32))
