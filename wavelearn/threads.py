"""Threads for the NumPy paths: a big job cut into chunks that a few threads share.

NumPy lets go of the GIL inside ``matmul`` and inside elementwise loops, so the
blocked DWT (:mod:`wavelearn.dwt.filterbank`) and the elementwise chains of the
layers (GELU, LayerNorm, dropout: :mod:`wavelearn.nn.layers`) run their chunks on
several threads, while the matrix products get theirs from BLAS. Every chunk
writes its own part of the output and is computed the same way whichever thread
runs it, so results are the same bit for bit with any number of threads.

``WAVELEARN_NUM_THREADS`` sets the number (:func:`num_threads`); ``1`` turns
threading off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

__all__ = ["num_threads", "run_tasks"]


def num_threads() -> int:
    """Threads of the NumPy paths: ``WAVELEARN_NUM_THREADS`` if set, else the
    CPUs this process may use, at most 4. ``1`` turns threading off."""
    env = os.environ.get("WAVELEARN_NUM_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"WAVELEARN_NUM_THREADS must be a positive integer, got {env!r}")
        return int(env)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cpus or 1))


def run_tasks(task: Callable[..., None], chunks: Sequence[tuple], parallel: bool = True) -> None:
    """``task(*c)`` for every chunk ``c``: with ``parallel``, the chunks are split into
    one contiguous run per thread (:func:`num_threads` of them), this thread doing the
    first; else one after the other here."""
    threads = min(num_threads(), len(chunks)) if parallel else 1
    if threads < 2:
        for c in chunks:
            task(*c)
        return
    cuts = [len(chunks) * i // threads for i in range(threads + 1)]
    runs = [chunks[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]  # contiguous

    def run(part: Sequence[tuple]) -> None:
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
