"""The output folder of a run, checked and locked before any work starts.

``wavelearn train --out DIR`` writes ``checkpoint.npz``, ``metrics.jsonl`` and
``curves.png`` into ``DIR``. Three checks keep a run from losing work, its own
or another's:

* :func:`check_writable`: the folder can be created and written -- before any
  data is loaded, not after an hour of training;
* :func:`check_fresh`: a new run does not silently replace a checkpoint that is
  already there (continue it with ``--resume``, or replace it on purpose with
  ``--overwrite``);
* :func:`locked`: one run at a time per folder. The lock is an exclusive
  ``flock`` on ``DIR/.wavelearn.lock``, which holds the owner's process id: a
  second run is refused with that id, and the lock of a process that died is
  released by the operating system and taken over by the next run.

:func:`claimed` does all three for the time of a run, and removes a folder it
created if the run leaves it empty (a run stopped during start-up leaves
nothing behind). Every refusal is a :class:`RunFolderError` whose message
names the option.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from wavelearn.training.checkpoints import CHECKPOINT_NAME

LOCK_NAME = ".wavelearn.lock"


class RunFolderError(ValueError):
    """The output folder cannot be used (not writable, holds a run, or in use)."""


@contextlib.contextmanager
def claimed(folder: Path, fresh: bool, option: str = "--out") -> Iterator[None]:
    """Inside the block, ``folder`` is writable and locked, and (``fresh``) holds no checkpoint.

    Folders created here are removed again at the end if they are empty.
    """
    created = []  # the folders that do not exist yet, deepest first
    path = folder.absolute()
    while not path.exists() and path != path.parent:
        created.append(path)
        path = path.parent
    try:
        check_writable(folder, option)
        with locked(folder, option):
            if fresh:
                check_fresh(folder, option)
            yield
    finally:
        for path in created:
            try:
                path.rmdir()
            except OSError:  # not empty (or gone): keep it and its parents
                break


def check_writable(folder: Path, option: str = "--out") -> None:
    """Create ``folder`` (and its parents) and write a probe file into it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".wavelearn-probe-"):
            pass
    except OSError as e:
        raise RunFolderError(f"{option} {folder}: cannot write there "
                             f"({e.strerror or type(e).__name__}); choose a folder you can "
                             "write") from None


def check_fresh(folder: Path, option: str = "--out") -> None:
    """Refuse a new run in a folder that holds a checkpoint."""
    if (folder / CHECKPOINT_NAME).exists():
        raise RunFolderError(f"{option} {folder}: holds the checkpoint of an earlier run; continue "
                             f"it with --resume, replace it with --overwrite, or choose "
                             f"another {option}")


@contextlib.contextmanager
def locked(folder: Path, option: str = "--out") -> Iterator[None]:
    """Hold the run lock of ``folder`` inside the block (RunFolderError if another run has it)."""
    import fcntl

    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(f"{option} {folder}: another wavelearn run (process {owner}) "
                                 f"is writing there; wait for it to end, or choose another "
                                 f"{option}") from None
        if _same_file(fd, path):  # not unlinked by the owner that just released it
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)  # while still holding it: see _same_file
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
