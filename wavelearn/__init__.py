"""wavelearn: a NumPy-first, teachable library for wavelet transformers."""

from wavelearn.backend import (
    BackendUnavailableError,
    array_namespace,
    asarray,
    get_backend,
    set_backend,
    to_numpy,
    use_backend,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "array_namespace",
    "asarray",
    "get_backend",
    "set_backend",
    "to_numpy",
    "use_backend",
]
