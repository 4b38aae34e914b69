"""The CuPy backend: arrays on an NVIDIA GPU (``'cupy'`` or ``'cupy:1'``)."""

from __future__ import annotations

from typing import Any

from wavelearn.backend import Backend, BackendUnavailableError

INSTALL_HINT = (
    "install it with `pip install 'wavelearn[cupy]'` (CUDA 12) or "
    "`pip install 'wavelearn[cupy13]'` (CUDA 13)"
)


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self, cupy: Any, index: int) -> None:
        import array_api_compat.cupy as xp_cupy

        self.cupy = cupy
        self.index = index
        self.device = str(index)
        self.xp = xp_cupy

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        import numpy as np

        if type(x).__module__.split(".")[0] == "torch":
            x = x.detach().cpu().numpy()
        with self.cupy.cuda.Device(self.index):
            return self.cupy.asarray(x, dtype=None if dtype is None else np.dtype(dtype))

    @property
    def kernels(self) -> Any:
        """The CUDA kernels of this backend: the module
        :mod:`wavelearn.backends.cupy_kernels` (fused wavelet mixing, DWT/IDWT,
        the causal filter bank), imported on first use."""
        from wavelearn.backends import cupy_kernels

        return cupy_kernels

    def owns(self, x: Any) -> bool:
        return isinstance(x, self.cupy.ndarray) and x.device.id == self.index

    def as_strided(self, x: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        item = x.itemsize
        return self.cupy.lib.stride_tricks.as_strided(
            x, shape=shape, strides=tuple(s * item for s in strides)
        )

    def scatter_add_rows(self, target: Any, idx: Any, values: Any) -> Any:
        import cupyx

        cupyx.scatter_add(target, idx, values)
        return target


def load(device: str | None) -> CupyBackend:
    try:
        import cupy
    except ImportError as e:
        raise BackendUnavailableError(
            f"backend 'cupy' needs CuPy, which is not installed; {INSTALL_HINT}"
        ) from e
    index = 0
    if device:
        text = device.removeprefix("cuda:")
        if not text.isdigit():
            raise ValueError(f"backend 'cupy': device must be a GPU index like 'cupy:0', "
                             f"got {device!r}")
        index = int(text)
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError without driver/GPU
        raise BackendUnavailableError(
            f"backend 'cupy' is installed but no CUDA GPU/driver is usable ({e})"
        ) from e
    if index >= count:
        raise BackendUnavailableError(f"backend 'cupy:{index}': only {count} GPU(s) present")
    return CupyBackend(cupy, index)
