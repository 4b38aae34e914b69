r"""CUDA kernels for the CuPy backend, and the Python wrappers that launch them.

The CUDA sources live in ``cuda/`` next to this file and are written to be
read; each kernel has a NumPy reference among wavelearn's own functions:

=============================  ========================================================
wrapper                        NumPy reference
=============================  ========================================================
:func:`dwt`, :func:`idwt`      ``levels.analysis_level`` / ``synthesis_level`` (= pywt)
:func:`wavedec`,               ``wavelearn.wavedec`` / ``waverec`` along axis 1
:func:`waverec`
:func:`mixing_forward`,        ``WaveletMixing(mixing_mode='pointwise').forward`` /
:func:`mixing_backward`        ``.backward`` (one fused launch each)
:func:`causal_analysis`,       ``wavelearn.dwt.causal.causal_analysis`` /
:func:`causal_analysis_adjoint`  ``causal_analysis_adjoint``
=============================  ========================================================

All of them work on ``(B, N, D)`` arrays (batch, sequence, channels; channels
contiguous) and transform along the sequence axis ``N``.

**What the kernels cover, and the fallback.** float32 and float64; every
PyWavelets discrete wavelet (the filter taps are a device array, the filter
length a runtime int). :func:`dwt`/:func:`idwt` take every boundary mode but
``'antireflect'``; the fused mixing kernels take ``'periodization'`` (the
layer's default) with ``N > 2**(levels - 2)`` and a sequence tile that fits
in shared memory (about ``N <= 1600`` float32 samples forward on an H100/H200).
Anything else -- another dtype, ``'antireflect'``, another mixing boundary
mode, a too-long sequence -- runs the generic array code of wavelearn on the
same arrays instead, after a :class:`KernelFallbackWarning` that says why.

**Launching.** Kernels are C++ templates (element type, and the channel-tile
width of the fused kernels), compiled once per process with
``cupy.RawModule(..., name_expressions=NAME_EXPRESSIONS)`` and fetched by name
(``'mix_pointwise<float, 16>'``). Every shape is a runtime argument, never
baked into the source, and every scalar is passed as ``np.int32`` to match the
``int`` parameters exactly. Inputs are checked for dtype and made
C-contiguous (a copy only if they are not).

**Launchers.** The wrappers build their arguments and launch configurations
themselves and hand them to a *launcher*: :class:`CupyLauncher` by default
(``cupy`` arrays on the current device). The test-suite passes a CPU launcher
instead (``tests/backends/cuda_harness``), which runs the very same CUDA sources
compiled with g++ on NumPy arrays -- so this module imports CuPy only when a
CuPy launcher is made, and the launch planning below is tested without a GPU.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from wavelearn.backend import array_namespace
from wavelearn.dwt import causal as reference_causal
from wavelearn.dwt import levels as lv
from wavelearn.dwt import transforms as tr
from wavelearn.dwt.arrays import float_dtype
from wavelearn.dwt.wavelets import MODES, Wavelet, as_wavelet, check_mode

CUDA_DIR = Path(__file__).resolve().parent / "cuda"
CU_FILES = ("dwt.cu", "mixing.cu", "causal.cu")

#: Mode numbers of ``wl::Mode`` in cuda/common.cuh (the order of ``wavelearn.MODES``).
MODE_CODES = {m: i for i, m in enumerate(MODES) if m != "antireflect"}

#: Channel-tile widths the fused kernels are instantiated for (threadIdx.x).
FUSED_TILES = (32, 16, 8)
#: Threads per block of every kernel.
THREADS = 256

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def _names() -> tuple[str, ...]:
    names = []
    for ct in _CTYPES.values():
        names += [f"dwt_level<{ct}>", f"idwt_level<{ct}>", f"causal_level<{ct}>",
                  f"causal_level_adjoint<{ct}>"]
        for td in FUSED_TILES:
            names += [f"mix_pointwise<{ct}, {td}>", f"mix_pointwise_bwd<{ct}, {td}>"]
    return tuple(names)


#: Every kernel instantiation the wrappers launch (cupy.RawModule name_expressions).
NAME_EXPRESSIONS = _names()


class KernelFallbackWarning(UserWarning):
    """A CUDA kernel does not cover this call; wavelearn's generic path ran instead."""


