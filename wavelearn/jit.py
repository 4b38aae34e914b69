"""numba's ``njit``, imported when the first compiled loop is needed.

The compiled loops (:mod:`wavelearn.dwt.compiled`, :mod:`wavelearn.nn.compiled`) are
compiled on first use and cached on disk by numba; ``import wavelearn`` does not
import numba.
"""

from __future__ import annotations

from typing import Any


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
