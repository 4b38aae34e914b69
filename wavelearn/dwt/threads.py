"""Chunks of work for the blocked NumPy paths, and the threads that share them.

Big jobs are cut into chunks that a few threads share (``WAVELEARN_NUM_THREADS``,
see :func:`num_threads`); every chunk is computed the same way whichever
thread runs it, so results do not depend on the number of threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

CHUNK = 1 << 18  # output elements per matmul task (1 MB of float32; 2**16..2**19 alike)
PARALLEL_MIN = 1 << 22  # outputs from which the blocked path uses several threads


def num_threads() -> int:
    """Threads of the blocked path: ``WAVELEARN_NUM_THREADS`` if set, else the
    CPUs this process may use, at most 4. ``1`` turns threading off."""
    env = os.environ.get("WAVELEARN_NUM_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"WAVELEARN_NUM_THREADS must be a positive integer, got {env!r}")
        return int(env)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cpus or 1))


def _chunks(P: int, n: int, row: int, chunk: int | None = None) -> list[tuple[slice, slice]]:
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


def _column_slices(Q: int, mk: int) -> list[slice]:
    """The ``Q`` columns cut so that a product ``(M, K) @ (K, q)`` (``mk = M K``)
    stays within :data:`BLAS_ONE_THREAD` multiply-adds: OpenBLAS splits larger
    ones over its own threads, which on a machine whose cores are busy costs
    far more than it saves (measured: 10 times the CPU time at times); ``_run``
    shares the work out instead."""
    width = max(1, BLAS_ONE_THREAD // max(mk, 1))
    return [slice(q, min(q + width, Q)) for q in range(0, max(Q, 1), width)]


def _column_chunks(P: int, n: int, rows: int, Q: int, mk: int) -> list[tuple]:
    """Tasks ``(p0:p1, o0:o1, q0:q1)``: :func:`_chunks` of ``P x n`` positions of
    ``rows`` output rows each, and the columns cut by :func:`_column_slices`."""
    cols = _column_slices(Q, mk)
    width = cols[0].stop - cols[0].start
    return [(ps, os_, qs) for ps, os_ in _chunks(P, n, rows * width) for qs in cols]


def _run(task: Callable[..., None], chunks: list, size: int) -> None:
    """``task(*c)`` for every chunk ``c``. For ``size >= PARALLEL_MIN`` outputs
    the chunks are split into one run per thread (NumPy lets go of the GIL
    in ``matmul``). Each chunk writes its own part of the output, always the
    same way, so the result is the same bit for bit with any number of threads."""
    threads = min(num_threads(), len(chunks)) if size >= PARALLEL_MIN else 1
    if threads < 2:
        for c in chunks:
            task(*c)
        return
    cuts = [len(chunks) * i // threads for i in range(threads + 1)]
    runs = [chunks[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]  # contiguous

    def run(part: list) -> None:
        for c in part:
            task(*c)

    futures = [_executor(threads - 1).submit(run, part) for part in runs[1:]]
    run(runs[0])  # this thread does its share too
    for f in futures:
        f.result()


_POOL: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _executor(workers: int) -> ThreadPoolExecutor:
    """A thread pool, made once per size and per process (pools do not survive a fork)."""
    key = (os.getpid(), workers)
    if key not in _POOL:
        _POOL[key] = ThreadPoolExecutor(workers, thread_name_prefix="wavelearn")
    return _POOL[key]
