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

    def as_strided(self, x: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        item = x.itemsize
        return np.lib.stride_tricks.as_strided(
            x, shape=shape, strides=tuple(s * item for s in strides), writeable=False
        )

    def scatter_add_rows(self, target: np.ndarray, idx: np.ndarray, values: np.ndarray) -> Any:
        np.add.at(target, idx, values)  # unbuffered: repeated indices accumulate
        return target


def load(device: str | None) -> NumpyBackend:
    return NumpyBackend()
