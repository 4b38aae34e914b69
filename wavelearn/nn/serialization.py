"""Checkpoints: one ``.npz`` file of named arrays plus a JSON metadata dict.

* :func:`save` writes **atomically** (:func:`atomic_write`): it writes a
  temporary file in the target's directory, flushes and ``fsync``\\ s it, then
  ``os.replace``\\ s it over the target. A crash or error mid-save leaves any
  previous checkpoint intact.
* :func:`load` returns ``(state, metadata)`` with numpy arrays; pass ``state``
  to ``Module.load_state_dict``, which moves the arrays to the module's backend
  and dtype.

The metadata (any JSON-serialisable dict: config, step, ...) is stored as UTF-8
JSON bytes under the reserved key ``'__metadata__'``; no pickling is used for
writing or reading.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

from wavelearn.backend import to_numpy
from wavelearn.nn.module import Module

METADATA_KEY = "__metadata__"


def _to_numpy_state(module_or_state: Module | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{name: numpy array}`` from a module (its state dict) or a mapping of arrays."""
    state = (module_or_state.state_dict() if isinstance(module_or_state, Module)
             else module_or_state)
    out = {}
    for key, value in state.items():
        if not isinstance(key, str) or key.startswith("__"):
            raise ValueError(f"save: invalid state key {key!r} (str keys not starting with '__')")
        out[key] = np.asarray(to_numpy(value))
    return out


def _encode_metadata(metadata: dict | None) -> np.ndarray:
    """The metadata dict as a uint8 array of UTF-8 JSON (TypeError if not JSON-able)."""
    text = json.dumps({} if metadata is None else metadata, sort_keys=True)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def save(
    module_or_state: Module | Mapping[str, Any],
    path: str | os.PathLike,
    metadata: dict | None = None,
) -> None:
    """Write a module's parameters (or a ``{name: array}`` dict) and ``metadata``
    to the ``.npz`` file ``path``, atomically.

    Arrays of any backend are copied to numpy first. ``path`` is used as given
    (no ``.npz`` suffix is added). On any error the temporary file is removed
    and an existing file at ``path`` is left untouched.
    """
    arrays = _to_numpy_state(module_or_state)
    arrays[METADATA_KEY] = _encode_metadata(metadata)
    atomic_write(path, lambda f: np.savez(f, **arrays), binary=True)


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> None:
    """Write a file through ``write(f)`` on a temporary file in its folder, then rename it.

    The temporary file is flushed and ``fsync``-ed, given the permissions any
    new file of this process gets (``0o666`` less the umask: ``mkstemp`` alone
    makes it private), and ``os.replace``-d over ``path``. On any error it is
    removed and an existing file at ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories can't be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save`: ``(state, metadata)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt or not an ``.npz`` checkpoint
            (the message names the path).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    try:
        with open(path, "rb") as f:  # our own handle: closed even when numpy fails
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise ValueError(f"cannot read checkpoint {path!r}: truncated, corrupt or not an "
                         f".npz file ({type(e).__name__}: {e})") from e
    raw = arrays.pop(METADATA_KEY, None)
    try:
        metadata = {} if raw is None else json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read checkpoint {path!r}: corrupt metadata ({e})") from e
    return arrays, metadata