def _fallback(why: str) -> None:
    warnings.warn(f"{why}; using the generic array path instead", KernelFallbackWarning,
                  stacklevel=3)


# ---------------------------------------------------------------------------
# Launchers
# ---------------------------------------------------------------------------


def kernel_source() -> str:
    """The CUDA source of all kernels as one string: ``common.cuh`` followed by
    the ``.cu`` files with their ``#include "common.cuh"`` lines dropped.
    (Inlined rather than included, so that CuPy's on-disk kernel cache, keyed
    by the source text, notices any edit of any file.)"""
    include = '#include "common.cuh"'
    parts = [(CUDA_DIR / "common.cuh").read_text()]
    for name in CU_FILES:
        text = (CUDA_DIR / name).read_text().replace(include, "// (common.cuh inlined above)")
        parts.append(f"// ---- {name} ----\n{text}")
    return "\n".join(parts)


class CupyLauncher:
    """Launches the kernels on the current CuPy device (the default launcher).

    Args:
        defines: compile-time knobs of the CUDA sources, e.g. ``{"WL_MIX_R": 8}``
            (outputs per thread and group in the fused kernels; default 4).
            Each launcher compiles its own module.
    """

    max_grid_y = 65535

    def __init__(self, defines: dict[str, int] | None = None) -> None:
        import cupy

        self.cupy = cupy
        self.xp = cupy
        self.options = ("--std=c++17", *(f"-D{k}={v}" for k, v in (defines or {}).items()))
        self._module: Any = None
        self._filters: dict = {}
        self._kernels: dict = {}

    @property
    def module(self) -> Any:
        """The compiled module (NVRTC, on first use; CuPy caches it on disk)."""
        if self._module is None:
            self._module = self.cupy.RawModule(
                code=kernel_source(), options=self.options, name_expressions=NAME_EXPRESSIONS
            )
        return self._module

    def _attribute(self, code: int, name: str, default: int) -> int:
        """A device attribute by its cudaDeviceAttr number (name: its key in
        ``Device.attributes``, tried second)."""
        dev = self.cupy.cuda.Device()
        try:
            return int(self.cupy.cuda.runtime.deviceGetAttribute(code, dev.id))
        except Exception:  # noqa: BLE001 - an older CuPy: try the attribute table
            return int(dev.attributes.get(name, default))

    @property
    def max_shared_memory(self) -> int:
        """Dynamic shared memory one block may use (opt-in limit) on this device."""
        # cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
        return self._attribute(97, "MaxSharedMemoryPerBlockOptin", 48 * 1024)

    @property
    def shared_memory_per_sm(self) -> int:
        """Shared memory of one multiprocessor, shared by its resident blocks."""
        # cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81
        return self._attribute(81, "MaxSharedMemoryPerMultiprocessor",
                               self.max_shared_memory + 1024)

    def owns(self, a: Any) -> bool:
        return isinstance(a, self.cupy.ndarray)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.cupy.empty(shape, dtype=dtype)

    def filters(self, key: tuple, values: np.ndarray, dtype: Any) -> Any:
        """``values`` (float64 NumPy) as a device array of ``dtype``, cached per device."""
        full = (*key, np.dtype(dtype).str, self.cupy.cuda.Device().id)
        if full not in self._filters:
            self._filters[full] = self.cupy.asarray(np.ascontiguousarray(values, dtype=dtype))
        return self._filters[full]

    def launch(self, name: str, grid: tuple, block: tuple, shared_mem: int, args: tuple) -> None:
        dev = self.cupy.cuda.Device().id
        key = (name, dev)
        if key not in self._kernels:  # the kernel, its thread limit, its shared-memory opt-in
            kernel = self.module.get_function(name)
            self._kernels[key] = [kernel, kernel.max_threads_per_block, 48 * 1024]
        entry = self._kernels[key]
        kernel, max_threads, smem_ok = entry
        threads = math.prod(block)
        if threads > max_threads:  # limited by the kernel's registers
            raise ValueError(f"{name}: {threads} threads per block, but this kernel allows "
                             f"{max_threads} (its registers); ask for fewer")
        if shared_mem > smem_ok:  # opt in above the 48 KiB default
            kernel.max_dynamic_shared_size_bytes = shared_mem
            entry[2] = shared_mem
        kernel(grid, block, args, shared_mem=shared_mem)


