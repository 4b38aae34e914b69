"""The NumPy backend: the default, and the reference for the others."""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np

from wavelearn.backend import Backend


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    xp = xp_numpy

    def asarray(self, x: Any, dtype: Any = None) -> np.ndarray:
        from wavelearn.backend import to_numpy

        if not isinstance(x, (np.ndarray, np.generic, list, tuple, int, float, complex)):
            x = to_numpy(x)
        return np.asarray(x, dtype=None if dtype is None else np.dtype(dtype))

    def owns(self, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def host_view(self, x: Any) -> np.ndarray:
        return x

    def as_strided(self, x: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        item = x.itemsize
        return np.lib.stride_tricks.as_strided(
            x, shape=shape, strides=tuple(s * item for s in strides), writeable=False
        )

    def scatter_add_rows(self, target: np.ndarray, idx: np.ndarray, values: np.ndarray) -> Any:
        """``np.add.at`` (unbuffered: repeated indices accumulate) on the flat element
        indices ``idx[m] D + j``: NumPy's fast 1-D path, 4-6x faster than ``add.at`` on
        rows (measured), the same additions in the same order (the same bits, tested).
        A few thousand rows at a time, so the flat indices take little memory."""
        if target.ndim != 2 or values.ndim != 2 or not target.flags.c_contiguous:
            np.add.at(target, idx, values)
            return target
        d = target.shape[1]
        flat, cols = target.reshape(-1), np.arange(d)  # (V D,) view, (D,)
        step = max(1, SCATTER_CHUNK // max(d, 1))
        for a in range(0, idx.shape[0], step):
            where = (idx[a : a + step, None] * d + cols).reshape(-1)  # (rows D,)
            np.add.at(flat, where, values[a : a + step].reshape(-1))
        return target


SCATTER_CHUNK = 1 << 16  # elements of values per np.add.at call of scatter_add_rows


def load(device: str | None) -> NumpyBackend:
    return NumpyBackend()
