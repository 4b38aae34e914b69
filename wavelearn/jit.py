"""numba's ``njit``, imported when the first compiled loop is needed.

The compiled loops (:mod:`wavelearn.dwt.compiled`, :mod:`wavelearn.nn.compiled`) are
compiled on first use and cached on disk by numba; ``import wavelearn`` does not
import numba.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()


def compiled_once(store: dict[str, Any], build: Callable[[Any], dict[str, Any]],
                  module: str) -> dict[str, Any]:
    """``store``, filled once with ``build(njit)`` (``module``'s loops). Thread-safe: the
    first use may come from several of :mod:`wavelearn.threads`' threads at once."""
    if not store:
        with _LOCK:
            if not store:
                store.update(build(njit(module)))
    return store


def njit(module: str) -> Any:
    """``numba.njit``; for a missing numba (a dependency of wavelearn: a broken
    installation) an error that says how to mend it, or how to do without ``module``'s
    loops."""
    try:
        import numba
    except ImportError as e:
        raise ImportError(f"{module}'s compiled loops need numba, a dependency of wavelearn "
                          f"(`pip install numba`); or set {module}.USE_COMPILED = False") from e
    return numba.njit