_default: CupyLauncher | None = None


def default_launcher() -> CupyLauncher:
    global _default
    if _default is None:
        _default = CupyLauncher()
    return _default


def _launcher(launcher: Any) -> Any:
    return default_launcher() if launcher is None else launcher


# ---------------------------------------------------------------------------
# Argument checks and launch planning (pure Python, no GPU needed)
# ---------------------------------------------------------------------------


def _i32(v: int) -> np.int32:
    if not -(2**31) <= v < 2**31:
        raise OverflowError(f"{v} does not fit the kernels' int arguments")
    return np.int32(v)


def _check3d(launcher: Any, a: Any, name: str) -> Any:
    if not launcher.owns(a):
        raise TypeError(f"{name} must be an array of the launcher's library "
                        f"({launcher.xp.__name__}), got {type(a).__name__}")
    if a.ndim != 3:
        raise ValueError(f"{name} must be (B, N, D) (batch, sequence, channels), got shape "
                         f"{tuple(a.shape)}")
    if 0 in a.shape:
        raise ValueError(f"{name} is empty (shape {tuple(a.shape)})")
    return a


def _kernel_dtype(a: Any) -> str | None:
    """The C type the kernels use for ``a``'s dtype, or None (not covered)."""
    return _CTYPES.get(np.dtype(a.dtype))


def _contiguous(launcher: Any, a: Any, dtype: Any = None) -> Any:
    if dtype is not None and np.dtype(a.dtype) != np.dtype(dtype):
        a = a.astype(dtype)
    return a if a.flags.c_contiguous else launcher.xp.ascontiguousarray(a)


