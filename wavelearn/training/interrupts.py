"""Stopping a run without losing it: Ctrl-C (SIGINT) and SIGTERM.

Schedulers, ``timeout`` and container runtimes stop a program with SIGTERM;
inside :func:`sigterm_as_interrupt` it raises :class:`Terminated`, a
``KeyboardInterrupt``, so a run handles both signals the same way: the
trainer saves a resumable checkpoint and raises :class:`TrainingInterrupted`,
and the command line exits with ``128 + signal number`` (130 for Ctrl-C,
143 for SIGTERM).

:func:`deferred_interrupts` holds both signals back while an optimizer step
is applied, so that the parameters, the optimizer state and the counters
change together or not at all.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised by the handler of :func:`sigterm_as_interrupt`)."""

    signum = signal.SIGTERM


class TrainingInterrupted(Exception):  # noqa: N818 (it is not an error: the user asked)
    """Training was stopped by a signal; a resumable checkpoint was written to ``path``.

    ``signum`` is ``signal.SIGINT`` (Ctrl-C) or ``signal.SIGTERM``.
    """

    def __init__(self, path: Path, step: int, signum: int = signal.SIGINT) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"interrupted ({name}) at step {step}; resumable checkpoint in {path}")
        self.path, self.step, self.signum = path, step, signum


def signal_number(interrupt: KeyboardInterrupt) -> int:
    """The signal behind a KeyboardInterrupt: SIGTERM for :class:`Terminated`, else SIGINT."""
    return getattr(interrupt, "signum", signal.SIGINT)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Terminated` (main thread only)."""
    if not _in_main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM inside the block; raise after it if one came.

    Only in the main thread (the only one that receives signals).
    """
    if not _in_main_thread():
        yield
        return
    received: list[int] = []
    handlers = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    if signal.SIGTERM in received:
        raise Terminated
    if received:
        raise KeyboardInterrupt
