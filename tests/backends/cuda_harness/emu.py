"""Build the CPU emulation of wavelearn's CUDA kernels and launch them from Python.

:func:`build` compiles ``backends/cuda/*.cu`` with g++ against ``cuda_emu.h``
into a shared library, registering every kernel name the wrappers use
(``cupy_kernels.NAME_EXPRESSIONS``). :class:`EmuLauncher` has the interface
of ``cupy_kernels.CupyLauncher`` but works on NumPy arrays, so the real
wrappers (argument checks, launch planning, filters, fallbacks) drive the real
kernel code on the CPU. On top of what a GPU would do it checks:

* that every argument has exactly the kernel parameter's type (``np.int32``
  for ``int``, a float32 array for ``float*``, ...);
* that no two array arguments overlap (the kernels declare ``__restrict__``);
* that no kernel writes outside an array argument (each array is copied into
  a buffer framed by NaN guards, and the guards are checked afterwards), and
  reads outside one show up as NaN in the results;
* that outputs are fully written (``empty`` returns NaN-filled arrays);
* (in cuda_emu.h) shared memory: read-before-write gives NaN, and writes
  beyond the launch's size are reported.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# -O1: a quarter of -O2's compile time, and the kernels' run time here is
# dominated by thread creation and barriers anyway.
CXX_FLAGS = ("-std=c++20", "-O1", "-g0", "-shared", "-fPIC", "-pthread", "-Wall", "-Wextra",
             "-Werror", "-Wno-unused-parameter", "-Wno-unknown-pragmas")
GUARD = 64  # elements of NaN guard on each side of every array argument


def find_cxx() -> str | None:
    """The C++ compiler to use (``$CXX`` or g++), or None."""
    return shutil.which(os.environ.get("CXX", "g++"))


def shim_source(names: Iterable[str], includes: Iterable[str]) -> str:
    lines = ['#include "cuda_emu.h"']
    lines += [f'#include "{f}"' for f in includes]
    lines += [f"WL_EMU_REGISTER({n})" for n in names]
    return "\n".join(lines) + "\n"


def build(out_dir: Path, kernel_source: str, names: Iterable[str], *,
          extra_includes: Iterable[str] = (), defines: dict[str, int] | None = None,
          cxx: str | None = None) -> Path:
    """Compile ``kernel_source`` (all kernels as one text -- exactly the string
    CuPy hands to NVRTC, ``cupy_kernels.kernel_source()``) into
    ``out_dir/libwl_emu.so`` and register ``names``; returns the library's
    path. ``defines`` become ``-D`` flags (as ``CupyLauncher(defines=...)``
    passes them to NVRTC). Warnings are errors. Raises ``RuntimeError`` with the compiler's
    output if the build fails."""
    cxx = cxx or find_cxx()
    if cxx is None:
        raise RuntimeError("no C++ compiler found")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "wl_kernels.cu").write_text(kernel_source)
    src = out_dir / "wl_emu_shim.cpp"
    lib = out_dir / "libwl_emu.so"
    src.write_text(shim_source(names, ["wl_kernels.cu", *extra_includes]))
    flags = [f"-D{k}={v}" for k, v in (defines or {}).items()]
    cmd = [cxx, *CXX_FLAGS, *flags, f"-I{HERE}", f"-I{out_dir}", str(src), "-o", str(lib)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return lib


_SCALAR_CODES = {np.int32: "i", np.int64: "q", np.float32: "f", np.float64: "d"}
_SCALAR_CTYPES = {"i": ctypes.c_int32, "q": ctypes.c_int64, "f": ctypes.c_float,
                  "d": ctypes.c_double}
_POINTER_CODES = {np.dtype(np.float32): "F", np.dtype(np.float64): "D", np.dtype(np.int32): "I"}


class EmuError(RuntimeError):
    """The emulator found a fault (bad arguments, out-of-bounds writes, ...)."""


class EmuLauncher:
    """``cupy_kernels``' launcher interface, on the CPU emulation.

    Args:
        lib_path: the library made by :func:`build`.
        max_shared_memory: the dynamic shared memory limit of one block to plan
            with (an H100/H200's opt-in limit by default; 1 KiB more per SM).
        max_grid_y: cap of gridDim.y; small values make the kernels' grid-stride
            loops (and the fused kernels' loop over batch rows) do real work.
    """

    def __init__(self, lib_path: Path, *, max_shared_memory: int = 227 * 1024,
                 max_grid_y: int = 65535) -> None:
        self.lib_path = Path(lib_path)
        self.lib = ctypes.CDLL(str(lib_path))
        self.lib.wl_emu_signature.restype = ctypes.c_char_p
        self.lib.wl_emu_signature.argtypes = [ctypes.c_char_p]
        self.lib.wl_emu_launch.restype = ctypes.c_int
        self.lib.wl_emu_launch.argtypes = [
            ctypes.c_char_p, *[ctypes.c_uint] * 6, ctypes.c_ulonglong,
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]
        self.xp = np
        self.max_shared_memory = max_shared_memory
        self.shared_memory_per_sm = max_shared_memory + 1024
        self.max_grid_y = max_grid_y
        self.launches: list[tuple[str, tuple, tuple, int]] = []  # a log, for tests

    def owns(self, a: Any) -> bool:
        return isinstance(a, np.ndarray)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.full(shape, np.nan, dtype=dtype)  # unwritten outputs stay NaN

    def filters(self, key: tuple, values: np.ndarray, dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(values, dtype=dtype)

    def signature(self, name: str) -> str:
        sig = self.lib.wl_emu_signature(name.encode())
        if sig is None:
            raise EmuError(f"no kernel named {name!r} in the emulation library")
        return sig.decode()

    def launch(self, name: str, grid: tuple, block: tuple, shared_mem: int, args: tuple) -> None:
        sig = self.signature(name)
        if len(args) != len(sig):
            raise TypeError(f"{name}: {len(args)} arguments for a signature of {len(sig)}")
        if shared_mem > self.max_shared_memory:
            raise EmuError(f"{name}: {shared_mem} bytes of shared memory > the limit "
                           f"{self.max_shared_memory}")
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        for i, a in enumerate(arrays):
            for b in arrays[i + 1:]:
                if np.shares_memory(a, b):
                    raise EmuError(f"{name}: two array arguments overlap")
        holders, guarded = [], []
        for k, (a, code) in enumerate(zip(args, sig, strict=True)):
            if isinstance(a, np.ndarray):
                got = _POINTER_CODES.get(a.dtype, "?")
                if got != code or not a.flags.c_contiguous:
                    raise TypeError(f"{name}: argument {k} is a {a.dtype} array "
                                    f"(contiguous: {a.flags.c_contiguous}), the kernel wants "
                                    f"'{code}'")
                buf = np.full(a.size + 2 * GUARD, np.nan, dtype=a.dtype)
                buf[GUARD:GUARD + a.size] = a.ravel()
                guarded.append((k, a, buf))
                holders.append(ctypes.c_void_p(buf[GUARD:].ctypes.data))
            else:
                got = _SCALAR_CODES.get(type(a), "?")
                if got != code:
                    raise TypeError(f"{name}: argument {k} is {type(a).__name__} {a!r}, the "
                                    f"kernel parameter wants '{code}' (pass np.int32 for int)")
                holders.append(_SCALAR_CTYPES[code](a))
        packed = (ctypes.c_void_p * len(holders))(*[ctypes.addressof(h) for h in holders])
        err = ctypes.create_string_buffer(512)
        g = tuple(grid) + (1,) * (3 - len(grid))
        b = tuple(block) + (1,) * (3 - len(block))
        rc = self.lib.wl_emu_launch(name.encode(), *g, *b, int(shared_mem), packed,
                                    len(holders), err, len(err))
        self.launches.append((name, g, b, int(shared_mem)))
        if rc != 0:
            raise EmuError(f"{name}: {err.value.decode()}")
        for k, a, buf in guarded:
            if not (np.isnan(buf[:GUARD]).all() and np.isnan(buf[GUARD + a.size:]).all()):
                raise EmuError(f"{name}: argument {k} was written out of its bounds")
            result = buf[GUARD:GUARD + a.size].reshape(a.shape)
            if a.flags.writeable:
                a[...] = result
            elif not np.array_equal(result, a, equal_nan=True):
                raise EmuError(f"{name}: argument {k} is read-only but was written")
