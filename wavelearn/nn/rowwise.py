"""Elementwise chains on NumPy arrays, block of rows by block.

A chain of elementwise operations (GELU, LayerNorm, dropout's mask) reads and
writes memory at every step; done on cache-sized blocks of rows, the
temporaries of a block stay in the CPU cache and only the results are
full-size arrays. The blocks of big arrays share the threads of
:mod:`wavelearn.threads` (NumPy's elementwise loops use one core); every block
is computed the same way on any thread, so results do not depend on their
number. Other backends take the whole array at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from wavelearn import buffers
from wavelearn.threads import run_tasks

ELEMENTWISE_BLOCK = 1 << 17  # elements per block of an elementwise chain (512 KiB float32)
ELEMENTWISE_PARALLEL_MIN = 1 << 20  # elements from which the blocks run on several threads


def elementwise_blocks(x2: Any) -> list[slice]:
    """Row slices of a 2-D NumPy array, about :data:`ELEMENTWISE_BLOCK` elements each,
    so that a chain of elementwise operations on one block stays in the CPU cache.
    An array of another backend is one slice (a GPU wants one big kernel, not many
    small ones)."""
    if not isinstance(x2, np.ndarray):
        return [slice(None)]
    m, h = x2.shape
    step = max(1, ELEMENTWISE_BLOCK // max(h, 1))
    return [slice(i, min(i + step, m)) for i in range(0, m, step)] or [slice(None)]


def by_row_blocks(f: Callable[..., Any], *arrays: Any) -> Any:
    """``f(*arrays)`` for arrays of the same number of rows (2-D, or ``(M, 1)``), computed
    block of rows by block (:func:`elementwise_blocks` of the first array) into full
    results; ``f`` returns one array of rows or a tuple of them. The blocks of big arrays
    (:data:`ELEMENTWISE_PARALLEL_MIN` elements) share the threads of
    :func:`wavelearn.threads.run_tasks` (NumPy's elementwise loops run on one core);
    every block is computed the same way on any thread (same bits)."""
    blocks = elementwise_blocks(arrays[0])
    if len(blocks) == 1:
        return f(*arrays)
    first = f(*(a[blocks[0]] for a in arrays))
    parts = first if isinstance(first, tuple) else (first,)
    rows = arrays[0].shape[0]
    outs = tuple(buffers.empty((rows, *p.shape[1:]), p.dtype) for p in parts)  # (M, ...)

    def task(block: slice, values: tuple | None = None) -> None:
        values = values or f(*(a[block] for a in arrays))
        for out, v in zip(outs, values if isinstance(values, tuple) else (values,), strict=True):
            out[block] = v

    task(blocks[0], parts)
    chunks = [(b,) for b in blocks[1:]]
    run_tasks(task, chunks, parallel=arrays[0].size >= ELEMENTWISE_PARALLEL_MIN)
    return outs if isinstance(first, tuple) else outs[0]


def each_row_block(f: Callable[..., Any], *arrays: Any) -> None:
    """``f(*blocks)`` for every block of rows of the arrays (:func:`elementwise_blocks`
    of the first), ``f`` writing its results itself: on the threads for big arrays."""
    blocks = elementwise_blocks(arrays[0])
    run_tasks(lambda b: f(*(a[b] for a in arrays)), [(b,) for b in blocks],
              arrays[0].size >= ELEMENTWISE_PARALLEL_MIN)


def column_sums(xp: Any, a: Any) -> Any:
    r""":math:`\sum_m a_{m,:}` of a 2-D array ``(M, D)`` -> ``(D,)`` (a gradient of a
    bias or a scale: the sum over all tokens). A NumPy array goes to BLAS as
    :math:`\mathbf{1}^\top a`: ``np.sum(axis=0)`` walks the rows with a short
    loop per row (float32, one thread, measured: ``(3200, 64)`` 50 vs 7.5 us,
    ``(2048, 256)`` 55 vs 29 us, ``(2048, 1024)`` 120 vs 106 us, ``(16384, 768)``
    1.5 vs 1.4 ms). Other backends sum their own way."""
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype.kind != "f":
        return xp.sum(a, axis=0)
    return np.ones(a.shape[0], dtype=a.dtype) @ a  # (D,)
