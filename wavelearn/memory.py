"""Keeping freed memory in the process, so that big arrays do not page-fault at every step.

A forward pass in training mode writes its caches (one or more activations per
layer) into fresh arrays, and frees the previous step's. With glibc's default
settings every block above 32 MiB is its own ``mmap``: freeing it hands the pages
back to the kernel, and the next step's arrays get *new* pages, which the kernel
must find and zero on first touch -- a page fault every 4 KiB (or 2 MiB with
transparent huge pages). For the spectrans example (batch 32 x 512, D 768,
12 layers: ~9 GB of caches per forward) that was 0.5-0.9 s of system time per
3 layers, measured with ``getrusage`` around one forward; with the freed memory
kept, ~0 (``benchmarks/gemm_floor.py --cases seed --keep-freed-memory``).

:func:`keep_freed_memory` asks glibc (``mallopt``) to serve big blocks from its
heap instead of ``mmap`` and never to trim the heap: freed memory stays in the
process and the next step reuses it, already mapped. The price: the process's
resident memory stays at its peak instead of shrinking between steps (what the
caching allocators of GPU frameworks do too), plus what the heap loses to
fragmentation: training steps of a one-layer model of the seed's shapes
(batch 16 x 512, D 768) settled after 5 steps at 1.36x the resident memory of
the first step, and stayed there for the 24 measured. It changes the whole process, not
only wavelearn's arrays, so it is never done behind your back: call it yourself
(the benchmarks say when they do). wavelearn's own caches and main temporaries
reuse their memory without it (:mod:`wavelearn.buffers`); this also covers the
other temporaries and other libraries' arrays. Setting ``MALLOC_MMAP_MAX_=0`` and
``MALLOC_TRIM_THRESHOLD_=-1`` in the environment before Python starts does the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["keep_freed_memory"]

M_TRIM_THRESHOLD = -1  # <malloc.h>: the mallopt parameters used here
M_MMAP_MAX = -4


def keep_freed_memory() -> None:
    """Keep freed memory in the process, for the next arrays to reuse without page
    faults (a training step writes its caches into fresh arrays; with glibc's
    defaults, every array above 32 MiB is new memory that the kernel zeroes page by
    page: :mod:`wavelearn.memory`). It sets glibc's
    ``mallopt(M_MMAP_MAX, 0)`` (no ``mmap`` per big block) and
    ``mallopt(M_TRIM_THRESHOLD, -1)`` (never give heap memory back). For the
    whole process, until it ends. Raises ``RuntimeError`` where the C library
    is not glibc (macOS, Windows, musl): nothing is changed there."""
    libc = _glibc()
    settings = ((M_MMAP_MAX, 0, "M_MMAP_MAX"), (M_TRIM_THRESHOLD, -1, "M_TRIM_THRESHOLD"))
    for param, value, name in settings:
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            raise RuntimeError(f"keep_freed_memory: glibc refused mallopt({name}, {value})")


def _glibc() -> ctypes.CDLL:
    """The process's C library, if it is glibc; else ``RuntimeError``."""
    name, version = platform.libc_ver()
    if name != "glibc":
        raise RuntimeError(
            "keep_freed_memory needs glibc (it calls mallopt); this process's C library "
            f"is {name or 'not glibc'} on {platform.system()}: nothing was changed"
        )
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc
