"""Backend switching: which array library creates new arrays.

wavelearn separates two questions:

* *Which library does an operation run on?*  The one its inputs come from.
  ``dwt(x)`` with a torch tensor runs on torch, with a cupy array on cupy.
  :func:`array_namespace` answers it, and refuses inputs from two libraries.
* *Which library creates new arrays?*  (filters, parameters, random draws.)
  The **active backend**: ``numpy`` by default, changed with
  :func:`set_backend`, or for a block of code with :func:`use_backend`.

The active backend lives in a :class:`contextvars.ContextVar`, so
``use_backend`` blocks nest and restore the outer choice, and every new thread
starts from the process-wide default (``set_backend`` outside any block, or the
``WAVELEARN_BACKEND`` environment variable at import time).

Backend modules live in ``wavelearn.backends`` (``numpy``, ``cupy``,
``torch``); each is imported only when selected, so ``import wavelearn``
never imports cupy or torch.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

BACKEND_NAMES = ("numpy", "cupy", "torch")


class BackendUnavailableError(ImportError):
    """A backend was asked for whose package or device is missing."""


class Backend:
    """An array library (plus a device) that wavelearn can create arrays on.

    Attributes:
        name: ``'numpy'``, ``'cupy'`` or ``'torch'``.
        device: device string (``'cpu'``, ``'cuda:0'``, ...).
        xp: the array-API namespace of the library (via ``array_api_compat``).
    """

    name: str = ""
    device: str = "cpu"
    xp: Any = None
    gelu: Any = None  # fused tanh-GELU (``forward(x)``, ``backward(dy, x)``), or None
    # fused LayerNorm over the last dim of 2-D rows: ``forward(x, w, b, eps) -> (y, saved)``,
    # ``backward(dy, saved, w, b) -> (dx, dw, db)``, or None: the layer's own formulas
    layernorm: Any = None
    # the two filter-bank primitives of wavelearn.dwt.filterbank in this library's own
    # kernels (``filter_down(x, filters, n_out)``, ``filter_up(bands, filters, length)``),
    # or None: the DWT then runs the textbook tap loop
    filter_bank: Any = None

    @property
    def spec(self) -> str:
        """The string that selects this backend, e.g. ``'torch:cuda:0'``."""
        return self.name if self.name == "numpy" else f"{self.name}:{self.device}"

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Copy or wrap ``x`` (any array-like, any library) on this backend."""
        raise NotImplementedError

    def owns(self, x: Any) -> bool:
        """True when ``x`` is an array of this backend's library."""
        raise NotImplementedError

    def as_strided(self, x: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        """A view of ``x`` with ``shape`` and ``strides`` counted in *elements*."""
        raise NotImplementedError

    def scatter_add_rows(self, target: Any, idx: Any, values: Any) -> Any:
        """``target[idx[m]] += values[m]`` for every ``m``, *accumulating* repeated indices
        (plain ``target[idx] += values`` keeps only one of the repeats). Modifies and
        returns ``target (V, D)``; ``idx (M,)`` int64, ``values (M, D)``."""
        raise NotImplementedError

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        """The product ``a @ b`` of two 2-D arrays ``(M, K) @ (K, N) -> (M, N)``, either of
        them possibly a transposed view: the products of :class:`~wavelearn.nn.Linear`;
        written into ``out`` where given (NumPy: memory from :mod:`wavelearn.buffers`).
        ``xp.matmul`` here; a backend may route it to a faster routine of its library."""
        return self.xp.matmul(a, b) if out is None else self.xp.matmul(a, b, out=out)

    def host_view(self, x: Any) -> Any:
        """A NumPy array over ``x``'s own memory (no copy), for the compiled loops of
        :mod:`wavelearn.nn.compiled` to read and write in place; None where there is
        none (a GPU array; a tensor that torch's autograd records)."""
        return None

    @property
    def kernels(self) -> Any:
        """This backend's own kernels for the layers (the CuPy RawKernels), or None:
        the layers then run their array-API code."""
        return None

    def __repr__(self) -> str:
        return f"<wavelearn backend {self.spec!r}>"


def _parse(spec: str) -> tuple[str, str | None]:
    """Split ``'torch:cuda:1'`` into ``('torch', 'cuda:1')``."""
    if not isinstance(spec, str):
        raise TypeError(f"backend name must be a str, got {type(spec).__name__}")
    name, _, device = spec.strip().partition(":")
    name = name.lower()
    if name not in BACKEND_NAMES:
        choices = ", ".join(repr(n) for n in BACKEND_NAMES)
        raise ValueError(
            f"unknown backend {spec!r}; choose one of {choices} "
            "(torch and cupy take a device too, e.g. 'torch:cuda' or 'cupy:1')"
        )
    if name == "numpy" and device not in ("", "cpu"):
        raise ValueError(f"backend 'numpy' runs on the CPU only, got device {device!r}")
    return name, device or None


_loaded: dict[tuple[str, str | None], Backend] = {}


def load_backend(spec: str) -> Backend:
    """Import and check the backend named by ``spec``; cached per (name, device).

    Raises:
        ValueError: unknown name.
        BackendUnavailableError: its package or device is missing (the message
            says which, and how to install it).
    """
    key = _parse(spec)
    if key not in _loaded:
        module = importlib.import_module(f"wavelearn.backends.{key[0]}")
        _loaded[key] = module.load(key[1])
    return _loaded[key]


def _default_spec() -> str:
    return os.environ.get("WAVELEARN_BACKEND", "numpy") or "numpy"


_global_default: Backend | None = None
_active: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "wavelearn_backend", default=None
)


def get_backend() -> Backend:
    """The active backend: the innermost ``use_backend`` block, else the default."""
    global _global_default
    backend = _active.get()
    if backend is not None:
        return backend
    if _global_default is None:
        _global_default = load_backend(_default_spec())
    return _global_default


def set_backend(spec: str) -> Backend:
    """Make ``spec`` the process-wide default backend (``'numpy'``, ``'cupy'``,
    ``'cupy:1'``, ``'torch'``, ``'torch:cuda'``, ...).

    Fails here, not later inside a kernel, when the package or device is
    missing. Inside a ``use_backend`` block it also replaces that block's choice
    until the block ends.
    """
    global _global_default
    backend = load_backend(spec)
    _global_default = backend
    if _active.get() is not None:
        _active.set(backend)
    return backend


@contextlib.contextmanager
def use_backend(spec: str) -> Iterator[Backend]:
    """``with use_backend('torch'):`` -- the backend for this block only."""
    token = _active.set(load_backend(spec))
    try:
        yield _active.get()
    finally:
        _active.reset(token)


# --------------------------------------------------------------------------
# Which backend owns an array (no imports of cupy/torch happen here)
# --------------------------------------------------------------------------

def library_of(x: Any) -> str | None:
    """'numpy', 'cupy', 'torch' or None, judged without importing anything."""
    import numpy as np

    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    module = type(x).__module__.split(".")[0]
    if module == "torch" and "torch" in sys.modules and sys.modules["torch"].is_tensor(x):
        return "torch"
    if module == "cupy" and "cupy" in sys.modules:
        return "cupy"
    return None


_of_device: dict[tuple[str, Any], Backend] = {}  # (library, device object) -> its backend


def backend_of(x: Any) -> Backend:
    """The backend of an array: its library, and the device it lives on.

    Called for most operations' inputs, so the backend of a (library, device)
    pair is remembered after the first look-up (no spec to build and parse)."""
    library = library_of(x)
    if library is None:
        raise TypeError(f"expected an array (numpy, cupy or torch), got {type(x).__name__}")
    if library == "numpy":
        return _loaded.get(("numpy", None)) or load_backend("numpy")
    device = x.device if library == "torch" else x.device.id  # (a torch.device, an int)
    key = (library, device)
    backend = _of_device.get(key)
    if backend is None:
        spec = f"{library}:{device}"
        backend = _of_device[key] = load_backend(spec)
    return backend


def check_same_backend(*arrays: Any) -> Backend:
    """The one backend of ``arrays`` (``None`` entries are skipped).

    Raises:
        TypeError: arrays from two libraries (or two devices) in one call, or no array.
    """
    if arrays and all(isinstance(a, np.ndarray) for a in arrays):  # the common case, fast
        return _loaded.get(("numpy", None)) or load_backend("numpy")
    backends = {b.spec: b for b in (backend_of(a) for a in arrays if a is not None)}
    if len(backends) > 1:
        raise TypeError(
            f"arrays from different backends in one call: {sorted(backends)}; "
            "move data explicitly with wavelearn.asarray(x, backend=...) or wavelearn.to_numpy(x)"
        )
    if not backends:
        raise TypeError("no array among the inputs")
    return next(iter(backends.values()))


def array_namespace(*arrays: Any) -> Any:
    """The array namespace shared by ``arrays`` (see :func:`check_same_backend`)."""
    return check_same_backend(*arrays).xp


def to_numpy(x: Any) -> Any:
    """Copy an array of any backend to a NumPy array on the host."""
    library = library_of(x)
    if library == "torch":
        # resolve_*: lazy views such as x.conj() or x.conj().imag refuse .numpy()
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()
    if library == "cupy":
        return x.get()
    import numpy as np

    return np.asarray(x)


def asarray(x: Any, dtype: Any = None, backend: str | Backend | None = None) -> Any:
    """``x`` as an array of ``backend`` (default: the active backend).

    ``dtype`` may be a NumPy dtype or a name such as ``'float32'``.
    """
    if backend is None:
        target = get_backend()
    elif isinstance(backend, Backend):
        target = backend
    else:
        target = load_backend(backend)
    return target.asarray(x, dtype=dtype)