def rows_plan(D: int, rows: int, max_grid_y: int = 65535) -> tuple[tuple, tuple]:
    """Grid and block of the per-sample kernels (dwt/idwt/causal): 32 channels
    by 8 rows per block; the grid's y dimension is capped and the kernels loop."""
    block = (32, THREADS // 32, 1)
    grid = (-(-D // 32), max(1, min(-(-rows // block[1]), max_grid_y)), 1)
    return grid, block


def _rows_per_block(tile: int, threads: int | None) -> int:
    threads = THREADS if threads is None else threads
    if threads % tile or not tile <= threads <= 1024:
        raise ValueError(f"threads must be a multiple of the tile ({tile}) up to 1024, "
                         f"got {threads}")
    return threads // tile


@dataclass(frozen=True)
class FusedPlan:
    """Launch configuration of a fused mixing kernel."""

    tile: int  # TD: channels per block (threadIdx.x), a template parameter
    rows_per_block: int  # BY: blockDim.y
    shared_mem: int  # dynamic shared memory, bytes

    def grid(self, B: int, D: int, max_grid_y: int = 65535) -> tuple:
        return (-(-D // self.tile), max(1, min(B, max_grid_y)), 1)

    @property
    def block(self) -> tuple:
        return (self.tile, self.rows_per_block, 1)


def fused_shared_bytes(N: int, levels: int, F: int, itemsize: int, tile: int,
                       backward: bool, threads: int | None = None) -> int:
    """Bytes of shared memory of one block; must match the layout documented
    at the top of cuda/mixing.cu (taps, P0, P1 [, X0, X1, red])."""
    L1 = (N + 1) // 2
    L2 = (L1 + 1) // 2
    rows0 = max(N, 2 * L2) if levels >= 2 else N
    rows1 = 2 * L1
    rows = rows0 + rows1
    if backward:
        rows += N + L1 + _rows_per_block(tile, threads)
    return itemsize * (4 * F + rows * tile)


def fused_plan(N: int, levels: int, F: int, itemsize: int, max_shared: int, *,
               backward: bool, tile: int | None = None, threads: int | None = None,
               per_sm: int | None = None) -> FusedPlan | None:
    """Pick the channel tile of a fused kernel, or None if nothing fits.

    Default: the widest tile (32 channels = one 128-byte row per warp for
    float32) that still leaves room for two blocks per multiprocessor
    (``per_sm`` bytes of shared memory, of which the hardware keeps 1 KiB per
    block; default ``max_shared + 1024``), so that one block's loads overlap
    another's arithmetic; else the widest that fits at all. ``tile=`` forces
    one, ``threads=`` the threads per block (default 256; the benchmark
    compares them).
    """
    per_sm = max_shared + 1024 if per_sm is None else per_sm
    tiles = (tile,) if tile is not None else FUSED_TILES
    if tile is not None and tile not in FUSED_TILES:
        raise ValueError(f"tile must be one of {FUSED_TILES}, got {tile}")
    fits = [(td, fused_shared_bytes(N, levels, F, itemsize, td, backward, threads))
            for td in tiles]
    fits = [(td, b) for td, b in fits if b <= max_shared]
    if not fits:
        return None
    roomy = [(td, b) for td, b in fits if 2 * (b + 1024) <= per_sm]
    td, b = (roomy or fits)[0]
    return FusedPlan(td, _rows_per_block(td, threads), b)


@lru_cache(maxsize=256)
def mixing_filters(wavelet: Wavelet) -> np.ndarray:
    """``(4, F)`` float64: analysis filters in correlation form (time-reversed
    ``dec_lo``/``dec_hi``, as ``levels.analysis_filters`` uses them in
    periodization mode) and the synthesis filters ``rec_lo``/``rec_hi``."""
    fa = lv.analysis_filters(wavelet, "periodization", 2)[0]  # (2, F); the length does not matter
    out = np.concatenate([fa, lv.synthesis_filters(wavelet)])
    out.flags.writeable = False
    return out


# ---------------------------------------------------------------------------
# DWT / IDWT, one level and multilevel
# ---------------------------------------------------------------------------


def _dwt_unsupported(x: Any, w: Wavelet, mode: str) -> str | None:
    if _kernel_dtype(x) is None:
        return f"the DWT kernels take float32/float64, not {x.dtype}"
    if mode not in MODE_CODES:
        return f"the DWT kernels do not implement mode {mode!r}"
    if mode == "reflect" and x.shape[1] < 2:
        return "mode 'reflect' needs 2 samples"
    return None


def dwt(x: Any, wavelet: Any, mode: str = "symmetric", *, launcher: Any = None
        ) -> tuple[Any, Any]:
    """One DWT level along axis 1 of ``x`` ``(B, N, D)``: ``(cA, cD)``, each
    ``(B, n, D)``, equal to ``pywt.dwt(x, wavelet, mode, axis=1)``."""
    w, mode, L = as_wavelet(wavelet), check_mode(mode), _launcher(launcher)
    x = _check3d(L, x, "x")
    why = _dwt_unsupported(x, w, mode)
    if why:
        _fallback(why)
        return tr.dwt(x, w, mode, axis=1)
    x = _contiguous(L, x)
    B, N, D = x.shape
    filters, left, _, n_out = lv.analysis_filters(w, mode, N)  # (2, Fa) correlation form
    f = L.filters(("dwt", w, mode == "periodization"), filters, x.dtype)
    ca, cd = L.empty((B, n_out, D), x.dtype), L.empty((B, n_out, D), x.dtype)
    grid, block = rows_plan(D, B * n_out, L.max_grid_y)
    args = (x, f, ca, cd, _i32(B), _i32(N), _i32(D), _i32(n_out), _i32(filters.shape[1]),
            _i32(left), _i32(MODE_CODES[mode]))
    L.launch(f"dwt_level<{_kernel_dtype(x)}>", grid, block, 0, args)
    return ca, cd


def idwt(ca: Any, cd: Any, wavelet: Any, mode: str = "symmetric", *, launcher: Any = None
         ) -> Any:
    """One inverse DWT level along axis 1 (``pywt.idwt(ca, cd, wavelet, mode, axis=1)``);
    ``ca`` and ``cd`` are ``(B, n, D)``; the output has ``2n`` samples in
    periodization mode and ``2n - F + 2`` otherwise."""
    w, mode, L = as_wavelet(wavelet), check_mode(mode), _launcher(launcher)
    ca, cd = _check3d(L, ca, "ca"), _check3d(L, cd, "cd")
    if tuple(ca.shape) != tuple(cd.shape):
        raise ValueError(f"ca and cd must have the same shape, got {tuple(ca.shape)} and "
                         f"{tuple(cd.shape)}")
    B, n, D = ca.shape
    F = w.dec_len
    periodization = mode == "periodization"
    n_y = 2 * n if periodization else 2 * n - F + 2
    # (the synthesis depends on the mode only through periodization-or-not,
    # so every mode is covered, 'antireflect' included)
    why = None
    if _kernel_dtype(ca) is None or ca.dtype != cd.dtype:
        why = f"the IDWT kernel takes float32/float64 (both bands alike), not {ca.dtype}/{cd.dtype}"
    elif n_y < 1:
        why = f"{n} coefficients are too few for {w.name}"
    if why:
        _fallback(why)
        return tr.idwt(ca, cd, w, mode, axis=1)
    ca, cd = _contiguous(L, ca), _contiguous(L, cd)
    f = L.filters(("idwt", w), lv.synthesis_filters(w), ca.dtype)
    y = L.empty((B, n_y, D), ca.dtype)
    grid, block = rows_plan(D, B * n_y, L.max_grid_y)
    args = (ca, cd, f, y, _i32(B), _i32(n), _i32(D), _i32(n_y), _i32(F), _i32(periodization))
    L.launch(f"idwt_level<{_kernel_dtype(ca)}>", grid, block, 0, args)
    return y


def wavedec(x: Any, wavelet: Any, mode: str = "symmetric", level: int | None = None, *,
            launcher: Any = None) -> list[Any]:
    """Multilevel DWT along axis 1: ``[cA_n, cD_n, ..., cD_1]`` (as ``pywt.wavedec``),
    one :func:`dwt` launch per level."""
    w = as_wavelet(wavelet)
    level = tr.check_level(level, x.shape[1], w)
    a, details = x, []
    for _ in range(level):
        a, d = dwt(a, w, mode, launcher=launcher)
        details.append(d)
    return [a, *details[::-1]]


def waverec(coeffs: list[Any], wavelet: Any, mode: str = "symmetric", *,
            length: int | None = None, launcher: Any = None) -> Any:
    """Multilevel inverse DWT along axis 1 (as ``wavelearn.waverec(..., axis=1)``),
    one :func:`idwt` launch per level."""
    a = coeffs[0]
    for j, d in enumerate(coeffs[1:], start=1):
        a = idwt(tr.fit_approx(a, d, j, len(coeffs) - 1), d, wavelet, mode, launcher=launcher)
    return tr.crop_length(a, length)


# ---------------------------------------------------------------------------
# Fused wavelet mixing ('pointwise')
# ---------------------------------------------------------------------------


def _mixing_unsupported(x: Any, N: int, F: int, levels: int, mode: str) -> str | None:
    if _kernel_dtype(x) is None:
        return f"the fused mixing kernels take float32/float64, not {x.dtype}"
    if mode != "periodization":
        return f"the fused mixing kernels implement mode 'periodization' only, not {mode!r}"
    if F % 2:
        return f"the fused mixing kernels need an even filter length, got {F}"
    if levels >= 3 and N <= 2 ** (levels - 2):
        return f"{levels} levels are too many for N={N} in the fused kernels' layout"
    return None


def _check_mixing(L: Any, x: Any, weight: Any, wavelet: Any, levels: int, mode: str
                  ) -> tuple[Wavelet, str, Any]:
    w, mode = as_wavelet(wavelet), check_mode(mode)
    x = _check3d(L, x, "x")
    if not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an int >= 1, got {levels!r}")
    if tuple(weight.shape) != (levels + 1, x.shape[2]):
        raise ValueError(f"weight must be (levels + 1, D) = {(levels + 1, x.shape[2])}, got "
                         f"{tuple(weight.shape)}")
    return w, mode, x


def _plan_or_reason(L: Any, x: Any, w: Wavelet, levels: int, mode: str, backward: bool,
                    tile: int | None, threads: int | None) -> FusedPlan | str:
    B, N, D = x.shape
    why = _mixing_unsupported(x, N, w.dec_len, levels, mode)
    if why:
        return why
    itemsize = np.dtype(x.dtype).itemsize
    plan = fused_plan(N, levels, w.dec_len, itemsize, L.max_shared_memory, backward=backward,
                      tile=tile, threads=threads, per_sm=L.shared_memory_per_sm)
    if plan is None:
        need = fused_shared_bytes(N, levels, w.dec_len, itemsize, tile or FUSED_TILES[-1],
                                  backward, threads)
        return (f"N={N} needs {need} bytes of shared memory per block in the fused "
                f"{'backward' if backward else 'forward'} kernel (limit {L.max_shared_memory})")
    return plan


def mixing_forward(x: Any, weight: Any, wavelet: Any = "db4", levels: int = 3,
                   mode: str = "periodization", *, launcher: Any = None,
                   tile: int | None = None, threads: int | None = None) -> Any:
    r"""``WaveletMixing(mixing_mode='pointwise')`` forward in one launch:
    :math:`y = \mathrm{waverec}(w_k \odot \mathrm{wavedec}(x)_k)` along axis 1,
    ``x`` ``(B, N, D)``, ``weight`` ``(levels + 1, D)`` (bands ``[cA_J, cD_J, ..., cD_1]``).
    ``tile``/``threads`` override the launch plan (see :func:`fused_plan`)."""
    L = _launcher(launcher)
    w, mode, x = _check_mixing(L, x, weight, wavelet, levels, mode)
    plan = _plan_or_reason(L, x, w, levels, mode, False, tile, threads)
    if isinstance(plan, str):
        _fallback(plan)
        return _mixing_forward_generic(x, weight, w, levels, mode)
    return _launch_mix(L, plan, x, weight, w, levels, adjoint=False)


def mixing_backward(x: Any, dy: Any, weight: Any, wavelet: Any = "db4", levels: int = 3,
                    mode: str = "periodization", *, need_weight_grad: bool = True,
                    launcher: Any = None, tile: int | None = None,
                    threads: int | None = None) -> tuple[Any, Any]:
    r"""The backward of :func:`mixing_forward`: ``(dx, dweight)``.

    :math:`dx = A^T W S^T dy` and :math:`dw_k = \sum_{b,n} (A x)_k (S^T dy)_k`
    (``A`` = wavedec, ``S`` = waverec). ``tile``/``threads`` override the
    launch plan (see :func:`fused_plan`). With ``need_weight_grad=False`` only
    ``dx`` is computed (``dweight`` is None) by the *forward* kernel run with
    transposed roles (``adjoint=1``, see cuda/mixing.cu): for an orthogonal
    wavelet and ``N`` divisible by ``2**levels`` that is exactly
    ``mixing_forward(dy)``. Otherwise one fused launch computes both.
    """
    L = _launcher(launcher)
    w, mode, x = _check_mixing(L, x, weight, wavelet, levels, mode)
    dy = _check3d(L, dy, "dy")
    if tuple(dy.shape) != tuple(x.shape):
        raise ValueError(f"dy must have x's shape {tuple(x.shape)}, got {tuple(dy.shape)}")
    plan = _plan_or_reason(L, x, w, levels, mode, need_weight_grad, tile, threads)
    if isinstance(plan, str):
        _fallback(plan)
        return _mixing_backward_generic(x, dy, weight, w, levels, mode, need_weight_grad)
    if not need_weight_grad:
        return _launch_mix(L, plan, dy, weight, w, levels, adjoint=True), None
    dtype = x.dtype
    x, dy = _contiguous(L, x), _contiguous(L, dy, dtype)
    weight = _contiguous(L, weight, dtype)
    B, N, D = x.shape
    K = levels + 1
    filt = L.filters(("mix", w), mixing_filters(w), dtype)
    dx = L.empty((B, N, D), dtype)
    dw_part = L.empty((B, K, D), dtype)
    args = (x, dy, filt, weight, dx, dw_part, _i32(B), _i32(N), _i32(D), _i32(levels),
            _i32(w.dec_len))
    L.launch(f"mix_pointwise_bwd<{_kernel_dtype(x)}, {plan.tile}>",
             plan.grid(B, D, L.max_grid_y), plan.block, plan.shared_mem, args)
    return dx, dw_part.sum(axis=0)


def _launch_mix(L: Any, plan: FusedPlan, x: Any, weight: Any, w: Wavelet, levels: int, *,
                adjoint: bool) -> Any:
    dtype = x.dtype
    x, weight = _contiguous(L, x), _contiguous(L, weight, dtype)
    B, N, D = x.shape
    filt = L.filters(("mix", w), mixing_filters(w), dtype)
    y = L.empty((B, N, D), dtype)
    args = (x, filt, weight, y, _i32(B), _i32(N), _i32(D), _i32(levels), _i32(w.dec_len),
            _i32(int(adjoint)))
    L.launch(f"mix_pointwise<{_kernel_dtype(x)}, {plan.tile}>", plan.grid(B, D, L.max_grid_y),
             plan.block, plan.shared_mem, args)
    return y


def _analysis_bands(xp: Any, x: Any, w: Wavelet, levels: int, mode: str) -> list[Any]:
    a, details = x, []
    for _ in range(levels):
        a, d = lv.analysis_level(xp, a, w, mode)
        details.append(d)
    return [a, *details[::-1]]  # [cA_J, cD_J, ..., cD_1], each (B, n_k, D)


def _mixing_forward_generic(x: Any, weight: Any, w: Wavelet, levels: int, mode: str) -> Any:
    """The generic path: what ``WaveletMixing.forward`` computes, on any backend."""
    x = _as_float(x)
    xp = array_namespace(x)
    weight = xp.astype(weight, x.dtype)
    bands = _analysis_bands(xp, x, w, levels, mode)
    a = bands[0] * weight[0]
    for j, d in enumerate(bands[1:], start=1):
        a = lv.synthesis_level(xp, tr.fit_approx(a, d * weight[j], j, levels), d * weight[j],
                               w, mode)
    return a[:, : x.shape[1], :]


def _mixing_backward_generic(x: Any, dy: Any, weight: Any, w: Wavelet, levels: int, mode: str,
                             need_weight_grad: bool) -> tuple[Any, Any]:
    """The generic path: what ``WaveletMixing.backward`` computes, on any backend."""
    x = _as_float(x)
    xp = array_namespace(x)
    dy, weight = xp.astype(dy, x.dtype), xp.astype(weight, x.dtype)
    bands = _analysis_bands(xp, x, w, levels, mode)
    lengths = [c.shape[1] for c in bands]
    dout = tr.waverec_adjoint(dy, w, mode, axis=1, coeff_lengths=lengths)
    dbands = [g * weight[k] for k, g in enumerate(dout)]
    dx = tr.wavedec_adjoint(dbands, w, mode, axis=1, length=x.shape[1])
    if not need_weight_grad:
        return dx, None
    return dx, xp.stack([xp.sum(c * g, axis=(0, 1)) for c, g in zip(bands, dout, strict=True)])


def _as_float(x: Any) -> Any:
    """``x`` in the dtype the generic path computes in (PyWavelets' rule)."""
    xp = array_namespace(x)
    return xp.astype(x, float_dtype(xp, x, "x"), copy=False)


# ---------------------------------------------------------------------------
# The causal (a trous) filter bank of the decoder
# ---------------------------------------------------------------------------


def causal_analysis(x: Any, lowpass: np.ndarray, levels: int, *, launcher: Any = None
                    ) -> list[Any]:
    r"""``wavelearn.dwt.causal.causal_analysis``: ``[a_J, d_J, ..., d_1]``, each
    ``(B, N, D)`` (views into one ``(K, B, N, D)`` array), one launch per level.
    ``lowpass`` is the normalised scaling filter (``wavelearn.dwt.causal_lowpass``)."""
    L = _launcher(launcher)
    x = _check3d(L, x, "x")
    h = np.asarray(lowpass, dtype=np.float64)
    if not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an int >= 1, got {levels!r}")
    if _kernel_dtype(x) is None or h.ndim != 1 or (len(h) - 1) * 2 ** (levels - 1) >= 2**31:
        _fallback(f"the causal kernels do not cover dtype {x.dtype} / filter {h.shape} / "
                  f"{levels} levels")
        return reference_causal.causal_analysis(array_namespace(x), x, h, levels)
    x = _contiguous(L, x)
    B, N, D = x.shape
    K = levels + 1
    f = L.filters(("causal", h.tobytes()), h, x.dtype)
    out = L.empty((K, B, N, D), x.dtype)
    tmp = L.empty((B, N, D), x.dtype) if levels >= 2 else None
    grid, block = rows_plan(D, B * N, L.max_grid_y)
    name = f"causal_level<{_kernel_dtype(x)}>"
    src = x
    for j in range(1, levels + 1):
        # a_J must end in out[0]; a_j for j < J alternates between out[0] and tmp
        # so that a level never reads and writes the same buffer.
        dst = out[0] if (levels - j) % 2 == 0 else tmp
        args = (src, f, dst, out[levels - j + 1], _i32(B), _i32(N), _i32(D), _i32(len(h)),
                _i32(2 ** (j - 1)))
        L.launch(name, grid, block, 0, args)
        src = dst
    return [out[k] for k in range(K)]


def causal_analysis_adjoint(dbands: Any, lowpass: np.ndarray, *, launcher: Any = None) -> Any:
    r"""``wavelearn.dwt.causal.causal_analysis_adjoint``: the gradient of ``x`` from
    the gradients of ``[a_J, d_J, ..., d_1]`` (a list, or one ``(K, B, N, D)`` array)."""
    L = _launcher(launcher)
    bands = [_check3d(L, g, f"dbands[{k}]") for k, g in enumerate(dbands)]
    h = np.asarray(lowpass, dtype=np.float64)
    levels = len(bands) - 1
    if levels < 1:
        raise ValueError("dbands needs at least 2 bands ([a_J, d_J, ...])")
    shape, dtype = tuple(bands[0].shape), bands[0].dtype
    if any(tuple(g.shape) != shape for g in bands):
        raise ValueError(f"every band must be {shape}")
    if (_kernel_dtype(bands[0]) is None or any(g.dtype != dtype for g in bands)
            or h.ndim != 1 or (len(h) - 1) * 2 ** (levels - 1) >= 2**31):
        _fallback("the causal kernels do not cover these bands (dtype or filter)")
        return reference_causal.causal_analysis_adjoint(array_namespace(bands[0]), list(bands), h)
    bands = [_contiguous(L, g) for g in bands]
    B, N, D = shape
    f = L.filters(("causal", h.tobytes()), h, dtype)
    grid, block = rows_plan(D, B * N, L.max_grid_y)
    name = f"causal_level_adjoint<{_kernel_dtype(bands[0])}>"
    bufs: list[Any] = [None, None]  # two buffers, so that no level reads what it writes
    da = bands[0]
    for j in range(levels, 0, -1):  # da_{j-1} = dd_j + C_j^T (da_j - dd_j)
        if bufs[j % 2] is None:
            bufs[j % 2] = L.empty(shape, dtype)
        out = bufs[j % 2]
        args = (da, bands[levels - j + 1], f, out, _i32(B), _i32(N), _i32(D), _i32(len(h)),
                _i32(2 ** (j - 1)))
        L.launch(name, grid, block, 0, args)
        da = out
    return da


__all__ = [
    "CUDA_DIR",
    "FUSED_TILES",
    "MODE_CODES",
    "NAME_EXPRESSIONS",
    "CupyLauncher",
    "FusedPlan",
    "KernelFallbackWarning",
    "causal_analysis",
    "causal_analysis_adjoint",
    "default_launcher",
    "dwt",
    "fused_plan",
    "fused_shared_bytes",
    "idwt",
    "kernel_source",
    "mixing_backward",
    "mixing_filters",
    "mixing_forward",
    "rows_plan",
    "wavedec",
    "waverec",
]
