"""Chunks of work for the blocked NumPy paths of the DWT.

Big jobs are cut into chunks that a few threads share (:mod:`wavelearn.threads`,
``WAVELEARN_NUM_THREADS``); every chunk is computed the same way whichever
thread runs it, so results do not depend on the number of threads.
"""

from __future__ import annotations

from collections.abc import Callable

from wavelearn.threads import run_tasks

CHUNK = 1 << 18  # output elements per matmul task (1 MB of float32; 2**16..2**19 alike)
PARALLEL_MIN = 1 << 22  # outputs from which the blocked path uses several threads


def chunks(P: int, n: int, row: int, chunk: int | None = None) -> list[tuple[slice, slice]]:
    """Tasks ``(p0:p1, o0:o1)`` covering ``P x n`` output rows of ``row``
    elements each, about ``chunk`` (:data:`CHUNK`) elements per task: several
    ``p`` when one is small, else part of one ``p``."""
    chunk = CHUNK if chunk is None else chunk
    if n * row <= chunk:
        step = max(1, chunk // max(n * row, 1))
        return [(slice(p, min(p + step, P)), slice(0, n)) for p in range(0, P, step)]
    step = max(1, chunk // max(row, 1))
    return [(slice(p, p + 1), slice(o, min(o + step, n))) for p in range(P)
            for o in range(0, n, step)]


BLAS_ONE_THREAD = 1 << 18  # multiply-adds up to which OpenBLAS keeps a product on one thread


def column_slices(Q: int, mk: int) -> list[slice]:
    """The ``Q`` columns cut so that a product ``(M, K) @ (K, q)`` (``mk = M K``)
    stays within :data:`BLAS_ONE_THREAD` multiply-adds: OpenBLAS splits larger
    ones over its own threads, which on a machine whose cores are busy costs
    far more than it saves (measured: 10 times the CPU time at times); ``run_chunks``
    shares the work out instead."""
    width = max(1, BLAS_ONE_THREAD // max(mk, 1))
    return [slice(q, min(q + width, Q)) for q in range(0, max(Q, 1), width)]


def column_chunks(P: int, n: int, rows: int, Q: int, mk: int) -> list[tuple]:
    """Tasks ``(p0:p1, o0:o1, q0:q1)``: :func:`chunks` of ``P x n`` positions of
    ``rows`` output rows each, and the columns cut by :func:`column_slices`."""
    cols = column_slices(Q, mk)
    width = cols[0].stop - cols[0].start
    return [(ps, os_, qs) for ps, os_ in chunks(P, n, rows * width) for qs in cols]


def run_chunks(task: Callable[..., None], tasks: list, size: int) -> None:
    """``task(*c)`` for every chunk ``c`` of ``tasks``, on the threads of
    :func:`wavelearn.threads.run_tasks` for ``size >= PARALLEL_MIN`` outputs (NumPy lets go
    of the GIL in ``matmul``). Each
    chunk writes its own part of the output, always the same way, so the result is the
    same bit for bit with any number of threads."""
    run_tasks(task, tasks, parallel=size >= PARALLEL_MIN)
