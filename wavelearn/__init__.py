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

from wavelearn.dwt.transforms import *  # noqa: E402, F403 (dwt, wavedec, ... and adjoints)
from wavelearn.dwt.transforms import __all__ as _dwt_api  # noqa: E402
from wavelearn.dwt.wavelets import MODES, Wavelet  # noqa: E402
from wavelearn.memory import keep_freed_memory  # noqa: E402
from wavelearn.models import *  # noqa: E402, F403 (the three models and their configs)
from wavelearn.models import __all__ as _model_api  # noqa: E402

__all__ += ["MODES", "Wavelet", "keep_freed_memory", *_dwt_api, *_model_api]
